package allocation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"roster/ent"
	"roster/ent/allocationsettings"
	"roster/ent/conversation"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/fixture"
	"roster/internal/store"
	"roster/internal/viewer"
)

// platform returns a context acting as org's messaging platform: a
// viewer with MANAGE_CONVERSATIONS and no user, as an API key is.
func platform(org int) context.Context {
	return viewer.NewContext(context.Background(), &viewer.Viewer{OrganizationID: org, APIKeyID: 1, Permissions: []viewer.Permission{viewer.ManageConversations}})
}

// run runs fn in one transaction, as an API operation does.
func run[T any](t testing.TB, s *Service, ctx context.Context, fn func(ctx context.Context) (T, error)) (T, error) {
	t.Helper()
	var out T
	err := store.Transact(ctx, s.client, func(ctx context.Context) error {
		var err error
		out, err = fn(ctx)
		return err
	})
	return out, err
}

func mustRun[T any](t testing.TB, s *Service, ctx context.Context, fn func(ctx context.Context) (T, error)) T {
	t.Helper()
	out, err := run(t, s, ctx, fn)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// online makes users present and of availability a.
func online(t testing.TB, c *ent.Client, a user.Availability, ids ...int) {
	t.Helper()
	if err := c.User.Update().Where(user.IDIn(ids...)).SetOnline(true).SetAvailability(a).Exec(fixture.System()); err != nil {
		t.Fatal(err)
	}
}

func setCapacity(t testing.TB, c *ent.Client, capacity int, ids ...int) {
	t.Helper()
	if err := c.User.Update().Where(user.IDIn(ids...)).SetCapacity(capacity).Exec(fixture.System()); err != nil {
		t.Fatal(err)
	}
}

// admin returns a context of o's admin.
func settings(t testing.TB, s *Service, o *fixture.Org, div *int, ch SettingsChange) {
	t.Helper()
	mustRun(t, s, o.Admin.Context(), func(ctx context.Context) (Settings, error) { return s.UpdateSettings(ctx, div, ch) })
}

func ptr[T any](v T) *T { return &v }

// team makes n agents of o in a new division and returns it and them.
func team(t testing.TB, o *fixture.Org, name string, n int) (int, []int) {
	t.Helper()
	var ids []int
	for range n {
		ids = append(ids, o.NewUser(t, fixture.Spec{}).ID)
	}
	return o.NewDivision(t, name, ids...), ids
}

func enqueue(t testing.TB, s *Service, org, div int, ext string) *ent.Conversation {
	t.Helper()
	return mustRun(t, s, platform(org), func(ctx context.Context) (*ent.Conversation, error) {
		return s.Enqueue(ctx, EnqueueInput{ExternalID: ext, DivisionID: &div})
	})
}

func assigneeOf(c *ent.Conversation) int {
	if c.AssigneeID == nil {
		return 0
	}
	return *c.AssigneeID
}

func TestRoundRobinIsFair(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL, "Acme", "Globex")
		s := New(w.Client, nil)
		o := w.Orgs[0]
		div, agents := team(t, o, "Sales", 4)
		online(t, w.Client, user.AvailabilityOnline, agents...)
		setCapacity(t, w.Client, 100, agents...)
		count := map[int]int{}
		var order []int
		for i := range 41 {
			c := enqueue(t, s, o.ID, div, fmt.Sprint("rr-", i))
			if c.State != conversation.StateAssigned {
				t.Fatalf("conversation %d: %s, want ASSIGNED", i, c.State)
			}
			count[assigneeOf(c)]++
			order = append(order, assigneeOf(c))
		}
		lo, hi := 1000, 0
		for _, a := range agents {
			lo, hi = min(lo, count[a]), max(hi, count[a])
		}
		if hi-lo > 1 {
			t.Fatalf("round robin counts %v differ by %d", count, hi-lo)
		}
		// A rotation: no agent twice within any 4 consecutive decisions.
		for i := 4; i < len(order); i++ {
			if order[i] != order[i-4] {
				t.Fatalf("decision %d went to %d, not the rotation's %d (order %v)", i, order[i], order[i-4], order)
			}
		}
	})
}

func TestBalancedPicksTheLeastLoaded(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL)
		s := New(w.Client, nil)
		o := w.Orgs[0]
		div, agents := team(t, o, "Sales", 3)
		setCapacity(t, w.Client, 100, agents...)
		settings(t, s, o, &div, SettingsChange{Strategy: ptr(allocationsettings.StrategyBalanced)})
		// Give the first agent a head start while alone online.
		online(t, w.Client, user.AvailabilityOnline, agents[0])
		for i := range 3 {
			enqueue(t, s, o.ID, div, fmt.Sprint("head-", i))
		}
		online(t, w.Client, user.AvailabilityOnline, agents...)
		for i := range 20 {
			before := mustRun(t, s, o.Admin.Context(), func(ctx context.Context) ([]*Candidate, error) { return s.Candidates(ctx, div) })
			least := 1000
			for _, c := range before {
				if c.Eligible {
					least = min(least, c.Open)
				}
			}
			c := enqueue(t, s, o.ID, div, fmt.Sprint("bal-", i))
			for _, b := range before {
				if b.User.ID == assigneeOf(c) && b.Open != least {
					t.Fatalf("decision %d: gave to %d with %d open; someone had %d", i, b.User.ID, b.Open, least)
				}
			}
		}
	})
}

// TestEligibility checks every reason and that a change applies to the
// very next decision.
func TestEligibility(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL)
		s := New(w.Client, nil)
		o := w.Orgs[0]
		div, agents := team(t, o, "Sales", 1)
		a := agents[0]
		archived := o.NewUser(t, fixture.Spec{Status: user.StatusArchived, Divisions: []int{div}})
		reasonOf := func(id int) Reason {
			t.Helper()
			cs := mustRun(t, s, o.Supervisor.Context(), func(ctx context.Context) ([]*Candidate, error) { return s.Candidates(ctx, div) })
			for _, c := range cs {
				if c.User.ID == id {
					return c.Why
				}
			}
			t.Fatalf("user %d is not a candidate", id)
			return ""
		}
		seq := 0
		next := func() int {
			seq++
			return assigneeOf(enqueue(t, s, o.ID, div, fmt.Sprint("e-", seq)))
		}
		if r := reasonOf(a); r != Offline {
			t.Fatalf("offline agent: %q", r)
		}
		if r := reasonOf(archived.ID); r != Inactive {
			t.Fatalf("archived: %q", r)
		}
		online(t, w.Client, user.AvailabilityBusy, a)
		if r := reasonOf(a); r != Unavailable {
			t.Fatalf("busy agent: %q", r)
		}
		if got := next(); got != 0 {
			t.Fatalf("busy agent got a conversation")
		}
		settings(t, s, o, &div, SettingsChange{ReceiveWhenBusy: ptr(true)})
		if got := next(); got != a {
			t.Fatalf("busy agent with receiveWhenBusy: got %d", got)
		}
		setCapacity(t, w.Client, 1, a)
		if r := reasonOf(a); r != AtCapacity {
			t.Fatalf("agent at capacity: %q", r)
		}
		if got := next(); got != 0 {
			t.Fatal("agent at capacity got a conversation")
		}
		setCapacity(t, w.Client, 3, a)
		if got := next(); got != a {
			t.Fatal("capacity raised: not given the next conversation")
		}
		// Membership: out of the division, not a candidate.
		if err := w.Client.User.UpdateOneID(a).RemoveDivisionIDs(div).Exec(fixture.System()); err != nil {
			t.Fatal(err)
		}
		if got := next(); got != 0 {
			t.Fatal("a former member got a conversation")
		}
		settings(t, s, o, &div, SettingsChange{Mode: ptr(allocationsettings.ModeManual)})
		if err := w.Client.User.UpdateOneID(a).AddDivisionIDs(div).Exec(fixture.System()); err != nil {
			t.Fatal(err)
		}
		if got := next(); got != 0 {
			t.Fatal("MANUAL mode assigned a conversation")
		}
	})
}

// TestConcurrentEnqueues enqueues from several clients (instances) at
// once: no conversation is recorded or assigned twice, and no agent gets
// more than their capacity.
func TestConcurrentEnqueues(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL)
		o := w.Orgs[0]
		div, agents := team(t, o, "Sales", 4)
		online(t, w.Client, user.AvailabilityOnline, agents...)
		const capacity = 3
		setCapacity(t, w.Client, capacity, agents...)
		instances := []*Service{New(w.Client, nil), New(fixture.MustOpenDB(t, dbURL).Client, nil), New(fixture.MustOpenDB(t, dbURL).Client, nil)}
		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range 2 * n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := instances[i%len(instances)]
				div := div
				// Every external ID is enqueued twice, by different instances.
				_, err := run(t, s, platform(o.ID), func(ctx context.Context) (*ent.Conversation, error) {
					return s.Enqueue(ctx, EnqueueInput{ExternalID: fmt.Sprint("c-", i/2), DivisionID: &div})
				})
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		all := w.Client.Conversation.Query().AllX(fixture.System())
		if len(all) != n {
			t.Fatalf("%d conversations recorded, want %d", len(all), n)
		}
		per := map[int]int{}
		assigned := 0
		for _, c := range all {
			if c.State == conversation.StateAssigned {
				per[assigneeOf(c)]++
				assigned++
			}
		}
		for a, k := range per {
			if k > capacity {
				t.Fatalf("agent %d has %d conversations, capacity %d", a, k, capacity)
			}
		}
		if assigned != len(agents)*capacity {
			t.Fatalf("%d assigned, want every agent full (%d): %v", assigned, len(agents)*capacity, per)
		}
	})
}

func TestQueueMovesWhenCapacityFrees(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL)
		s := New(w.Client, nil)
		o := w.Orgs[0]
		div, agents := team(t, o, "Sales", 1)
		online(t, w.Client, user.AvailabilityOnline, agents...)
		setCapacity(t, w.Client, 1, agents...)
		first := enqueue(t, s, o.ID, div, "first")
		second := enqueue(t, s, o.ID, div, "second")
		if first.State != conversation.StateAssigned || second.State != conversation.StateQueued {
			t.Fatalf("first %s, second %s", first.State, second.State)
		}
		mustRun(t, s, platform(o.ID), func(ctx context.Context) (*ent.Conversation, error) { return s.Resolve(ctx, first.ID) })
		deadline := time.Now().Add(10 * time.Second)
		for {
			c := w.Client.Conversation.GetX(fixture.System(), second.ID)
			if c.State == conversation.StateAssigned && assigneeOf(c) == agents[0] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the queued conversation was not assigned after capacity freed: %s", c.State)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestIdleAndOfflineRules(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL)
		s := New(w.Client, nil)
		o := w.Orgs[0]
		div, agents := team(t, o, "Sales", 2)
		online(t, w.Client, user.AvailabilityOnline, agents[0])
		settings(t, s, o, &div, SettingsChange{IdleReassignMinutes: ptr(5)})
		c := enqueue(t, s, o.ID, div, "idle")
		if assigneeOf(c) != agents[0] {
			t.Fatalf("assigned to %d", assigneeOf(c))
		}
		online(t, w.Client, user.AvailabilityOnline, agents[1])
		if n, err := s.Sweep(context.Background()); err != nil || n != 0 {
			t.Fatalf("sweep before the idle time: %d, %v", n, err)
		}
		s.now = func() time.Time { return time.Now().Add(6 * time.Minute) }
		if n, err := s.Sweep(context.Background()); err != nil || n != 1 {
			t.Fatalf("sweep after the idle time: %d, %v", n, err)
		}
		if got := w.Client.Conversation.GetX(fixture.System(), c.ID); assigneeOf(got) != agents[1] {
			t.Fatalf("idle conversation went to %d, want %d", assigneeOf(got), agents[1])
		}
		s.now = time.Now
		settings(t, s, o, &div, SettingsChange{IdleReassignMinutes: ptr(0), OnOffline: ptr(allocationsettings.OnOfflineRequeue)})
		if err := w.Client.User.UpdateOneID(agents[1]).SetOnline(false).Exec(fixture.System()); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Sweep(context.Background()); err != nil || n != 1 {
			t.Fatalf("sweep after going offline: %d, %v", n, err)
		}
		if got := w.Client.Conversation.GetX(fixture.System(), c.ID); assigneeOf(got) != agents[0] {
			t.Fatalf("offline agent's conversation went to %d, want %d", assigneeOf(got), agents[0])
		}
	})
}

// TestConfinement checks other organizations' IDs and the scoped
// supervisor's divisions.
func TestConfinement(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL, "Acme", "Globex")
		s := New(w.Client, nil)
		acme, globex := w.Orgs[0], w.Orgs[1]
		sales, agents := team(t, acme, "Sales", 1)
		online(t, w.Client, user.AvailabilityOnline, agents...)
		gdiv, gagents := team(t, globex, "Sales", 1)
		online(t, w.Client, user.AvailabilityOnline, gagents...)
		mine := enqueue(t, s, acme.ID, sales, "acme-1")
		theirs := enqueue(t, s, globex.ID, gdiv, "globex-1")
		queued := mustRun(t, s, platform(acme.ID), func(ctx context.Context) (*ent.Conversation, error) {
			return s.Enqueue(ctx, EnqueueInput{ExternalID: "support-1", DivisionID: &acme.Support})
		})
		wantCode := func(name string, err error, code apierr.Code) {
			t.Helper()
			var e *apierr.Error
			if !errors.As(err, &e) || e.Code != code {
				t.Errorf("%s: %v, want %s", name, err, code)
			}
		}
		for _, tc := range []struct {
			name string
			ctx  context.Context
			fn   func(ctx context.Context) (any, error)
			code apierr.Code
		}{
			{"resolve another org's", platform(acme.ID), func(ctx context.Context) (any, error) { return s.Resolve(ctx, theirs.ID) }, apierr.NotFound},
			{"reply to another org's", platform(acme.ID), func(ctx context.Context) (any, error) { return s.RecordAgentReply(ctx, theirs.ID) }, apierr.NotFound},
			{"enqueue into another org's division", platform(acme.ID), func(ctx context.Context) (any, error) {
				return s.Enqueue(ctx, EnqueueInput{ExternalID: "x", DivisionID: &gdiv})
			}, apierr.NotFound},
			{"assign another org's", acme.Admin.Context(), func(ctx context.Context) (any, error) { return s.Assign(ctx, theirs.ID, agents[0]) }, apierr.NotFound},
			{"assign to another org's user", acme.Admin.Context(), func(ctx context.Context) (any, error) { return s.Assign(ctx, mine.ID, gagents[0]) }, apierr.NotFound},
			{"candidates of another org's division", acme.Admin.Context(), func(ctx context.Context) (any, error) { return s.Candidates(ctx, gdiv) }, apierr.NotFound},
			{"scoped: assign outside their divisions", acme.Scoped.Context(), func(ctx context.Context) (any, error) { return s.Assign(ctx, mine.ID, agents[0]) }, apierr.NotFound},
			{"scoped: to a user outside their divisions", acme.Scoped.Context(), func(ctx context.Context) (any, error) { return s.Assign(ctx, queued.ID, agents[0]) }, apierr.NotFound},
			{"agent: resolve", acme.Agent.Context(), func(ctx context.Context) (any, error) { return s.Resolve(ctx, mine.ID) }, apierr.Forbidden},
			{"agent: enqueue", acme.Agent.Context(), func(ctx context.Context) (any, error) {
				return s.Enqueue(ctx, EnqueueInput{ExternalID: "y"})
			}, apierr.Forbidden},
			{"agent: assign to others", acme.Agent.Context(), func(ctx context.Context) (any, error) { return s.Assign(ctx, queued.ID, acme.Supervisor.ID) }, apierr.Forbidden},
			{"agent: settings", acme.Agent.Context(), func(ctx context.Context) (any, error) { return s.UpdateSettings(ctx, nil, SettingsChange{}) }, apierr.Forbidden},
		} {
			_, err := run(t, s, tc.ctx, tc.fn)
			wantCode(tc.name, err, tc.code)
		}
		// The scoped supervisor may assign within their divisions.
		online(t, w.Client, user.AvailabilityOnline, acme.Agent.ID)
		got, err := run(t, s, acme.Scoped.Context(), func(ctx context.Context) (*ent.Conversation, error) { return s.Assign(ctx, queued.ID, acme.Agent.ID) })
		if err != nil || assigneeOf(got) != acme.Agent.ID {
			t.Fatalf("scoped supervisor assigning in Support: %v", err)
		}
		// The agent sees their own conversation, not another's.
		seen := w.Client.Conversation.Query().IDsX(viewer.NewContext(ent.NewContext(context.Background(), w.Client), acme.Agent.Viewer))
		if len(seen) != 1 || seen[0] != queued.ID {
			t.Fatalf("the agent sees %v, want only %d", seen, queued.ID)
		}
	})
}
