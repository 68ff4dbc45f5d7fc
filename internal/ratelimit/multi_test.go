package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAllowAll(t *testing.T) {
	t.Parallel()
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
			{account: "ana", addr: "10.0.0.1", wantRetry: 10 * time.Second},
			// The address has used 3 of 5, however often ana was refused.
			ok("bea", "10.0.0.1"), ok("carl", "10.0.0.1"),
			{account: "dan", addr: "10.0.0.1", wantRetry: 2 * time.Second},
		}},
		{"address blocked does not drain the account", []attempt{
			ok("a1", "10.0.0.2"), ok("a2", "10.0.0.2"), ok("a3", "10.0.0.2"), ok("a4", "10.0.0.2"), ok("ana", "10.0.0.2"),
			{account: "ana", addr: "10.0.0.2", wantRetry: 2 * time.Second},
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
			t.Parallel()
			clock := newFakeClock()
			accounts := New(3, 30*time.Second, WithClock(clock.Now))
			addrs := New(5, 10*time.Second, WithClock(clock.Now))
			for i, a := range tc.attempts {
				clock.Advance(a.wait)
				ok, retry := AllowAll(Check{accounts, a.account}, Check{addrs, a.addr})
				if ok != a.wantOK || retry != a.wantRetry {
					t.Errorf("attempt %d (%s from %s) = %v, %v, want %v, %v", i, a.account, a.addr, ok, retry, a.wantOK, a.wantRetry)
				}
			}
		})
	}
}

func TestAllowAllEdgeCases(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	newLimiter := func() *Limiter { return New(2, time.Minute, WithClock(clock.Now)) }
	for _, tc := range []struct {
		name  string
		calls func(l *Limiter) []bool
		want  []bool
	}{
		{"no checks", func(*Limiter) []bool {
			ok, _ := AllowAll()
			return []bool{ok}
		}, []bool{true}},
		{"nil limiters are ignored", func(l *Limiter) []bool {
			var got []bool
			for range 3 {
				ok, _ := AllowAll(Check{nil, "x"}, Check{l, "k"}, Check{nil, "y"})
				got = append(got, ok)
			}
			return got
		}, []bool{true, true, false}},
		{"a repeated key counts once", func(l *Limiter) []bool {
			var got []bool
			for range 3 {
				ok, _ := AllowAll(Check{l, "k"}, Check{l, "k"})
				got = append(got, ok)
			}
			return got
		}, []bool{true, true, false}},
		{"two keys of one limiter", func(l *Limiter) []bool {
			a, _ := AllowAll(Check{l, "a"}, Check{l, "b"})
			b, _ := AllowAll(Check{l, "b"}, Check{l, "c"})
			c, _ := AllowAll(Check{l, "a"}, Check{l, "b"}) // b is spent
			d, _ := l.Allow("a")                           // a was not drained by c
			return []bool{a, b, c, d}
		}, []bool{true, true, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.calls(newLimiter())
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %v, want %v", got, tc.want)
					break
				}
			}
		})
	}
}

func TestAllowAllConcurrent(t *testing.T) {
	t.Parallel()
	const goroutines, calls = 64, 100
	clock := newFakeClock()
	accounts := New(40, time.Minute, WithClock(clock.Now))
	addrs := New(1000, time.Minute, WithClock(clock.Now))
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			addr := []string{"10.0.0.1", "10.0.0.2"}[g%2]
			for range calls {
				// Half the goroutines name the limiters in the other order,
				// which must not deadlock.
				checks := []Check{{accounts, "ana"}, {addrs, addr}}
				if g%4 < 2 {
					checks[0], checks[1] = checks[1], checks[0]
				}
				if ok, _ := AllowAll(checks...); ok {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 40 {
		t.Errorf("allowed %d attempts for one account, want 40", got)
	}
	// The 40 allowed attempts are all the addresses were charged for; the
	// 6360 refused ones would have drained both.
	left := 0
	for _, addr := range []string{"10.0.0.1", "10.0.0.2"} {
		for {
			ok, _ := addrs.Allow(addr)
			if !ok {
				break
			}
			left++
		}
	}
	if left != 2*1000-40 {
		t.Errorf("addresses had %d requests left, want %d", left, 2*1000-40)
	}
}
