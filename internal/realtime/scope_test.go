package realtime_test

import (
	"context"
	"testing"
	"time"

	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/realtime"
	"roster/internal/viewer"
)

// statusesUntil reads status events from ch until one about user until,
// and returns the users they were about.
func statusesUntil(t *testing.T, ch <-chan *realtime.UserStatusEvent, until int) map[int]bool {
	t.Helper()
	seen := map[int]bool{}
	for {
		ev := next(t, ch)
		seen[ev.User.ID] = true
		if ev.User.ID == until {
			return seen
		}
	}
}

// TestScopeFollowsVersions: a supervisor who sees only their divisions'
// users is removed from a division while an earlier change of theirs is
// still on its way (committed, not yet published). Published after the
// removal, that change carries the divisions they had before it; their
// subscription keeps to the newer ones and hears nothing more of the
// division they left.
func TestScopeFollowsVersions(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := setup(t, dbURL)
		admin := viewer.NewContext(context.Background(), w.admin)
		sup := w.supervisor.UserID
		w.client.Division.UpdateOneID(w.divisionB).AddMemberIDs(sup).ExecX(admin)
		scoped := subscribe(t, w, w.supervisor, realtime.Filter{})
		w.setAvailability(t, w.agentB, user.AvailabilityBusy)
		if seen := statusesUntil(t, scoped, w.agentB.ID); !seen[w.agentB.ID] {
			t.Fatal("a member of division B did not see its user")
		}

		held, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		hold := func() { close(held); <-release }
		w.broker.holdNext.Store(&hold)
		go func() {
			defer close(done)
			w.client.User.UpdateOneID(sup).SetAvailability(user.AvailabilityAway).ExecX(admin)
		}()
		<-held
		w.client.Division.UpdateOneID(w.divisionB).RemoveMemberIDs(sup).ExecX(admin)
		close(release)
		<-done

		w.setAvailability(t, w.agentB, user.AvailabilityAway)
		w.setAvailability(t, w.agentA, user.AvailabilityBusy)
		if seen := statusesUntil(t, scoped, w.agentA.ID); seen[w.agentB.ID] {
			t.Error("after leaving division B the supervisor still hears of its user")
		}
	})
}

// TestNothingAfterADrop: once a subscription too far behind dropped an
// event, it queues none until it re-reads the state. The dropped event
// here removes its scoped viewer from a division; a change in that
// division queued after it would be judged by the divisions it should
// have removed.
func TestNothingAfterADrop(t *testing.T) {
	t.Parallel()
	w := setup(t, fixture.SQLiteURL(t))
	m := &meter{published: map[string]int{}}
	hub := realtime.NewHub(w.client, nil, quiet)
	hub.Measure(m)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hub.Start(ctx, w.broker)
	admin := viewer.NewContext(context.Background(), w.admin)
	sup := w.supervisor.UserID
	sctx, stop := context.WithCancel(viewer.NewContext(context.Background(), w.supervisor))
	t.Cleanup(stop)
	ch, err := hub.UserStatus(sctx, realtime.Filter{}, false)
	if err != nil {
		t.Fatal(err)
	}
	handled := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); m.delivered.Load()+m.dropped.Load() < want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the hub handled %d events, want %d", m.delivered.Load()+m.dropped.Load(), want)
			}
		}
	}

	// Every event of the organization from now on is delivered or
	// dropped: the hub has handled the nth when they add up to n.
	w.client.Division.UpdateOneID(w.divisionB).AddMemberIDs(sup).ExecX(admin)
	events := int64(1)
	handled(events)

	// Nothing read: the queue fills until an event is dropped.
	for i := 0; m.dropped.Load() == 0; i++ {
		if i == 2000 {
			t.Fatal("no event dropped")
		}
		w.setAvailability(t, w.agentA, []user.Availability{user.AvailabilityBusy, user.AvailabilityAway}[i%2])
		events++
		handled(events)
	}
	w.client.Division.UpdateOneID(w.divisionB).RemoveMemberIDs(sup).ExecX(admin)
	events++
	handled(events)
	// Room again, then a change in division B.
	for range 10 {
		next(t, ch)
	}
	dropped := m.dropped.Load()
	w.setAvailability(t, w.agentB, user.AvailabilityAway)
	events++
	handled(events)
	if m.dropped.Load() != dropped+1 {
		t.Errorf("queued an event after one was dropped")
	}
	for {
		select {
		case ev := <-ch:
			if ev.User.ID == w.agentB.ID {
				t.Fatalf("after leaving division B the supervisor heard of its user: %+v", ev)
			}
			continue
		case <-time.After(500 * time.Millisecond):
		}
		break
	}
}

// TestStatusReads: a subscription that reads a user's availability and
// presence, not their device count, hears nothing of a change of that
// count alone; one that reads it, or reads all, does; a change of what
// either reads reaches both, with its version; one that reads the user's
// fields also hears of a newer version that leaves the status as it was.
func TestStatusReads(t *testing.T) {
	t.Parallel()
	w := setup(t, fixture.SQLiteURL(t))
	sub := func(reads realtime.StatusFields) <-chan *realtime.UserStatusEvent {
		return subscribe(t, w, w.admin, realtime.Filter{Reads: reads})
	}
	shown := sub(realtime.ReadsAvailability | realtime.ReadsOnline)
	devices := sub(realtime.ReadsDevices)
	all := sub(0)
	users := sub(realtime.ReadsUser | realtime.ReadsAvailability)
	// Every subscription has been told of agent A's status first.
	w.setAvailability(t, w.agentA, user.AvailabilityBusy)
	for _, ch := range []<-chan *realtime.UserStatusEvent{shown, devices, all, users} {
		next(t, ch)
	}

	admin := viewer.NewContext(context.Background(), w.admin)
	w.client.User.UpdateOneID(w.agentA.ID).SetConnections(2).AddVersion(1).ExecX(admin)
	for name, ch := range map[string]<-chan *realtime.UserStatusEvent{"devices": devices, "all": all, "users": users} {
		if ev := next(t, ch); ev.User.ID != w.agentA.ID || ev.Devices != 2 {
			t.Errorf("%s: %+v", name, ev)
		}
	}
	none(t, shown)

	w.setAvailability(t, w.agentA, user.AvailabilityAway)
	ev := next(t, shown)
	if ev.Availability != user.AvailabilityAway || ev.Devices != 2 {
		t.Errorf("availability changed: %+v", ev)
	}
	for name, ch := range map[string]<-chan *realtime.UserStatusEvent{"all": all, "users": users} {
		if ev2 := next(t, ch); ev2.Version != ev.Version {
			t.Errorf("%s: versions differ: %d, %d", name, ev.Version, ev2.Version)
		}
	}
	none(t, devices) // the count did not change

	// The availability the user has: a newer version of the user, and
	// nothing else.
	w.setAvailability(t, w.agentA, user.AvailabilityAway)
	if ev2 := next(t, users); ev2.Version <= ev.Version || ev2.User.Version != ev2.Version || ev2.Availability != user.AvailabilityAway {
		t.Errorf("a newer version of the user: %+v after %+v", ev2, ev)
	}
	none(t, shown)
	none(t, all)
	none(t, devices)
}
