package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roster/internal/ratelimit"
	"roster/internal/store"
	"roster/internal/store/storetest"
)

// fakeClock is a clock that only moves when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openDB opens a new database of the target's kind.
func openDB(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// forEachTarget runs test against a new database of each kind.
func forEachTarget(t *testing.T, test func(t *testing.T, db *store.DB, url string)) {
	t.Helper()
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			url := target.URL(t)
			test(t, openDB(t, url), url)
		})
	}
}

func allow(t *testing.T, l *ratelimit.Limiter, checks ...ratelimit.Check) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), checks...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBurstRefillAndReset(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, db *store.DB, _ string) {
		rule := ratelimit.Rule{Name: "r", Limit: 5, Window: 10 * time.Second} // one per 2 s
		type step struct {
			wait      time.Duration
			key       string
			reset     bool
			wantOK    bool
			wantRetry time.Duration
		}
		ok := func(key string) step { return step{key: key, wantOK: true} }
		for _, tc := range []struct {
			name   string
			script []step
		}{
			{"burst then refused", []step{ok("a"), ok("a"), ok("a"), ok("a"), ok("a"),
				{key: "a", wantRetry: 2 * time.Second}, {key: "a", wantRetry: 2 * time.Second}}},
			{"refused attempts cost nothing", []step{ok("a"), ok("a"), ok("a"), ok("a"), ok("a"),
				{key: "a", wantRetry: 2 * time.Second}, {wait: time.Second, key: "a", wantRetry: time.Second},
				{wait: time.Second, key: "a", wantOK: true}, {key: "a", wantRetry: 2 * time.Second}}},
			{"a whole window refills", []step{ok("a"), ok("a"), ok("a"), ok("a"), ok("a"),
				{wait: 10 * time.Second, key: "a", wantOK: true}, ok("a"), ok("a"), ok("a"), ok("a"),
				{key: "a", wantRetry: 2 * time.Second}}},
			{"keys are apart", []step{ok("a"), ok("a"), ok("a"), ok("a"), ok("a"), ok("b"),
				{key: "a", wantRetry: 2 * time.Second}}},
			{"reset forgives", []step{ok("a"), ok("a"), ok("a"), ok("a"), ok("a"),
				{key: "a", reset: true}, ok("a"), ok("a"), ok("a"), ok("a"), ok("a"),
				{key: "a", wantRetry: 2 * time.Second}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				clock := newFakeClock()
				l := ratelimit.New(db.Driver, clock.Now)
				r := rule
				r.Name = tc.name // a table shared by the subtests
				for i, s := range tc.script {
					clock.Advance(s.wait)
					c := ratelimit.Check{Rule: r, Key: s.key}
					if s.reset {
						if err := l.Reset(context.Background(), c); err != nil {
							t.Fatal(err)
						}
						continue
					}
					if d := allow(t, l, c); d.OK != s.wantOK || d.RetryAfter != s.wantRetry {
						t.Errorf("step %d: %+v, want ok %v, retry %v", i, d, s.wantOK, s.wantRetry)
					}
				}
			})
		}
	})
}

func TestAllowAll(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, db *store.DB, _ string) {
		type attempt struct {
			wait      time.Duration
			account   string
			addr      string
			wantOK    bool
			wantRetry time.Duration
		}
		// Accounts: 3 per 30s (one per 10s). Addresses: 5 per 10s (one per 2s).
		ok := func(account, addr string) attempt { return attempt{account: account, addr: addr, wantOK: true} }
		for _, tc := range []struct {
			name     string
			attempts []attempt
		}{
			{"both allow", []attempt{ok("ana", "10.0.0.1"), ok("ana", "10.0.0.1")}},
			{"account blocked does not drain the address", []attempt{
				ok("ana", "10.0.0.1"), ok("ana", "10.0.0.1"), ok("ana", "10.0.0.1"),
				{account: "ana", addr: "10.0.0.1", wantRetry: 10 * time.Second},
				{account: "ana", addr: "10.0.0.1", wantRetry: 10 * time.Second},
				// The address has used 3 of 5, however often ana was refused.
				ok("bea", "10.0.0.1"), ok("carl", "10.0.0.1"),
				{account: "dan", addr: "10.0.0.1", wantRetry: 2 * time.Second},
			}},
			{"address blocked does not drain the account", []attempt{
				ok("a1", "10.0.0.2"), ok("a2", "10.0.0.2"), ok("a3", "10.0.0.2"), ok("a4", "10.0.0.2"), ok("ana", "10.0.0.2"),
				{account: "ana", addr: "10.0.0.2", wantRetry: 2 * time.Second},
				// ana has used 1 of 3.
				ok("ana", "10.0.0.3"), ok("ana", "10.0.0.3"),
				{account: "ana", addr: "10.0.0.3", wantRetry: 10 * time.Second},
			}},
			{"retryAfter is the longest wait", []attempt{
				ok("ana", "10.0.0.4"), ok("ana", "10.0.0.4"), ok("ana", "10.0.0.4"),
				ok("b", "10.0.0.4"), ok("c", "10.0.0.4"),
				{account: "ana", addr: "10.0.0.4", wantRetry: 10 * time.Second},
				{wait: 2 * time.Second, account: "ana", addr: "10.0.0.4", wantRetry: 8 * time.Second},
				{wait: 8 * time.Second, account: "ana", addr: "10.0.0.4", wantOK: true},
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				clock := newFakeClock()
				l := ratelimit.New(db.Driver, clock.Now)
				accounts := ratelimit.Rule{Name: tc.name + "/account", Limit: 3, Window: 30 * time.Second}
				addrs := ratelimit.Rule{Name: tc.name + "/address", Limit: 5, Window: 10 * time.Second}
				for i, a := range tc.attempts {
					clock.Advance(a.wait)
					d := allow(t, l, ratelimit.Check{Rule: accounts, Key: a.account}, ratelimit.Check{Rule: addrs, Key: a.addr})
					if d.OK != a.wantOK || d.RetryAfter != a.wantRetry {
						t.Errorf("attempt %d (%s from %s) = %+v, want %v, %v", i, a.account, a.addr, d, a.wantOK, a.wantRetry)
					}
				}
			})
		}
	})
}

// TestAllowSome: one email, accounts in several organizations; a blocked
// account does not keep the others from being tried.
func TestAllowSome(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, db *store.DB, _ string) {
		clock := newFakeClock()
		l := ratelimit.New(db.Driver, clock.Now)
		account := ratelimit.Rule{Name: "account", Limit: 2, Window: 20 * time.Second}
		address := ratelimit.Rule{Name: "address", Limit: 5, Window: 20 * time.Second}
		addr := []ratelimit.Check{{Rule: address, Key: "10.0.0.1"}}
		a, b := ratelimit.Check{Rule: account, Key: "1:ana"}, ratelimit.Check{Rule: account, Key: "2:ana"}
		ctx := context.Background()
		for i, want := range []struct {
			checks  []ratelimit.Check
			ok      bool
			allowed []bool
			retry   time.Duration
		}{
			{[]ratelimit.Check{a}, true, []bool{true}, 0},
			{[]ratelimit.Check{a}, true, []bool{true}, 0},
			// a is spent: b is still tried, a is not (nor charged).
			{[]ratelimit.Check{a, b}, true, []bool{false, true}, 10 * time.Second},
			{[]ratelimit.Check{a, b}, true, []bool{false, true}, 10 * time.Second},
			// Both spent: refused, the address is not charged.
			{[]ratelimit.Check{a, b}, false, []bool{false, false}, 10 * time.Second},
			// The address has 1 of 5 left.
			{[]ratelimit.Check{{Rule: account, Key: "3:bo"}}, true, []bool{true}, 0},
			{[]ratelimit.Check{{Rule: account, Key: "4:cy"}}, false, []bool{false}, 4 * time.Second},
		} {
			d, err := l.AllowSome(ctx, addr, want.checks)
			if err != nil {
				t.Fatal(err)
			}
			if d.OK != want.ok || fmt.Sprint(d.Allowed) != fmt.Sprint(want.allowed) || d.RetryAfter != want.retry {
				t.Errorf("attempt %d = %+v, want ok %v, allowed %v, retry %v", i, d, want.ok, want.allowed, want.retry)
			}
		}
	})
}

// TestSharedAcrossInstances: limiters on two connections to one database,
// as two instances of the server have, hammered at once, allow exactly the
// limit between them; the addresses are charged for the allowed attempts
// only.
func TestSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, db *store.DB, url string) {
		const goroutines, calls, limit = 16, 10, 40
		clock := newFakeClock()
		other := openDB(t, url)
		limiters := []*ratelimit.Limiter{ratelimit.New(db.Driver, clock.Now), ratelimit.New(other.Driver, clock.Now)}
		account := ratelimit.Rule{Name: "account", Limit: limit, Window: time.Hour}
		address := ratelimit.Rule{Name: "address", Limit: 100, Window: time.Hour}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				addr := []string{"10.0.0.1", "10.0.0.2"}[g%2]
				checks := []ratelimit.Check{{Rule: account, Key: "ana"}, {Rule: address, Key: addr}}
				if g%4 < 2 { // the other order must not deadlock
					checks[0], checks[1] = checks[1], checks[0]
				}
				for range calls {
					d, err := limiters[g%2].Allow(context.Background(), checks...)
					if err != nil {
						errs <- err
						return
					}
					if d.OK {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := allowed.Load(); got != limit {
			t.Errorf("allowed %d attempts for one account, want %d", got, limit)
		}
		left := 0
		for _, addr := range []string{"10.0.0.1", "10.0.0.2"} {
			for allow(t, limiters[0], ratelimit.Check{Rule: address, Key: addr}).OK {
				left++
			}
		}
		if left != 2*100-limit {
			t.Errorf("addresses had %d attempts left, want %d", left, 2*100-limit)
		}
	})
}

func TestSweep(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, db *store.DB, _ string) {
		clock := newFakeClock()
		l := ratelimit.New(db.Driver, clock.Now)
		rule := ratelimit.Rule{Name: "r", Limit: 2, Window: 10 * time.Second}
		allow(t, l, ratelimit.Check{Rule: rule, Key: "old"})
		clock.Advance(9 * time.Second)
		allow(t, l, ratelimit.Check{Rule: rule, Key: "new"})
		clock.Advance(2 * time.Second) // "old" is full again, "new" is not
		if err := l.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		var keys []string
		rows, err := db.SQL.Query("SELECT bucket FROM " + ratelimit.Table)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			_ = rows.Scan(&k)
			keys = append(keys, k)
		}
		if fmt.Sprint(keys) != "[r:new]" {
			t.Errorf("rows left = %v, want [r:new]", keys)
		}
	})
}
