package ratelimit

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// step is one action of a scripted test: advance the clock by wait, then
// make a request for key (or reset it), and expect ok and retryAfter.
type step struct {
	wait      time.Duration
	key       string
	reset     bool
	wantOK    bool
	wantRetry time.Duration
}

func runScript(t *testing.T, l *Limiter, clock *fakeClock, script []step) {
	t.Helper()
	for i, s := range script {
		clock.Advance(s.wait)
		if s.reset {
			l.Reset(s.key)
			continue
		}
		ok, retry := l.Allow(s.key)
		if ok != s.wantOK || retry != s.wantRetry {
			t.Errorf("step %d: after %v, Allow(%q) = %v, %v, want %v, %v", i, s.wait, s.key, ok, retry, s.wantOK, s.wantRetry)
		}
	}
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limit  int
		window time.Duration
	}{
		{0, time.Minute},
		{-1, time.Minute},
		{5, 0},
		{5, -time.Second},
	} {
		t.Run(fmt.Sprintf("%d per %v", tc.limit, tc.window), func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d, %v) did not panic", tc.limit, tc.window)
				}
			}()
			New(tc.limit, tc.window)
		})
	}
}

func TestBoundary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limit  int
		window time.Duration
	}{
		{1, time.Minute},
		{5, 15 * time.Minute},
		{7, time.Minute}, // window not a multiple of limit
		{10, time.Second},
		{1000, time.Hour},
	} {
		t.Run(fmt.Sprintf("%d per %v", tc.limit, tc.window), func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			l := New(tc.limit, tc.window, WithClock(clock.Now))
			if l.Limit() != tc.limit || l.Window() != tc.window {
				t.Errorf("Limit, Window = %d, %v", l.Limit(), l.Window())
			}
			for i := 1; i <= tc.limit; i++ {
				if ok, retry := l.Allow("k"); !ok || retry != 0 {
					t.Fatalf("request %d of %d: Allow = %v, %v", i, tc.limit, ok, retry)
				}
			}
			interval := tc.window / time.Duration(tc.limit)
			ok, retry := l.Allow("k")
			if ok {
				t.Fatalf("request %d allowed", tc.limit+1)
			}
			// The next token arrives one interval (window/limit) on, give or
			// take the nanoseconds lost dividing window by limit.
			if d := interval - retry; d < 0 || d >= time.Duration(tc.limit) {
				t.Errorf("retryAfter = %v, want %v", retry, interval)
			}
			clock.Advance(retry - 1)
			if ok, _ := l.Allow("k"); ok {
				t.Error("allowed 1ns before retryAfter")
			}
			clock.Advance(1)
			if ok, _ := l.Allow("k"); !ok {
				t.Error("refused at retryAfter")
			}
			if ok, _ := l.Allow("k"); ok {
				t.Error("a second request allowed right after the refilled one")
			}
		})
	}
}

func TestScripts(t *testing.T) {
	t.Parallel()
	// 5 requests per 10s: one token every 2s.
	const limit, window = 5, 10 * time.Second
	allow := func(wait time.Duration, key string) step { return step{wait: wait, key: key, wantOK: true} }
	refuse := func(wait time.Duration, key string, retry time.Duration) step {
		return step{wait: wait, key: key, wantRetry: retry}
	}
	burst := func(key string) []step {
		return []step{allow(0, key), allow(0, key), allow(0, key), allow(0, key), allow(0, key)}
	}
	for _, tc := range []struct {
		name   string
		script []step
	}{
		{"retryAfter counts down", append(burst("a"),
			refuse(0, "a", 2*time.Second),
			refuse(500*time.Millisecond, "a", 1500*time.Millisecond),
			refuse(time.Second, "a", 500*time.Millisecond),
			allow(500*time.Millisecond, "a"),
			refuse(0, "a", 2*time.Second),
		)},
		{"refused requests cost nothing", append(burst("a"),
			refuse(0, "a", 2*time.Second),
			refuse(0, "a", 2*time.Second),
			refuse(time.Second, "a", time.Second),
			refuse(0, "a", time.Second),
			allow(time.Second, "a"),
		)},
		{"one token per interval", append(burst("a"),
			allow(2*time.Second, "a"),
			refuse(0, "a", 2*time.Second),
			allow(2*time.Second, "a"),
			allow(2*time.Second, "a"),
			refuse(0, "a", 2*time.Second),
		)},
		{"full after a window", append(append(burst("a"),
			refuse(0, "a", 2*time.Second)),
			append(burst("a")[:0], append([]step{allow(window, "a")}, burst("a")[1:]...)...)...,
		)},
		{"no more than limit after a long pause", append(append([]step{allow(time.Hour, "a")}, burst("a")[1:]...),
			refuse(0, "a", 2*time.Second),
		)},
		{"requests slower than the refill never block", []step{
			allow(0, "a"), allow(3*time.Second, "a"), allow(3*time.Second, "a"), allow(2*time.Second, "a"),
			allow(0, "a"), allow(0, "a"), allow(0, "a"), allow(0, "a"),
			refuse(0, "a", 2*time.Second),
		}},
		{"partial refill", append(burst("a"),
			allow(5*time.Second, "a"), allow(0, "a"),
			refuse(0, "a", time.Second),
		)},
		{"reset", append(burst("a"),
			refuse(0, "a", 2*time.Second),
			step{key: "a", reset: true},
			allow(0, "a"), allow(0, "a"), allow(0, "a"), allow(0, "a"), allow(0, "a"),
			refuse(0, "a", 2*time.Second),
		)},
		{"reset of an unknown key", []step{
			{key: "nobody", reset: true},
			allow(0, "nobody"),
		}},
		{"independent keys", append(append(burst("a"),
			refuse(0, "a", 2*time.Second)),
			append(burst("b"),
				refuse(0, "b", 2*time.Second),
				refuse(time.Second, "a", time.Second),
				step{key: "b", reset: true},
				refuse(0, "a", time.Second),
				allow(0, "b"),
			)...,
		)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			runScript(t, New(limit, window, WithClock(clock.Now)), clock, tc.script)
		})
	}
}

func TestRealClock(t *testing.T) {
	t.Parallel()
	l := New(2, time.Hour)
	for i, want := range []bool{true, true, false} {
		if ok, retry := l.Allow("k"); ok != want || ok == (retry > 0) {
			t.Errorf("request %d: Allow = %v, %v, want ok %v", i+1, ok, retry, want)
		}
	}
}

func TestSweepReleasesKeys(t *testing.T) {
	t.Parallel()
	const n = 100_000
	for _, tc := range []struct {
		name  string
		after func(l *Limiter)
		want  int
	}{
		{"Sweep", func(l *Limiter) { l.Sweep() }, 0},
		{"traffic on other keys", func(l *Limiter) {
			for i := range 1000 {
				l.Allow("new-" + strconv.Itoa(i))
			}
		}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			l := New(5, time.Minute, WithClock(clock.Now))
			for i := range n {
				l.Allow(strconv.Itoa(i))
			}
			if got := l.Len(); got != n {
				t.Fatalf("Len after %d keys = %d", n, got)
			}
			// Every bucket has refilled after one interval (12s); sweeps
			// triggered by traffic come once a window.
			clock.Advance(time.Minute)
			tc.after(l)
			if got := l.Len(); got != tc.want {
				t.Errorf("Len = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSweepKeepsActiveKeys(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := New(2, time.Minute, WithClock(clock.Now))
	l.Allow("spent")
	l.Allow("spent")
	l.Allow("half")
	clock.Advance(31 * time.Second) // "half" has refilled, "spent" has not
	l.Sweep()
	if got := l.Len(); got != 1 {
		t.Errorf("Len = %d, want 1", got)
	}
	if ok, retry := l.Allow("spent"); !ok || retry != 0 {
		t.Errorf("Allow(spent) = %v, %v after one interval", ok, retry)
	}
	if ok, retry := l.Allow("spent"); ok || retry != 29*time.Second {
		t.Errorf("Allow(spent) = %v, %v, want false, 29s", ok, retry)
	}
}

func TestMemoryFollowsActiveKeys(t *testing.T) {
	t.Parallel()
	// A stream of distinct keys, 1000 per window: without sweeping the map
	// would reach 100000 entries.
	clock := newFakeClock()
	l := New(5, time.Second, WithClock(clock.Now))
	largest := 0
	for i := range 100_000 {
		clock.Advance(time.Millisecond)
		if ok, _ := l.Allow(strconv.Itoa(i)); !ok {
			t.Fatalf("request for new key %d refused", i)
		}
		if i%100 == 0 {
			largest = max(largest, l.Len())
		}
	}
	t.Logf("largest Len: %d", largest)
	if largest > 4000 {
		t.Errorf("limiter tracked up to %d keys with 1000 active per window", largest)
	}
}

func TestMaxKeys(t *testing.T) {
	t.Parallel()
	for _, max := range []int{1, 2, 10, 1000, 5000} {
		t.Run(strconv.Itoa(max), func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			l := New(3, time.Minute, WithClock(clock.Now), WithMaxKeys(max))
			for i := range 20_000 {
				if i%7 == 0 {
					clock.Advance(time.Millisecond)
				}
				l.Allow(strconv.Itoa(i))
				if n := l.Len(); n > max {
					t.Fatalf("after %d keys Len = %d, want at most %d", i+1, n, max)
				}
			}
			if max == 1 {
				return
			}
			// The most indebted key is kept.
			for range 3 {
				l.Allow("busy")
			}
			l.Allow("other")
			if ok, _ := l.Allow("busy"); ok {
				t.Error("the spent key was forgotten")
			}
		})
	}
}

func TestConcurrentOneKey(t *testing.T) {
	t.Parallel()
	const goroutines, calls, limit = 64, 100, 250
	clock := newFakeClock()
	l := New(limit, time.Minute, WithClock(clock.Now))
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				if ok, _ := l.Allow("shared"); ok {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != limit {
		t.Errorf("%d goroutines × %d calls allowed %d, want %d", goroutines, calls, got, limit)
	}
}

func TestConcurrentManyKeys(t *testing.T) {
	t.Parallel()
	const goroutines, keys, limit = 64, 50, 10
	clock := newFakeClock()
	l := New(limit, time.Minute, WithClock(clock.Now), WithMaxKeys(10_000))
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range 100 {
				k := (g + i) % keys
				if ok, _ := l.Allow(strconv.Itoa(k)); ok {
					allowed[k].Add(1)
				}
				if i%10 == 0 {
					l.Len()
					l.Sweep()
				}
			}
		})
	}
	wg.Wait()
	for k := range allowed {
		if got := allowed[k].Load(); got != limit {
			t.Errorf("key %d: %d allowed, want %d", k, got, limit)
		}
	}
}
