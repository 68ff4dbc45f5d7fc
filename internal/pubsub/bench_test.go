package pubsub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchPublish publishes b.N messages of a 64-byte payload to subscribers
// that read as fast as they can, and stops the clock once every subscriber
// has caught up. It reports the deliveries per second and how many
// Resyncs subscribers got because they fell more than their buffer behind.
// With publishers > 1, that many goroutines publish concurrently.
func benchPublish(b *testing.B, br Broker, subscribers, publishers int) {
	ctx := context.Background()
	var delivered, resyncs atomic.Int64
	var wg sync.WaitGroup
	for range subscribers {
		msgs, cancel := br.Subscribe("bench", "end")
		defer cancel()
		wg.Go(func() {
			for m := range msgs {
				switch {
				case m.Resync:
					resyncs.Add(1)
				case m.Topic == "end":
					return
				default:
					delivered.Add(1)
				}
			}
		})
	}
	payload := []byte(`{"id":1234567,"kind":"task","op":"update","tenant":42,"v":17}   `)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	if publishers > 1 {
		b.SetParallelism(publishers) // × GOMAXPROCS goroutines
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := br.Publish(ctx, "bench", payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for range b.N {
			if err := br.Publish(ctx, "bench", payload); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Wait for the subscribers; resend the end marker in case a Resync
	// replaced it.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for ended := false; !ended; {
		if err := br.Publish(ctx, "end", nil); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
			ended = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(delivered.Load())/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(resyncs.Load()), "resyncs")
}

func BenchmarkMemoryPublish(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprint("subscribers=", n), func(b *testing.B) {
			m := NewMemory()
			defer m.Close()
			benchPublish(b, m, n, 1)
		})
	}
}

// BenchmarkPostgresPublish measures one instance publishing to subscribers
// on another instance of the same database (each Publish is a round trip).
func BenchmarkPostgresPublish(b *testing.B) {
	dsn := pgURL(b)
	pub, _ := newPostgres(b, dsn)
	sub, _ := newPostgres(b, dsn)
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprint("subscribers=", n), func(b *testing.B) {
			benchPublish(b, &split{pub: pub, sub: sub}, n, 1)
		})
	}
	// Concurrent publishers share the broker's pool of 4 connections.
	b.Run("subscribers=1/publishers=4", func(b *testing.B) {
		benchPublish(b, &split{pub: pub, sub: sub}, 1, 4)
	})
}

// split publishes on one broker and subscribes on another.
type split struct{ pub, sub Broker }

func (s *split) Publish(ctx context.Context, topic string, payload []byte) error {
	return s.pub.Publish(ctx, topic, payload)
}
func (s *split) Subscribe(topics ...string) (<-chan Message, func()) {
	return s.sub.Subscribe(topics...)
}
func (s *split) Close() error { return nil }
