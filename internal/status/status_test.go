package status_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"roster/ent"
	_ "roster/ent/runtime" // registers hooks and policies
	"roster/ent/statusinterval"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/fixture"
	"roster/internal/presence"
	"roster/internal/status"
	"roster/internal/store"
	"roster/internal/viewer"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time                          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)                         { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) ctx(ctx context.Context) context.Context { return status.WithClock(ctx, c.now) }

// setAvailability changes the availability of user id as the viewer in
// ctx, in one transaction, as a mutation does.
func setAvailability(t *testing.T, ctx context.Context, c *ent.Client, id int, a user.Availability) {
	t.Helper()
	if err := store.Transact(ctx, c, func(ctx context.Context) error {
		return ent.FromContext(ctx).User.UpdateOneID(id).SetAvailability(a).Exec(ctx)
	}); err != nil {
		t.Fatalf("set availability %s: %v", a, err)
	}
}

// checkChain fails unless the intervals of user id, in the database, follow
// each other without gap or overlap and only the last is open, in the
// state the user is in.
func checkChain(t *testing.T, c *ent.Client, id int) []*ent.StatusInterval {
	t.Helper()
	ctx := fixture.System()
	ivs := c.StatusInterval.Query().Where(statusinterval.UserID(id)).Order(ent.Asc(statusinterval.FieldStartedAt), ent.Asc(statusinterval.FieldID)).AllX(ctx)
	if len(ivs) == 0 {
		t.Fatalf("user %d has no status interval", id)
	}
	for i, iv := range ivs {
		last := i == len(ivs)-1
		switch {
		case last && iv.EndedAt != nil:
			t.Fatalf("user %d: the last interval is closed at %v", id, iv.EndedAt)
		case !last && iv.EndedAt == nil:
			t.Fatalf("user %d: interval %d of %d is open", id, i, len(ivs))
		case !last && !iv.EndedAt.Equal(ivs[i+1].StartedAt):
			t.Fatalf("user %d: interval %d ends at %v, the next starts at %v", id, i, iv.EndedAt, ivs[i+1].StartedAt)
		case !last && iv.EndedAt.Before(iv.StartedAt):
			t.Fatalf("user %d: interval %d ends before it starts", id, i)
		case i > 0 && iv.Online == ivs[i-1].Online && iv.Availability == ivs[i-1].Availability:
			t.Fatalf("user %d: interval %d repeats the state of the one before", id, i)
		}
	}
	u := c.User.GetX(ctx, id)
	if last := ivs[len(ivs)-1]; string(last.Availability) != string(u.Availability) || last.Online != u.Online {
		t.Fatalf("user %d is %s online=%v, the open interval says %s online=%v", id, u.Availability, u.Online, last.Availability, last.Online)
	}
	return ivs
}

func TestStatusHistory(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, url string) {
		t.Run("a day across connect, grace, availability and a lost instance", func(t *testing.T) { testDay(t, url) })
		t.Run("concurrent changes of one user", func(t *testing.T) { testConcurrent(t, url) })
	})
}

func testDay(t *testing.T, url string) {
	w := fixture.New(t, url, "Acme", "Globex")
	acme, globex := w.Orgs[0], w.Orgs[1]
	c := w.Client
	// The day starts after the fixture's users were created (their first
	// interval opened then): it is tomorrow's, in UTC.
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	at := func(h int) time.Time { return day.Add(time.Duration(h) * time.Hour) }
	clk := &clock{t: at(0)}
	frozen := &clock{t: at(0)} // the clock of the instance that is lost

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// instance starts a server instance whose clock is now.
	instance := func(now func() time.Time, deadAfter time.Duration) *presence.Service {
		p := presence.New(c, presence.Options{Grace: 20 * time.Millisecond, DeadAfter: deadAfter, Now: now}, quiet)
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stopping)
		return p
	}
	users := []*fixture.User{acme.Agent, globex.Agent}
	admins := []*fixture.User{acme.Admin, globex.Admin}
	agent, globexAgent := acme.Agent, globex.Agent
	step := func(h int) { clk.set(at(h)); frozen.set(at(h)) }

	step(1)
	for _, u := range users {
		setAvailability(t, clk.ctx(u.Context()), c, u.ID, user.AvailabilityOnline)
	}
	step(2)
	a := instance(clk.now, time.Hour)
	conns := map[int]int{}
	for _, u := range users {
		id, err := a.Connect(ctx, u.Viewer, "test")
		if err != nil {
			t.Fatal(err)
		}
		conns[u.ID] = id
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	step(3)
	for i, u := range users {
		setAvailability(t, clk.ctx(admins[i].Context()), c, u.ID, user.AvailabilityBusy)
	}
	step(4)
	for _, u := range users {
		if err := a.Disconnect(ctx, conns[u.ID], u.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		eventually(t, func() bool { return !c.User.GetX(fixture.System(), u.ID).Online }, "offline after the grace period")
	}
	step(5)
	// An instance whose clock stops at 5h: it stops answering.
	lost := instance(frozen.now, time.Hour)
	for _, u := range users {
		if _, err := lost.Connect(ctx, u.Viewer, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if err := lost.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	clk.set(at(6))
	// At 6h an instance starts, finds the lost one silent for an hour and
	// ends its connections.
	instance(clk.now, time.Hour-time.Minute)
	for _, u := range users {
		if c.User.GetX(fixture.System(), u.ID).Online {
			t.Fatal("still online after the instance was lost")
		}
	}
	step(7)
	for i, u := range users {
		setAvailability(t, clk.ctx(admins[i].Context()), c, u.ID, user.AvailabilityAway)
	}
	step(8)
	second := instance(clk.now, time.Hour)
	for _, u := range users {
		if _, err := second.Connect(ctx, u.Viewer, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if err := second.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	step(9)
	// The instance shuts down, ending its connections; the users stay
	// online for the grace period, and nobody comes back: at 10h, an
	// instance starting takes them offline.
	if err := second.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	step(10)
	instance(clk.now, time.Hour)
	clk.set(at(25))
	wantSources := []statusinterval.Source{"CREATED", "SET_BY_USER", "CONNECTED", "SET_BY_ADMIN", "GRACE_EXPIRED", "CONNECTED", "INSTANCE_LOST", "SET_BY_ADMIN", "CONNECTED", "GRACE_EXPIRED"}
	from, to := at(0), at(24)
	for _, u := range []*fixture.User{agent, globexAgent} {
		checkChain(t, c, u.ID)
		admin := acme.Admin
		if u == globexAgent {
			admin = globex.Admin
		}
		hist, err := status.History(clk.ctx(admin.Context()), c, u.User, from, to)
		if err != nil {
			t.Fatal(err)
		}
		var sources []statusinterval.Source
		for i, iv := range hist {
			sources = append(sources, iv.Source)
			if iv.End == nil {
				t.Fatalf("interval %d of a past range is open", i)
			}
			if i == 0 && !iv.Start.Equal(from) || i > 0 && !iv.Start.Equal(*hist[i-1].End) || i == len(hist)-1 && !iv.End.Equal(to) {
				t.Fatalf("history does not cover the day without gaps: interval %d %v–%v", i, iv.Start, iv.End)
			}
		}
		if !slices.Equal(sources, wantSources) {
			t.Fatalf("sources %v, want %v", sources, wantSources)
		}
	}

	// The report of the day equals the sum of the intervals.
	rep, err := status.Compute(clk.ctx(acme.Admin.Context()), c, from, to, 0, status.ByUser)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, r := range rep.Rows {
		ids = append(ids, r.User.ID)
		if r.User.OrganizationID != acme.ID {
			t.Fatalf("Acme's report shows user %d of organization %d", r.User.ID, r.User.OrganizationID)
		}
		if r.Tracked != 24*time.Hour {
			t.Errorf("user %d tracked for %v of the day, want 24h (their state counts even when it did not change)", r.User.ID, r.Tracked)
		}
		hist, err := status.History(clk.ctx(acme.Admin.Context()), c, r.User, from, to)
		if err != nil {
			t.Fatal(err)
		}
		sum := map[user.Availability]time.Duration{}
		var online time.Duration
		for _, iv := range hist {
			sum[iv.Availability] += iv.End.Sub(iv.Start)
			if iv.Online {
				online += iv.End.Sub(iv.Start)
			}
		}
		for _, at := range r.ByAvailability() {
			if at.Duration != sum[at.Availability] {
				t.Errorf("user %d: report says %v %s, the intervals %v", r.User.ID, at.Duration, at.Availability, sum[at.Availability])
			}
		}
		if r.Online != online {
			t.Errorf("user %d: report says %v online, the intervals %v", r.User.ID, r.Online, online)
		}
		if r.User.ID == agent.ID {
			want := map[user.Availability]time.Duration{"ONLINE": 2 * time.Hour, "BUSY": 4 * time.Hour, "AWAY": 17 * time.Hour, "OFFLINE": time.Hour}
			// Online 2h–4h, 5h–6h (the lost instance), 8h–10h (the grace
			// after the shutdown at 9h ends with the next instance's sweep).
			if fmt.Sprint(sum) != fmt.Sprint(want) || online != 5*time.Hour {
				t.Errorf("agent's day: %v and %v online, want %v and 5h", sum, online, want)
			}
		}
	}
	if want := []int{acme.Admin.ID, acme.Supervisor.ID, acme.Scoped.ID, acme.Agent.ID}; !sameSet(ids, want) {
		t.Fatalf("report rows %v, want Acme's users %v", ids, want)
	}

	// A scoped supervisor counts only the users of their divisions; a
	// division row sums its members.
	scoped, err := status.Compute(clk.ctx(acme.Scoped.Context()), c, from, to, 0, status.ByUser)
	if err != nil {
		t.Fatal(err)
	}
	ids = nil
	for _, r := range scoped.Rows {
		ids = append(ids, r.User.ID)
	}
	if want := []int{acme.Supervisor.ID, acme.Scoped.ID, acme.Agent.ID}; !sameSet(ids, want) {
		t.Fatalf("scoped supervisor's rows %v, want the Support members %v", ids, want)
	}
	if _, err := status.History(clk.ctx(acme.Scoped.Context()), c, acme.Admin.User, from, to); err != nil {
		t.Fatal(err)
	} else if hist, _ := status.History(clk.ctx(acme.Scoped.Context()), c, acme.Admin.User, from, to); len(hist) != 0 {
		t.Fatalf("scoped supervisor reads %d intervals of the admin outside their divisions", len(hist))
	}
	byDiv, err := status.Compute(clk.ctx(acme.Supervisor.Context()), c, from, to, acme.Support, status.ByDivision)
	if err != nil {
		t.Fatal(err)
	}
	if len(byDiv.Rows) != 1 || byDiv.Rows[0].Division.ID != acme.Support || byDiv.Rows[0].Tracked != 3*24*time.Hour {
		t.Fatalf("Support's row: %+v, want one row of 3 members × 24h", byDiv.Rows)
	}

	// Another organization's report never shows Acme's users, and another
	// organization's division is not found.
	grep, err := status.Compute(clk.ctx(globex.Admin.Context()), c, from, to, 0, status.ByUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range grep.Rows {
		if r.User.OrganizationID != globex.ID {
			t.Fatalf("Globex's report shows user %d of organization %d", r.User.ID, r.User.OrganizationID)
		}
	}
	if _, err := status.Compute(clk.ctx(globex.Admin.Context()), c, from, to, acme.Support, status.ByUser); !ent.IsNotFound(err) {
		t.Fatalf("Globex reporting on Acme's division: %v, want not found", err)
	}
	if hist, err := status.History(clk.ctx(globex.Admin.Context()), c, agent.User, from, to); err != nil || len(hist) != 0 {
		t.Fatalf("Globex reads Acme's agent's history: %d intervals, %v", len(hist), err)
	}

	// Days are counted in the organization's time zone: in Jakarta (UTC+7)
	// the UTC day is 17 hours of one date and 7 of the next.
	c.Organization.UpdateOneID(acme.ID).SetTimeZone("Asia/Jakarta").ExecX(fixture.System())
	rep, err = status.Compute(clk.ctx(acme.Admin.Context()), c, from, to, 0, status.ByUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		if len(r.Days) != 2 || r.Days[0].Tracked != 17*time.Hour || r.Days[1].Tracked != 7*time.Hour || rep.TimeZone != "Asia/Jakarta" {
			t.Fatalf("days in Jakarta: %d days, want 17h then 7h", len(r.Days))
		}
		if r.Days[0].Date != from.In(time.FixedZone("", 7*3600)).Format(time.DateOnly) {
			t.Fatalf("first day %s", r.Days[0].Date)
		}
	}
	if err := c.Organization.UpdateOneID(acme.ID).SetTimeZone("Mars/Olympus").Exec(fixture.System()); !isInput(err, "") {
		t.Fatalf("unknown time zone: %v, want BAD_USER_INPUT", err)
	}

	// Permissions and the range.
	if _, err := status.Compute(clk.ctx(agent.Context()), c, from, to, 0, status.ByUser); !errors.Is(err, &apierr.Error{Code: apierr.Forbidden}) {
		t.Fatalf("agent's report: %v, want FORBIDDEN", err)
	}
	if _, err := status.History(clk.ctx(agent.Context()), c, acme.Admin.User, from, to); !errors.Is(err, &apierr.Error{Code: apierr.Forbidden}) {
		t.Fatalf("agent reading the admin's history: %v, want FORBIDDEN", err)
	}
	if _, err := status.History(clk.ctx(agent.Context()), c, agent.User, from, to); err != nil {
		t.Fatalf("agent reading their own history: %v", err)
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		field    string
	}{
		{"reversed", to, from, "to"},
		{"empty", from, from, "to"},
		{"over 366 days", from, from.Add(367 * 24 * time.Hour), "to"},
		{"no start", time.Time{}, to, "from"},
	} {
		if _, err := status.Compute(acme.Admin.Context(), c, tc.from, tc.to, 0, status.ByUser); !isInput(err, tc.field) {
			t.Errorf("%s: %v, want BAD_USER_INPUT on %s", tc.name, err, tc.field)
		}
	}
}

func isInput(err error, field string) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Code == apierr.BadUserInput && (field == "" || e.Field == field)
}

func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
	}
}

// testConcurrent changes one user's availability and presence from many
// transactions at once: the intervals still chain.
func testConcurrent(t *testing.T, url string) {
	w := fixture.New(t, url, "Initech")
	acme := w.Orgs[0]
	c := w.Client
	ctx := context.Background()
	p := presence.New(c, presence.Options{Grace: time.Millisecond, DeadAfter: time.Hour}, quiet)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx)
	var wg sync.WaitGroup
	avail := []user.Availability{user.AvailabilityOnline, user.AvailabilityBusy, user.AvailabilityAway, user.AvailabilityOffline}
	for g := range 6 {
		wg.Go(func() {
			for i := range 8 {
				if g%2 == 0 {
					setAvailability(t, acme.Agent.Context(), c, acme.Agent.ID, avail[(g+i)%4])
					continue
				}
				id, err := p.Connect(ctx, acme.Agent.Viewer, "test")
				if err != nil {
					t.Error(err)
					return
				}
				if err := p.Disconnect(ctx, id, acme.Agent.ID); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	eventually(t, func() bool { return !c.User.GetX(fixture.System(), acme.Agent.ID).Online }, "offline after the last grace period")
	ivs := checkChain(t, c, acme.Agent.ID)
	if len(ivs) < 3 {
		t.Fatalf("%d intervals after 48 changes", len(ivs))
	}
	_ = viewer.ViewReports
}
