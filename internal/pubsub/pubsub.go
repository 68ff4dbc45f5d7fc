// Package pubsub carries small events between the instances of the server
// and within one instance.
//
// Two brokers implement [Broker]: [Memory], an in-process broker for a
// single instance (the embedded SQLite set-up), and [Postgres], which uses
// PostgreSQL LISTEN/NOTIFY so that several instances sharing one database
// see each other's events. [Open] picks one from the database URL.
//
// Events are notices ("task 42 changed"), not data: a payload carries ids and
// small facts, and a receiver re-reads what it needs. Delivery is at most
// once, but never silently lossy: when a broker may have lost messages for a
// subscriber (its buffer overflowed, or the PostgreSQL connection was lost),
// the subscriber receives a [Message] with Resync set and must re-read the
// whole state it follows. The safe order for a receiver is therefore:
// subscribe, then read the current state, then apply events, re-reading the
// state on every Resync.
//
// Publish after the transaction that made the change has committed, so that
// a receiver re-reading on the event sees the change.
package pubsub

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// Message is one event, or a notice that events may have been lost.
type Message struct {
	// Topic is the topic the event was published on; empty for a Resync.
	Topic string
	// Payload is the event's payload. It is shared by all the subscribers
	// of the topic in this process: do not modify it.
	Payload []byte
	// Resync is true when the broker may have lost messages for this
	// subscriber (its buffer overflowed, or the PostgreSQL listener
	// reconnected): the receiver must re-read the state it follows.
	Resync bool
}

// Broker delivers messages published on a topic to the subscribers of that
// topic. Its methods are safe for concurrent use.
type Broker interface {
	// Publish sends payload to every subscriber of topic on every instance.
	// The topic must be valid (see [ErrInvalidTopic]) and the message small
	// (see [MaxSize]); binary payloads are allowed. Publish does not wait
	// for subscribers: messages published by one goroutine reach each
	// subscriber in publish order.
	Publish(ctx context.Context, topic string, payload []byte) error

	// Subscribe returns a channel receiving the messages of the given
	// topics until cancel is called or the broker is closed, which both
	// close the channel. Subscribing with no topics receives only Resync
	// notices.
	//
	// It never blocks the publisher: each subscriber has a buffer of
	// [SubscriberBuffer] messages. When a message arrives and the buffer
	// is full, the buffered messages and the new one are dropped and
	// replaced by one Message{Resync: true}, which is what the subscriber
	// receives next; later messages follow it. So nothing is lost
	// silently, and a subscriber that falls far behind gets one Resync
	// rather than a stale backlog.
	//
	// cancel may be called from any goroutine, more than once; messages
	// already buffered may still be received before the channel closes.
	Subscribe(topics ...string) (msgs <-chan Message, cancel func())

	// Close stops the broker, closes every subscriber's channel and
	// returns once the broker's goroutines have ended. Publish then
	// returns [ErrClosed]; Subscribe returns a closed channel.
	Close() error
}

// MaxSize bounds the size of a message: len(topic) plus the payload's
// encoded length must not exceed it. A payload that is valid UTF-8 without
// NUL bytes counts its length; any other payload is base64-encoded for
// PostgreSQL NOTIFY (whose payloads are text, shorter than 8000 bytes) and
// counts 4/3 of its length. So with a short topic, a text payload may be
// about 7,800 bytes and a binary one about 5,800 bytes. Both brokers
// enforce the same limit, so code that works on one works on the other.
const MaxSize = 7900

// MaxTopicLen is the largest length of a topic, in bytes.
const MaxTopicLen = 200

// SubscriberBuffer is the number of messages a subscriber may fall behind
// before it receives a Resync instead of them.
const SubscriberBuffer = 1024

var (
	// ErrClosed is returned by Publish after Close.
	ErrClosed = errors.New("pubsub: broker closed")
	// ErrTooLarge is returned by Publish for a message over [MaxSize].
	ErrTooLarge = errors.New("pubsub: message too large")
	// ErrInvalidTopic is returned by Publish for a topic that is empty,
	// longer than [MaxTopicLen] bytes, not valid UTF-8, or holds control
	// characters.
	ErrInvalidTopic = errors.New("pubsub: invalid topic")
)

// Open returns the broker that fits the database at databaseURL: [Postgres]
// for a postgres:// or postgresql:// URL, so that all instances sharing the
// database exchange events, and [Memory] for anything else (SQLite allows
// one instance).
func Open(ctx context.Context, databaseURL string, log *slog.Logger) (Broker, error) {
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		p, err := NewPostgres(ctx, databaseURL, log)
		if err != nil {
			return nil, err // not a nil *Postgres in a non-nil Broker
		}
		return p, nil
	}
	return NewMemory(), nil
}

// Envelope of a message in a NOTIFY payload: a kind byte, the topic, a
// newline, and the payload, verbatim ('t') or in unpadded standard base64
// ('b'). Topics hold no control characters, so the first newline ends the
// topic.
const (
	kindText   = 't'
	kindBinary = 'b'
)

var b64 = base64.RawStdEncoding

// isText reports whether payload can travel verbatim in a NOTIFY payload.
func isText(payload []byte) bool {
	for _, c := range payload {
		if c == 0 {
			return false
		}
	}
	return utf8.Valid(payload)
}

// check validates a message and reports whether its payload is text.
func check(topic string, payload []byte) (text bool, err error) {
	if err := checkTopic(topic); err != nil {
		return false, err
	}
	text = isText(payload)
	n := len(payload)
	if !text {
		n = b64.EncodedLen(n)
	}
	if size := len(topic) + n; size > MaxSize {
		kind := "text"
		if !text {
			kind = "binary (base64-encoded)"
		}
		return false, fmt.Errorf("%w: topic %q with a %d-byte %s payload is %d bytes, limit %d",
			ErrTooLarge, topic, len(payload), kind, size, MaxSize)
	}
	return text, nil
}

func checkTopic(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("%w: empty", ErrInvalidTopic)
	case len(topic) > MaxTopicLen:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidTopic, len(topic), MaxTopicLen)
	case !utf8.ValidString(topic):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidTopic, topic)
	}
	for _, r := range topic {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: %q holds a control character", ErrInvalidTopic, topic)
		}
	}
	return nil
}

// encode returns the NOTIFY payload of a message checked by check.
func encode(topic string, payload []byte, text bool) string {
	var b strings.Builder
	if text {
		b.Grow(2 + len(topic) + len(payload))
		b.WriteByte(kindText)
		b.WriteString(topic)
		b.WriteByte('\n')
		b.Write(payload)
		return b.String()
	}
	b.Grow(2 + len(topic) + b64.EncodedLen(len(payload)))
	b.WriteByte(kindBinary)
	b.WriteString(topic)
	b.WriteByte('\n')
	enc := base64.NewEncoder(b64, &b)
	enc.Write(payload)
	enc.Close()
	return b.String()
}

// decode parses a NOTIFY payload made by encode.
func decode(s string) (topic string, payload []byte, err error) {
	if len(s) < 2 {
		return "", nil, errors.New("pubsub: notification too short")
	}
	kind := s[0]
	topic, rest, ok := strings.Cut(s[1:], "\n")
	if !ok || topic == "" {
		return "", nil, errors.New("pubsub: notification without topic")
	}
	switch kind {
	case kindText:
		return topic, []byte(rest), nil
	case kindBinary:
		payload, err := b64.DecodeString(rest)
		if err != nil {
			return "", nil, fmt.Errorf("pubsub: notification payload: %w", err)
		}
		return topic, payload, nil
	}
	return "", nil, fmt.Errorf("pubsub: notification of unknown kind %q", kind)
}
