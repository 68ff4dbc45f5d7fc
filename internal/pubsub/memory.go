package pubsub

import (
	"bytes"
	"context"
)

// Memory is an in-process [Broker]: it reaches the subscribers of this
// process only. It suits a single instance, such as the embedded SQLite
// set-up. It never loses messages except to a subscriber that overflows
// its buffer, which then receives a Resync.
type Memory struct {
	fan *fanout
}

var _ Broker = (*Memory)(nil)

// NewMemory returns an in-process broker.
func NewMemory() *Memory {
	return &Memory{fan: newFanout(SubscriberBuffer)}
}

// Publish delivers payload to the subscribers of topic before returning
// (without waiting for them to receive it). It enforces the same limits as
// [Postgres.Publish]. The payload is copied.
func (m *Memory) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := check(topic, payload); err != nil {
		return err
	}
	if !m.fan.publish(Message{Topic: topic, Payload: bytes.Clone(payload)}) {
		return ErrClosed
	}
	return nil
}

// Subscribe implements [Broker.Subscribe].
func (m *Memory) Subscribe(topics ...string) (<-chan Message, func()) {
	return m.fan.subscribe(topics)
}

// Close closes every subscriber's channel. It always returns nil.
func (m *Memory) Close() error {
	m.fan.close()
	return nil
}
