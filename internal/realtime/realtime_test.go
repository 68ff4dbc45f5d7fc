package realtime_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roster/ent"
	"roster/ent/role"
	_ "roster/ent/runtime" // registers hooks and policies
	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/pubsub"
	"roster/internal/realtime"
	"roster/internal/viewer"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// broker is the in-process broker, plus a way to tell subscribers that
// events may have been lost.
type broker struct {
	*pubsub.Memory
	mu   sync.Mutex
	subs []chan pubsub.Message
	// holdNext, when set, is called before the next user event is
	// published, which waits for it to return.
	holdNext atomic.Pointer[func()]
}

func (b *broker) Publish(ctx context.Context, topic string, payload []byte) error {
	if hold := b.holdNext.Load(); topic == "users" && hold != nil && b.holdNext.CompareAndSwap(hold, nil) {
		(*hold)()
	}
	return b.Memory.Publish(ctx, topic, payload)
}

func (b *broker) Subscribe(topics ...string) (<-chan pubsub.Message, func()) {
	in, cancel := b.Memory.Subscribe(topics...)
	out := make(chan pubsub.Message, 64)
	b.mu.Lock()
	b.subs = append(b.subs, out)
	b.mu.Unlock()
	go func() {
		for m := range in {
			out <- m
		}
	}()
	return out, cancel
}

func (b *broker) resync() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs {
		s <- pubsub.Message{Resync: true}
	}
}

type world struct {
	client, raw                 *ent.Client
	hub                         *realtime.Hub
	broker                      *broker
	admin, supervisor           *viewer.Viewer
	agentA, agentB              *ent.User
	divisionA, divisionB, agent int
}

func setup(t *testing.T, dbURL string) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fx := fixture.New(t, dbURL)
	// raw changes the database without publishing, as if the events were
	// lost.
	raw := fixture.MustOpenDB(t, dbURL)
	b := &broker{Memory: pubsub.NewMemory()}
	t.Cleanup(func() { b.Close() })
	c := fx.Client
	realtime.Publish(c, b, quiet, nil)
	hub := realtime.NewHub(c, nil, quiet)
	hub.Start(ctx, b)

	acme := fx.Orgs[0]
	w := &world{client: c, raw: raw.Client, hub: hub, broker: b, agent: acme.Roles[role.BuiltinAgent]}
	w.divisionA, w.divisionB = acme.NewDivision(t, "A"), acme.NewDivision(t, "B")
	sup := acme.NewUser(t, fixture.Spec{Name: "sup", Role: role.BuiltinSupervisor, ChatAccess: user.ChatAccessAssignedDivisions, Divisions: []int{w.divisionA}})
	w.agentA = acme.NewUser(t, fixture.Spec{Name: "ann", Divisions: []int{w.divisionA}}).User
	w.agentB = acme.NewUser(t, fixture.Spec{Name: "bob", Divisions: []int{w.divisionB}}).User
	w.admin, w.supervisor = acme.Admin.Viewer, sup.Viewer
	if !w.supervisor.DivisionScoped {
		t.Fatal("the supervisor is not scoped to their divisions")
	}
	return w
}

func (w *world) setAvailability(t *testing.T, u *ent.User, a user.Availability) {
	t.Helper()
	w.client.User.UpdateOneID(u.ID).SetAvailability(a).ExecX(viewer.NewContext(context.Background(), w.admin))
}

func subscribe(t *testing.T, w *world, v *viewer.Viewer, f realtime.Filter) <-chan *realtime.UserStatusEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(viewer.NewContext(context.Background(), v))
	t.Cleanup(cancel)
	ch, err := w.hub.UserStatus(ctx, f, false)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func next[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	var zero T
	return zero
}

func none[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected event %+v", v)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestRealtime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		test func(*testing.T, *world)
	}{
		{"status events", testStatus},
		{"user changes", testChanges},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fixture.ForEachDB(t, func(t *testing.T, dbURL string) { tc.test(t, setup(t, dbURL)) })
		})
	}
}

func testStatus(t *testing.T, w *world) {
	all := subscribe(t, w, w.admin, realtime.Filter{})
	scoped := subscribe(t, w, w.supervisor, realtime.Filter{})
	onlyB := subscribe(t, w, w.admin, realtime.Filter{DivisionID: &w.divisionB})

	w.setAvailability(t, w.agentA, user.AvailabilityBusy)
	for name, ch := range map[string]<-chan *realtime.UserStatusEvent{"admin": all, "supervisor": scoped} {
		ev := next(t, ch)
		if ev.User.ID != w.agentA.ID || ev.Availability != user.AvailabilityBusy || ev.Online || ev.Version <= w.agentA.Version {
			t.Errorf("%s got %+v", name, ev)
		}
	}
	none(t, onlyB)

	w.setAvailability(t, w.agentB, user.AvailabilityAway)
	if ev := next(t, all); ev.User.ID != w.agentB.ID {
		t.Errorf("admin got %+v", ev)
	}
	if ev := next(t, onlyB); ev.User.ID != w.agentB.ID {
		t.Errorf("division B got %+v", ev)
	}
	none(t, scoped) // agent B is not in the supervisor's divisions

	// Setting the same availability again is no change.
	w.setAvailability(t, w.agentA, user.AvailabilityBusy)
	none(t, all)

	// A rolled-back change never reaches anyone.
	tx, err := w.client.Tx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tx.User.UpdateOneID(w.agentA.ID).SetAvailability(user.AvailabilityOnline).ExecX(viewer.NewContext(context.Background(), w.admin))
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	none(t, all)
	none(t, scoped)

	// Events lost on the way: after a resync the subscribers learn what
	// changed, and only that.
	sys := viewer.NewSystemContext(context.Background())
	w.raw.User.UpdateOneID(w.agentA.ID).SetAvailability(user.AvailabilityAway).ExecX(sys)
	w.broker.resync()
	if ev := next(t, scoped); ev.User.ID != w.agentA.ID || ev.Availability != user.AvailabilityAway {
		t.Errorf("supervisor after resync got %+v", ev)
	}
	if ev := next(t, all); ev.User.ID != w.agentA.ID || ev.Availability != user.AvailabilityAway {
		t.Errorf("admin after resync got %+v", ev)
	}
	none(t, all)
	none(t, onlyB)
}

func testChanges(t *testing.T, w *world) {
	ctx, cancel := context.WithCancel(viewer.NewContext(context.Background(), w.admin))
	defer cancel()
	all, err := w.hub.UserChanges(ctx, realtime.Filter{}, false)
	if err != nil {
		t.Fatal(err)
	}
	// Only the events of users created here: those of the setup may still
	// be on their way.
	ch := make(chan *realtime.UserChangedEvent, 16)
	go func() {
		for ev := range all {
			if ev.UserID > w.agentB.ID {
				ch <- ev
			}
		}
	}()
	u := w.client.User.Create().SetRoleID(w.agent).SetFirstName("New").SetLastName("Comer").SetEmail("new@acme.test").SaveX(ctx)
	if ev := next(t, ch); ev.Kind != realtime.Created || ev.UserID != u.ID || ev.User == nil {
		t.Errorf("create: %+v", ev)
	}
	w.client.User.UpdateOneID(u.ID).SetLastName("Comer-Later").ExecX(ctx)
	if ev := next(t, ch); ev.Kind != realtime.Updated || ev.User.LastName != "Comer-Later" {
		t.Errorf("update: %+v", ev)
	}
	w.setAvailability(t, u, user.AvailabilityBusy) // a status change, not a user change
	none(t, ch)
	w.client.User.UpdateOneID(u.ID).SetStatus(user.StatusArchived).ExecX(ctx)
	if ev := next(t, ch); ev.Kind != realtime.Archived {
		t.Errorf("archive: %+v", ev)
	}

	// Ending a session closes its live connections, and archiving a user
	// closes all of theirs.
	sys := viewer.NewSystemContext(context.Background())
	s := w.client.Session.Create().SetOrganizationID(w.admin.OrganizationID).SetUserID(w.agentA.ID).SetTokenHash([]byte("x")).SetExpiresAt(time.Now().Add(time.Hour)).SaveX(sys)
	closed := make(chan struct{}, 1)
	watched := w.hub.Watch(&viewer.Viewer{UserID: w.agentA.ID, SessionID: s.ID}, func(string) { closed <- struct{}{} })
	defer watched.Unwatch()
	w.client.Session.DeleteOneID(s.ID).ExecX(sys)
	next(t, closed)
	other := make(chan struct{}, 1)
	defer w.hub.Watch(&viewer.Viewer{UserID: w.agentB.ID, SessionID: 999999}, func(string) { other <- struct{}{} }).Unwatch()
	w.client.User.UpdateOneID(w.agentB.ID).SetStatus(user.StatusArchived).ExecX(viewer.NewContext(context.Background(), w.admin))
	next(t, other)
}

// TestAuthorityRecheck checks that the hub closes a live connection when
// its viewer's authority, read again after a change to their user or to a
// role of their organization or after events were lost, is narrower than
// what the connection's operations were granted, and only then.
func TestAuthorityRecheck(t *testing.T) {
	t.Parallel()
	w := setup(t, fixture.SQLiteURL(t))
	var mu sync.Mutex
	current := map[int]*viewer.Viewer{} // what the sessions stand for now
	set := func(v *viewer.Viewer) {
		mu.Lock()
		defer mu.Unlock()
		current[v.SessionID] = v
	}
	hub := realtime.NewHub(w.client, func(_ context.Context, ids []int) (map[int]*viewer.Viewer, error) {
		mu.Lock()
		defer mu.Unlock()
		out := map[int]*viewer.Viewer{}
		for _, id := range ids {
			if v := current[id]; v != nil {
				out[id] = v
			}
		}
		return out, nil
	}, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hub.Start(ctx, w.broker)

	org := w.admin.OrganizationID
	as := func(u *ent.User, session int, perms ...viewer.Permission) *viewer.Viewer {
		return &viewer.Viewer{UserID: u.ID, OrganizationID: org, RoleID: u.RoleID, SessionID: session, Permissions: perms}
	}
	watch := func(v *viewer.Viewer) (*realtime.Socket, chan string) {
		closed := make(chan string, 1)
		s := hub.Watch(v, func(reason string) { closed <- reason })
		t.Cleanup(s.Unwatch)
		set(v)
		return s, closed
	}
	admin := viewer.NewContext(context.Background(), w.admin)
	touch := func(u *ent.User) {
		w.client.User.UpdateOneID(u.ID).SetLastName("Changed " + time.Now().Format(time.RFC3339Nano)).ExecX(admin)
	}

	// A change to the user that leaves their authority as it was closes
	// nothing; one that narrows it closes their connection.
	a := as(w.agentA, 1_000_001, viewer.Broadcast)
	_, aClosed := watch(a)
	_, bClosed := watch(as(w.agentB, 1_000_002, viewer.Broadcast))
	touch(w.agentA)
	none(t, aClosed)
	set(as(w.agentA, a.SessionID))
	touch(w.agentA)
	if reason := next(t, aClosed); reason != "permissions changed" {
		t.Errorf("closed because %q", reason)
	}
	none(t, bClosed) // another user's connection

	// A connection whose operations were granted more than the
	// connection's start closes once that shrinks, on a change to any
	// role of the organization.
	b := as(w.agentB, 1_000_003)
	s, closed := watch(b)
	s.Grant(as(w.agentB, b.SessionID, viewer.ManageUsers, viewer.ViewReports))
	w.client.Role.UpdateOneID(w.agent).SetPermissions([]viewer.Permission{viewer.ViewReports}).ExecX(admin)
	if reason := next(t, closed); reason != "permissions changed" {
		t.Errorf("closed because %q", reason)
	}

	// After events may have been lost, every connection is checked: one
	// whose session ended closes.
	c := as(w.agentA, 1_000_004)
	_, cClosed := watch(c)
	mu.Lock()
	delete(current, c.SessionID)
	mu.Unlock()
	w.broker.resync()
	if reason := next(t, cClosed); reason != "session ended" {
		t.Errorf("closed because %q", reason)
	}
	none(t, bClosed)
}

// TestSessionExpiry checks that the hub closes the live connections of a
// session when it expires, all of them and only them, and a connection
// watched after its session expired at once.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	hub := realtime.NewHub(nil, nil, quiet)
	watch := func(session int, expires time.Time) chan string {
		closed := make(chan string, 1)
		s := hub.Watch(&viewer.Viewer{UserID: 1, SessionID: session, ExpiresAt: expires}, func(reason string) { closed <- reason })
		t.Cleanup(s.Unwatch)
		return closed
	}
	soon := time.Now().Add(200 * time.Millisecond)
	first, second := watch(1, soon), watch(1, soon)
	later := watch(2, time.Now().Add(time.Hour))
	for _, closed := range []chan string{first, second} {
		if reason := next(t, closed); reason != "session expired" {
			t.Errorf("closed because %q", reason)
		}
	}
	if reason := next(t, watch(1, soon)); reason != "session expired" {
		t.Errorf("a connection of the expired session: closed because %q", reason)
	}
	none(t, later)
	none(t, first) // once only
}
