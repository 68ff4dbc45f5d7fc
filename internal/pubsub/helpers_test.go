package pubsub

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// wait bounds every wait for a message that should arrive.
const wait = 10 * time.Second

// recv returns the next message on ch, failing the test after wait.
func recv(tb testing.TB, ch <-chan Message) Message {
	tb.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			tb.Fatalf("channel closed, want a message")
		}
		return m
	case <-time.After(wait):
		tb.Fatalf("no message after %v", wait)
	}
	return Message{}
}

// expectNone fails if a message arrives on ch within d.
func expectNone(tb testing.TB, ch <-chan Message, d time.Duration) {
	tb.Helper()
	select {
	case m, ok := <-ch:
		if ok {
			tb.Fatalf("unexpected message %s", show(m))
		}
		tb.Fatalf("channel closed, want it open and empty")
	case <-time.After(d):
	}
}

// expectClosed drains ch and fails unless it is closed within wait.
func expectClosed(tb testing.TB, ch <-chan Message) {
	tb.Helper()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			tb.Fatalf("channel not closed after %v", wait)
		}
	}
}

func show(m Message) string {
	if m.Resync {
		return "Resync"
	}
	return fmt.Sprintf("%s:%q", m.Topic, m.Payload)
}

func sameMessage(a, b Message) bool {
	return a.Topic == b.Topic && a.Resync == b.Resync && bytes.Equal(a.Payload, b.Payload)
}

// logBuffer collects a logger's output.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// limitCase is a message at or beyond the limits; both brokers must agree.
type limitCase struct {
	name    string
	topic   string
	payload []byte
	err     error // nil: accepted
}

// text returns n bytes of valid UTF-8 text.
func text(n int) []byte { return bytes.Repeat([]byte("x"), n) }

// binary returns n bytes that are not valid UTF-8.
func binary(n int) []byte { return bytes.Repeat([]byte{0xff}, n) }

var limitCases = func() []limitCase {
	const topic = "topic" // 5 bytes
	// The largest binary payload: its base64 length plus the topic fits.
	maxBin := (MaxSize - len(topic)) * 3 / 4
	for b64.EncodedLen(maxBin+1)+len(topic) <= MaxSize {
		maxBin++
	}
	return []limitCase{
		{name: "text at limit", topic: topic, payload: text(MaxSize - len(topic))},
		{name: "text over limit", topic: topic, payload: text(MaxSize - len(topic) + 1), err: ErrTooLarge},
		{name: "multi-byte text at limit", topic: topic, payload: []byte(strings.Repeat("€", (MaxSize-len(topic))/3))},
		{name: "binary at limit", topic: topic, payload: binary(maxBin)},
		{name: "binary over limit", topic: topic, payload: binary(maxBin + 1), err: ErrTooLarge},
		{name: "NUL counts as binary", topic: topic, payload: append(text(MaxSize-len(topic)-1), 0), err: ErrTooLarge},
		{name: "huge", topic: topic, payload: text(1 << 20), err: ErrTooLarge},
		{name: "long topic counts", topic: strings.Repeat("t", MaxTopicLen), payload: text(MaxSize - MaxTopicLen + 1), err: ErrTooLarge},
		{name: "empty topic", topic: "", payload: text(1), err: ErrInvalidTopic},
		{name: "topic too long", topic: strings.Repeat("t", MaxTopicLen+1), err: ErrInvalidTopic},
		{name: "topic with newline", topic: "a\nb", err: ErrInvalidTopic},
		{name: "topic with NUL", topic: "a\x00b", err: ErrInvalidTopic},
		{name: "topic not UTF-8", topic: "a\xffb", err: ErrInvalidTopic},
		{name: "topic with C1 control", topic: "a\u0085b", err: ErrInvalidTopic},
		{name: "unicode topic", topic: "tâche/42 ✓", payload: text(10)},
	}
}()

// testLimits publishes every limit case on b and, for accepted ones, checks
// that the message arrives intact.
func testLimits(t *testing.T, b Broker) {
	for _, tc := range limitCases {
		t.Run(tc.name, func(t *testing.T) {
			var msgs <-chan Message
			if tc.err == nil {
				var cancel func()
				msgs, cancel = b.Subscribe(tc.topic)
				defer cancel()
			}
			err := b.Publish(t.Context(), tc.topic, tc.payload)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Publish: got error %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				if len(err.Error()) > 500 {
					t.Errorf("error message is %d bytes long", len(err.Error()))
				}
				return
			}
			m := recv(t, msgs)
			if want := (Message{Topic: tc.topic, Payload: tc.payload}); !sameMessage(m, want) {
				t.Fatalf("got %.80s, want %.80s", show(m), show(want))
			}
		})
	}
}
