package presence_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"roster/ent"
	_ "roster/ent/runtime" // registers hooks and policies
	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/presence"
	"roster/internal/viewer"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// setup returns the fixture's database at dbURL and the viewer of its
// admin, with a session.
func setup(t *testing.T, dbURL string) (*ent.Client, *viewer.Viewer) {
	t.Helper()
	w := fixture.New(t, dbURL)
	return w.Client, w.Orgs[0].Admin.Viewer
}

func state(t *testing.T, c *ent.Client, id int) *ent.User {
	t.Helper()
	return c.User.GetX(viewer.NewSystemContext(context.Background()), id)
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
	}
}

func flush(t *testing.T, p *presence.Service) {
	t.Helper()
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPresence(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, url string) {
		t.Run("devices, grace and last seen", func(t *testing.T) { testDevices(t, url) })
	})
}

func testDevices(t *testing.T, url string) {
	c, v := setup(t, url)
	ctx := context.Background()
	p := presence.New(c, presence.Options{Grace: 200 * time.Millisecond, DeadAfter: 3 * time.Second}, quiet)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(ctx) })
	if u := state(t, c, v.UserID); u.Online || u.Connections != 0 {
		t.Fatalf("before connecting: online %v, %d connections", u.Online, u.Connections)
	}
	c.User.UpdateOneID(v.UserID).SetAvailability(user.AvailabilityBusy).ExecX(viewer.NewSystemContext(ctx))

	phone, err := p.Connect(ctx, v, "phone")
	if err != nil {
		t.Fatal(err)
	}
	laptop, err := p.Connect(ctx, v, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	flush(t, p)
	if u := state(t, c, v.UserID); !u.Online {
		t.Fatalf("with two devices: online %v, %d connections", u.Online, u.Connections)
	}
	eventually(t, presence.DefaultCountEvery+5*time.Second, "two devices counted", func() bool {
		return state(t, c, v.UserID).Connections == 2
	})
	if err := p.Disconnect(ctx, laptop, v.UserID); err != nil {
		t.Fatal(err)
	}
	// A count that changes while the user stays online is written within
	// CountEvery.
	eventually(t, presence.DefaultCountEvery+5*time.Second, "one device left counted", func() bool {
		u := state(t, c, v.UserID)
		return u.Online && u.Connections == 1
	})
	// A reload: the last connection closes and a new one opens within the
	// grace period; the user never goes offline.
	before := state(t, c, v.UserID).Version
	if err := p.Disconnect(ctx, phone, v.UserID); err != nil {
		t.Fatal(err)
	}
	flush(t, p)
	if _, err := p.Connect(ctx, v, "phone"); err != nil {
		t.Fatal(err)
	}
	flush(t, p)
	time.Sleep(400 * time.Millisecond)
	u := state(t, c, v.UserID)
	if !u.Online || u.LastSeenAt != nil {
		t.Fatalf("a reload flapped the user offline (last seen %v)", u.LastSeenAt)
	}
	if u.Version <= before {
		t.Errorf("version did not move: %d then %d", before, u.Version)
	}
	// A graceful stop ends the connections at once, but leaves the user
	// online for the grace period, for their client to reconnect.
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	u = state(t, c, v.UserID)
	if !u.Online || u.Connections != 0 || u.LastSeenAt != nil {
		t.Fatalf("after stop: online %v, %d connections, last seen %v", u.Online, u.Connections, u.LastSeenAt)
	}
	// They did not come back: once the grace period is over, an instance
	// (here one starting) takes them offline, keeping the availability
	// they chose.
	time.Sleep(300 * time.Millisecond)
	next := presence.New(c, presence.Options{Grace: 200 * time.Millisecond, DeadAfter: 3 * time.Second}, quiet)
	if err := next.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Stop(context.Background()) })
	u = state(t, c, v.UserID)
	if u.Online || u.Connections != 0 || u.LastSeenAt == nil || u.Availability != user.AvailabilityBusy {
		t.Fatalf("after the grace period: online %v, %d connections, last seen %v, availability %s", u.Online, u.Connections, u.LastSeenAt, u.Availability)
	}
}

// TestDeadInstance checks that when an instance dies without shutting down,
// another takes its users offline within the configured bound.
func TestDeadInstance(t *testing.T) {
	t.Parallel()
	c, v := setup(t, fixture.PostgresURL(t))
	const deadAfter = 600 * time.Millisecond
	opts := presence.Options{Grace: 0, DeadAfter: deadAfter}

	dyingCtx, die := context.WithCancel(context.Background())
	dying := presence.New(c, opts, quiet)
	if err := dying.Start(dyingCtx); err != nil {
		t.Fatal(err)
	}
	if _, err := dying.Connect(dyingCtx, v, "laptop"); err != nil {
		t.Fatal(err)
	}
	flush(t, dying)
	survivor := presence.New(c, opts, quiet)
	if err := survivor.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { survivor.Stop(context.Background()) })
	if !state(t, c, v.UserID).Online {
		t.Fatal("not online")
	}
	die() // the heartbeat stops; nothing is cleaned up
	start := time.Now()
	eventually(t, deadAfter+2*survivor.Interval()+time.Second, "the dead instance's user goes offline", func() bool {
		return !state(t, c, v.UserID).Online
	})
	took := time.Since(start)
	t.Logf("offline %v after the instance died (bound %v + one heartbeat of %v)", took.Round(time.Millisecond), deadAfter, survivor.Interval())
	if u := state(t, c, v.UserID); u.Connections != 0 || u.LastSeenAt == nil {
		t.Errorf("after the sweep: %d connections, last seen %v", u.Connections, u.LastSeenAt)
	}
}

// TestBatched opens and closes many connections of one user at once: the
// user is online for everyone within a second of the first, and their row
// is written a few times, not once per connection.
func TestBatched(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, url string) {
		c, v := setup(t, url)
		ctx := context.Background()
		p := presence.New(c, presence.Options{Grace: 100 * time.Millisecond, DeadAfter: 3 * time.Second}, quiet)
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Stop(ctx) })
		before := state(t, c, v.UserID).Version
		const n = 300
		start := time.Now()
		handles := make([]int, n)
		for i := range handles {
			h, err := p.Connect(ctx, v, "tab")
			if err != nil {
				t.Fatal(err)
			}
			handles[i] = h
		}
		eventually(t, time.Second, "online within a second of connecting", func() bool { return state(t, c, v.UserID).Online })
		t.Logf("online %v after the first of %d connections", time.Since(start).Round(time.Millisecond), n)
		eventually(t, presence.DefaultCountEvery+5*time.Second, "every connection counted", func() bool {
			return state(t, c, v.UserID).Connections == n
		})
		if rows := c.Connection.Query().CountX(viewer.NewSystemContext(ctx)); rows != n {
			t.Fatalf("%d connection rows, want %d", rows, n)
		}
		if writes := state(t, c, v.UserID).Version - before; writes > 4 {
			t.Errorf("the user's row was written %d times for %d connections", writes, n)
		}
		for _, h := range handles {
			if err := p.Disconnect(ctx, h, v.UserID); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 3*time.Second, "offline after the last connection and the grace period", func() bool {
			u := state(t, c, v.UserID)
			return !u.Online && u.Connections == 0 && u.LastSeenAt != nil
		})
		if rows := c.Connection.Query().CountX(viewer.NewSystemContext(ctx)); rows != 0 {
			t.Fatalf("%d connection rows left", rows)
		}
	})
}
