package realtime_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/presence"
	"roster/internal/pubsub"
	"roster/internal/realtime"
	"roster/internal/viewer"
)

// summaryMeter counts the summaries a hub computes.
type summaryMeter struct{ computed atomic.Int64 }

func (m *summaryMeter) EventDelivered()  {}
func (m *summaryMeter) EventDropped()    {}
func (m *summaryMeter) SummaryComputed() { m.computed.Add(1) }

// summaryWorld is a hub measured by a summaryMeter, over two
// organizations' users.
type summaryWorld struct {
	fx    *fixture.World
	hub   *realtime.Hub
	meter *summaryMeter
}

func newSummaryWorld(t *testing.T, dbURL string) *summaryWorld {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fx := fixture.New(t, dbURL, "Acme", "Globex")
	b := &broker{Memory: pubsub.NewMemory()}
	t.Cleanup(func() { b.Close() })
	realtime.Publish(fx.Client, b, quiet, nil)
	m := &summaryMeter{}
	hub := realtime.NewHub(fx.Client, nil, quiet)
	hub.Measure(m)
	hub.Start(ctx, b)
	return &summaryWorld{fx: fx, hub: hub, meter: m}
}

func (w *summaryWorld) subscribe(t *testing.T, v *viewer.Viewer, division int) <-chan *presence.Summary {
	t.Helper()
	ctx, cancel := context.WithCancel(viewer.NewContext(context.Background(), v))
	t.Cleanup(cancel)
	ch, err := w.hub.PresenceSummary(ctx, division)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// truth is the summary v sees now.
func (w *summaryWorld) truth(t *testing.T, v *viewer.Viewer, division int) *presence.Summary {
	t.Helper()
	sum, err := presence.Summarize(viewer.NewContext(context.Background(), v), w.fx.Client, division)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// set changes u's online state and availability, publishing the change.
func (w *summaryWorld) set(t *testing.T, u *fixture.User, online bool, a user.Availability) {
	t.Helper()
	w.fx.Client.User.UpdateOneID(u.ID).SetOnline(online).SetAvailability(a).ExecX(fixture.System())
}

// until reads summaries from ch until one equals want, and returns how
// many it read.
func until(t *testing.T, ch <-chan *presence.Summary, want *presence.Summary) int {
	t.Helper()
	for n := 1; ; n++ {
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatal("the subscription ended")
			}
			if got.Equal(want) {
				return n
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no summary equal to %+v within 10 s", want)
		}
	}
}

// TestPresenceSummaryFeeds: subscribers get the current summary first and
// the latest after a change, each as their own visibility allows; those
// who see the same users share one computation per change, and another
// organization's changes never make one.
func TestPresenceSummaryFeeds(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := newSummaryWorld(t, dbURL)
		acme, globex := w.fx.Orgs[0], w.fx.Orgs[1]
		// Ten subscribers of each of three visibilities and divisions.
		type group struct {
			v        *viewer.Viewer
			division int
			subs     []<-chan *presence.Summary
		}
		groups := []*group{{v: acme.Admin.Viewer}, {v: acme.Scoped.Viewer}, {v: acme.Admin.Viewer, division: acme.Support}}
		for _, g := range groups {
			for range 10 {
				g.subs = append(g.subs, w.subscribe(t, g.v, g.division))
			}
		}
		foreign := w.subscribe(t, globex.Admin.Viewer, 0)
		for _, g := range groups {
			want := w.truth(t, g.v, g.division)
			for _, ch := range g.subs {
				if n := until(t, ch, want); n != 1 {
					t.Errorf("the first summary was not the current one (%d read)", n)
				}
			}
		}
		until(t, foreign, w.truth(t, globex.Admin.Viewer, 0))

		// One change: one computation for each group, not one per
		// subscriber, and none for the other organization.
		before := w.meter.computed.Load()
		w.set(t, acme.Agent, true, user.AvailabilityBusy)
		for _, g := range groups {
			want := w.truth(t, g.v, g.division)
			if want.Online != 1 {
				t.Fatalf("the truth counts %d online", want.Online)
			}
			for _, ch := range g.subs {
				until(t, ch, want)
			}
		}
		if n := w.meter.computed.Load() - before; n != int64(len(groups)) {
			t.Errorf("one change made %d computations for %d groups of 10 subscribers", n, len(groups))
		}
		select {
		case s := <-foreign:
			t.Errorf("Globex's admin was sent %+v after Acme's change", s)
		default:
		}

		// The division breakdown counts the agent, BUSY, in Support.
		sum := w.truth(t, acme.Admin.Viewer, 0)
		for _, d := range sum.ByDivision {
			if d.Division.ID != acme.Support {
				continue
			}
			for _, a := range d.ByAvailability {
				if want := map[bool]int{true: 1}[a.Availability == user.AvailabilityBusy]; a.Online != want {
					t.Errorf("Support counts %d online %s, want %d", a.Online, a.Availability, want)
				}
			}
		}

		// Globex's change reaches Globex's subscriber.
		w.set(t, globex.Agent, true, user.AvailabilityAway)
		until(t, foreign, w.truth(t, globex.Admin.Viewer, 0))
	})
}

// TestPresenceSummaryCoalesces: 50 changes in a burst reach a subscriber
// as a few summaries, at least SummaryInterval apart, the last of them
// the final state.
func TestPresenceSummaryCoalesces(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := newSummaryWorld(t, dbURL)
		acme := w.fx.Orgs[0]
		admin := acme.Admin.Viewer
		ch := w.subscribe(t, admin, 0)
		until(t, ch, w.truth(t, admin, 0))

		const changes = 50
		availabilities := []user.Availability{user.AvailabilityOnline, user.AvailabilityBusy, user.AvailabilityAway, user.AvailabilityOffline}
		start := time.Now()
		for i := range changes - 1 {
			u := []*fixture.User{acme.Agent, acme.Supervisor}[i%2]
			w.set(t, u, i%3 != 0, availabilities[i%len(availabilities)])
		}
		// The last change makes a state none before made: the admin is
		// online only from then on, so only the final summary shows it.
		w.set(t, acme.Admin, true, user.AvailabilityBusy)
		final := w.truth(t, admin, 0)
		var arrivals []time.Time
		for {
			select {
			case got := <-ch:
				arrivals = append(arrivals, time.Now())
				if !got.Equal(final) {
					continue
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("after %d summaries, none equal to the final state", len(arrivals))
			}
			break
		}
		took := arrivals[len(arrivals)-1].Sub(start)
		t.Logf("%d changes in %v reached the subscriber as %d summaries", changes, took.Round(time.Millisecond), len(arrivals))
		if bound := int(took/realtime.SummaryInterval) + 1; len(arrivals) > bound {
			t.Errorf("%d summaries in %v, more than one per %v", len(arrivals), took, realtime.SummaryInterval)
		}
		// Nothing follows the final state.
		select {
		case got := <-ch:
			t.Errorf("a summary after the final state: %+v", got)
		case <-time.After(2 * realtime.SummaryInterval):
		}
	})
}
