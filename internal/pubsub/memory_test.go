package pubsub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestMemoryPublishSubscribe(t *testing.T) {
	t.Parallel()
	type pub struct{ topic, payload string }
	tests := []struct {
		name string
		subs [][]string // topics of each subscriber
		pubs []pub
		want [][]string // "topic:payload" received by each subscriber
	}{
		{
			name: "one topic",
			subs: [][]string{{"a"}},
			pubs: []pub{{"a", "1"}, {"a", "2"}, {"a", "3"}},
			want: [][]string{{"a:1", "a:2", "a:3"}},
		},
		{
			name: "topic filtering",
			subs: [][]string{{"a"}, {"b"}, {"c"}},
			pubs: []pub{{"a", "1"}, {"b", "2"}, {"a", "3"}},
			want: [][]string{{"a:1", "a:3"}, {"b:2"}, nil},
		},
		{
			name: "several subscribers of a topic",
			subs: [][]string{{"a"}, {"a"}, {"a"}},
			pubs: []pub{{"a", "1"}, {"a", "2"}},
			want: [][]string{{"a:1", "a:2"}, {"a:1", "a:2"}, {"a:1", "a:2"}},
		},
		{
			name: "several topics, one subscriber, in publish order",
			subs: [][]string{{"a", "b"}, {"b"}},
			pubs: []pub{{"b", "1"}, {"a", "2"}, {"c", "3"}, {"b", "4"}},
			want: [][]string{{"b:1", "a:2", "b:4"}, {"b:1", "b:4"}},
		},
		{
			name: "duplicate topics deliver once",
			subs: [][]string{{"a", "a"}},
			pubs: []pub{{"a", "1"}},
			want: [][]string{{"a:1"}},
		},
		{
			name: "no topics",
			subs: [][]string{nil},
			pubs: []pub{{"a", "1"}},
			want: [][]string{nil},
		},
		{
			name: "empty payload",
			subs: [][]string{{"a"}},
			pubs: []pub{{"a", ""}},
			want: [][]string{{"a:"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := NewMemory()
			defer b.Close()
			chans := make([]<-chan Message, len(tc.subs))
			for i, topics := range tc.subs {
				chans[i], _ = b.Subscribe(topics...)
			}
			for _, p := range tc.pubs {
				if err := b.Publish(t.Context(), p.topic, []byte(p.payload)); err != nil {
					t.Fatal(err)
				}
			}
			b.Close()
			for i, ch := range chans {
				var got []string
				for m := range ch {
					got = append(got, m.Topic+":"+string(m.Payload))
				}
				if !slices.Equal(got, tc.want[i]) {
					t.Errorf("subscriber %d: got %q, want %q", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestMemoryPayloadIsCopied(t *testing.T) {
	t.Parallel()
	b := NewMemory()
	defer b.Close()
	msgs, _ := b.Subscribe("a")
	p := []byte("before")
	if err := b.Publish(t.Context(), "a", p); err != nil {
		t.Fatal(err)
	}
	copy(p, "AFTER!")
	if m := recv(t, msgs); string(m.Payload) != "before" {
		t.Fatalf("got %q, want %q", m.Payload, "before")
	}
}

func TestMemoryPublishContext(t *testing.T) {
	t.Parallel()
	b := NewMemory()
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Publish(ctx, "a", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestMemoryUnsubscribe(t *testing.T) {
	t.Parallel()
	b := NewMemory()
	defer b.Close()
	gone, cancelGone := b.Subscribe("a")
	stay, cancelStay := b.Subscribe("a")
	defer cancelStay()

	if err := b.Publish(t.Context(), "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	cancelGone()
	cancelGone() // a second call does nothing
	if err := b.Publish(t.Context(), "a", []byte("2")); err != nil {
		t.Fatal(err)
	}
	// A message buffered before cancel may still be read; then the channel
	// is closed, and the one published after cancel never arrives.
	var got []string
	for m := range gone {
		got = append(got, string(m.Payload))
	}
	if !slices.Equal(got, []string{"1"}) {
		t.Fatalf("cancelled subscriber got %q, want [1]", got)
	}
	for _, want := range []string{"1", "2"} {
		if m := recv(t, stay); string(m.Payload) != want {
			t.Fatalf("other subscriber got %s, want %q", show(m), want)
		}
	}
}

func TestMemoryConcurrentCancel(t *testing.T) {
	t.Parallel()
	b := NewMemory()
	defer b.Close()
	msgs, cancel := b.Subscribe("a")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(cancel)
		wg.Go(func() { _ = b.Publish(context.Background(), "a", []byte("x")) })
	}
	wg.Wait()
	expectClosed(t, msgs)
}

// A subscriber that does not read must not block the publisher nor the
// other subscribers, and then gets exactly one Resync in place of what it
// missed, followed by the latest messages.
func TestMemoryStalledSubscriber(t *testing.T) {
	t.Parallel()
	const n = SubscriberBuffer
	tests := []struct {
		name      string
		published int
		want      []string // "R" for Resync, else payloads, as ranges below
	}{
		{name: "fits the buffer", published: n, want: seq(1, n)},
		{name: "one over", published: n + 1, want: []string{"R"}},
		{name: "two over", published: n + 2, want: append([]string{"R"}, seq(n+2, n+2)...)},
		// Overflow at n+1 and at 2n+1: each drops the backlog.
		{name: "far behind", published: 3000, want: append([]string{"R"}, seq(2*n+2, 3000)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := NewMemory()
			defer b.Close()
			stalled, cancelStalled := b.Subscribe("a")
			defer cancelStalled()
			active, cancelActive := b.Subscribe("a")
			defer cancelActive()

			// The active subscriber keeps up: publish in rounds smaller than
			// its buffer and let it catch up after each.
			var activeGot []string
			const round = 100
			start := time.Now()
			for i := 1; i <= tc.published; i++ {
				if err := b.Publish(t.Context(), "a", []byte(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
				if i%round == 0 || i == tc.published {
					for len(activeGot) < i {
						activeGot = append(activeGot, show1(recv(t, active)))
					}
				}
			}
			if d := time.Since(start); d > wait {
				t.Fatalf("publishing took %v", d)
			}
			if want := seq(1, tc.published); !slices.Equal(activeGot, want) {
				t.Fatalf("active subscriber got %d messages, want %d in order", len(activeGot), len(want))
			}

			got := drain(stalled)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("stalled subscriber got %d messages %.60q…, want %d %.60q…", len(got), got, len(tc.want), tc.want)
			}
			// Caught up: messages flow again, without another Resync.
			if err := b.Publish(t.Context(), "a", []byte("next")); err != nil {
				t.Fatal(err)
			}
			if m := recv(t, stalled); show1(m) != "next" {
				t.Fatalf("after catching up got %s, want next", show(m))
			}
		})
	}
}

// show1 renders a message of the stalled-subscriber test.
func show1(m Message) string {
	if m.Resync {
		return "R"
	}
	return string(m.Payload)
}

// drain returns what is buffered on ch without waiting.
func drain(ch <-chan Message) []string {
	var got []string
	for {
		select {
		case m := <-ch:
			got = append(got, show1(m))
		default:
			return got
		}
	}
}

func seq(from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, strconv.Itoa(i))
	}
	return s
}

// A Resync notice (as after a lost PostgreSQL connection) reaches every
// subscriber once, after what it had buffered.
func TestFanoutResync(t *testing.T) {
	t.Parallel()
	f := newFanout(4)
	a, _ := f.subscribe([]string{"a", "b"})
	none, _ := f.subscribe(nil)
	full, _ := f.subscribe([]string{"a"})
	for i := range 4 {
		f.publish(Message{Topic: "a", Payload: []byte(strconv.Itoa(i))})
	}
	// full's buffer is full: the Resync replaces its backlog.
	f.resync()
	f.close()
	for _, tc := range []struct {
		name string
		ch   <-chan Message
		want []string
	}{
		{"a", a, []string{"R"}}, // buffer of 4 full too
		{"none", none, []string{"R"}},
		{"full", full, []string{"R"}},
	} {
		var got []string
		for m := range tc.ch {
			got = append(got, show1(m))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}

	f = newFanout(8)
	partial, _ := f.subscribe([]string{"a"})
	f.publish(Message{Topic: "a", Payload: []byte("1")})
	f.resync()
	f.publish(Message{Topic: "a", Payload: []byte("2")})
	f.close()
	var got []string
	for m := range partial {
		got = append(got, show1(m))
	}
	if want := []string{"1", "R", "2"}; !slices.Equal(got, want) {
		t.Errorf("partial: got %q, want %q", got, want)
	}
}

func TestMemoryClose(t *testing.T) {
	t.Parallel()
	b := NewMemory()
	a, cancelA := b.Subscribe("a")
	c, _ := b.Subscribe("a", "c")
	if err := b.Publish(t.Context(), "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	expectClosed(t, a)
	expectClosed(t, c)
	cancelA() // after Close: does nothing
	if err := b.Publish(t.Context(), "a", []byte("2")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: got %v, want ErrClosed", err)
	}
	late, cancelLate := b.Subscribe("a")
	expectClosed(t, late)
	cancelLate()
}

func TestMemoryLimits(t *testing.T) {
	t.Parallel()
	b := NewMemory()
	defer b.Close()
	testLimits(t, b)
}

// Subscribing, cancelling, publishing and closing at once: run with -race.
func TestMemoryConcurrency(t *testing.T) {
	t.Parallel()
	b := NewMemory()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			topic := fmt.Sprint("t", g%2)
			for i := range 200 {
				msgs, cancel := b.Subscribe(topic, "all")
				_ = b.Publish(context.Background(), topic, []byte(strconv.Itoa(i)))
				_ = b.Publish(context.Background(), "all", nil)
				select {
				case <-msgs:
				default:
				}
				if i%2 == 0 {
					cancel()
				}
			}
		})
	}
	time.Sleep(time.Millisecond)
	b.Close()
	wg.Wait()
}

func TestEncodeDecode(t *testing.T) {
	t.Parallel()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name    string
		payload []byte
		text    bool
	}{
		{"empty", nil, true},
		{"ascii", []byte("hello"), true},
		{"json", []byte(`{"id":42,"kind":"task"}`), true},
		{"utf-8", []byte("héllo ☃ 日本 🎉"), true},
		{"newlines", []byte("a\nb\n\n"), true},
		{"backslashes and quotes", []byte(`\' \\x00 ''`), true},
		{"NUL", []byte("a\x00b"), false},
		{"invalid utf-8", []byte{0xc3, 0x28}, false},
		{"all bytes", all, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text, err := check("topic/1", tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if text != tc.text {
				t.Fatalf("text = %v, want %v", text, tc.text)
			}
			s := encode("topic/1", tc.payload, text)
			if len(s) != 2+len("topic/1")+map[bool]int{true: len(tc.payload), false: b64.EncodedLen(len(tc.payload))}[text] {
				t.Errorf("encoded length %d", len(s))
			}
			topic, payload, err := decode(s)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := (Message{Topic: topic, Payload: payload}), (Message{Topic: "topic/1", Payload: tc.payload}); !sameMessage(got, want) {
				t.Fatalf("got %s, want %s", show(got), show(want))
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "t", "tnotopic", "t\npayload", "xtopic\npayload", "btopic\n!!!"} {
		if _, _, err := decode(s); err == nil {
			t.Errorf("decode(%q): no error", s)
		}
	}
}

func TestOpenMemory(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"sqlite://data/roster.db", "file:roster.db", "roster.db"} {
		b, err := Open(t.Context(), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b.(*Memory); !ok {
			t.Errorf("Open(%q) = %T, want *Memory", u, b)
		}
		b.Close()
	}
}
