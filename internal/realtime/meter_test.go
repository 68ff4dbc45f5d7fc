package realtime_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/pubsub"
	"roster/internal/realtime"
	"roster/internal/viewer"
)

// meter counts what the hub tells it.
type meter struct {
	delivered, dropped atomic.Int64
	mu                 sync.Mutex
	published          map[string]int
}

func (m *meter) EventDelivered() { m.delivered.Add(1) }
func (m *meter) EventDropped()   { m.dropped.Add(1) }
func (m *meter) Published(topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.published[topic]++
}

// TestMeter: every event published is counted; one queued for a
// subscription counts as delivered; one a subscriber is too far behind to
// queue counts as dropped.
func TestMeter(t *testing.T) {
	t.Parallel()
	fx := fixture.New(t, fixture.SQLiteURL(t))
	b := &broker{Memory: pubsub.NewMemory()}
	t.Cleanup(func() { b.Close() })
	m := &meter{published: map[string]int{}}
	realtime.Publish(fx.Client, b, quiet, m.Published)
	hub := realtime.NewHub(fx.Client, nil, quiet)
	hub.Measure(m)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hub.Start(ctx, b)

	acme := fx.Orgs[0]
	admin := viewer.NewContext(context.Background(), acme.Admin.Viewer)
	set := func(a user.Availability) {
		fx.Client.User.UpdateOneID(acme.Agent.ID).SetAvailability(a).ExecX(admin)
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: delivered %d, dropped %d, published %v", what, m.delivered.Load(), m.dropped.Load(), m.published)
			}
		}
	}

	// No subscriber: published, neither delivered nor dropped.
	set(user.AvailabilityBusy)
	eventually("published without subscribers", func() bool { m.mu.Lock(); defer m.mu.Unlock(); return m.published["users"] == 1 })
	time.Sleep(50 * time.Millisecond)
	if m.delivered.Load() != 0 || m.dropped.Load() != 0 {
		t.Fatalf("without subscribers: delivered %d, dropped %d", m.delivered.Load(), m.dropped.Load())
	}

	// A subscriber that reads: delivered.
	sctx, stop := context.WithCancel(admin)
	ch, err := hub.UserStatus(sctx, realtime.Filter{}, false)
	if err != nil {
		t.Fatal(err)
	}
	set(user.AvailabilityAway)
	next(t, ch)
	eventually("delivered", func() bool { return m.delivered.Load() == 1 })

	// A subscriber that stops reading falls behind: once its queue is
	// full, events are dropped (it re-reads the state later).
	const changes = 400
	for i := range changes {
		set([]user.Availability{user.AvailabilityBusy, user.AvailabilityAway}[i%2])
	}
	eventually("dropped", func() bool { return m.dropped.Load() > 0 })
	eventually("every event delivered or dropped", func() bool { return m.delivered.Load()+m.dropped.Load() == changes+1 })
	stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.published["users"] != changes+2 {
		t.Errorf("published %d user events, want %d", m.published["users"], changes+2)
	}
}
