// Package ratelimit owns the in-memory rate limits that protect sensitive
// endpoints such as login, multi-factor verification and password reset:
// a keyed limiter, and AllowAll to charge one attempt to several keys (say
// the account and the client address) at once.
//
// # Algorithm
//
// Each key has a token bucket of capacity limit that refills at limit tokens
// per window, implemented as the generic cell rate algorithm (GCRA): the
// limiter keeps one timestamp per key, the theoretical arrival time, so a
// key costs a map entry and no timers. A fresh key may make limit requests
// at once; after that one request is allowed every window/limit, and a key
// left alone for a whole window is back to limit. Refused requests cost
// nothing, so hammering a blocked key does not extend the block.
//
// # Memory
//
// A key whose bucket has refilled carries no state, so its entry is deleted
// without changing any decision. Such entries are swept from a shard when a
// call finds the shard has doubled in size since its last sweep or that a
// window has passed since then; the sweeps run inside the calls, so there is
// no goroutine to stop. While traffic goes on, entries therefore live at most
// about two windows after their key's last request, and memory follows the
// number of keys active in the last window or two. WithMaxKeys adds a hard bound for floods of
// distinct keys. Sweep can be called from a ticker to release memory when
// traffic stops altogether.
package ratelimit

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// numShards is the number of independently locked parts of a limiter's map.
const numShards = 32

// minSweep is the shard size below which growth alone does not trigger a
// sweep.
const minSweep = 64

// minRebuild is the peak shard size above which a shard that has shrunk to a
// quarter of it is copied into a smaller map, since Go maps never release
// the memory of deleted entries.
const minRebuild = 1024

// lastID numbers limiters, so that AllowAll locks shards in one global order.
var lastID atomic.Uint64

// Limiter limits, for each key, how many requests are allowed per window; see
// the package documentation for the exact policy. Create one with New; it is
// safe for concurrent use.
type Limiter struct {
	limit    int
	window   int64 // nanoseconds
	interval int64 // nanoseconds one request costs: window/limit, at least 1
	now      func() time.Time
	base     time.Time // times are kept as nanoseconds since base
	id       uint64
	seed     maphash.Seed
	maxShard int // most entries per shard; 0 for no bound
	shards   []shard
}

// shard is one independently locked part of a limiter's keys.
type shard struct {
	mu sync.Mutex
	// tat maps a key to its theoretical arrival time, in nanoseconds since
	// the limiter's base: the time at which its bucket would be full again,
	// plus one request's cost. Keys not in the map have full buckets.
	tat       map[string]int64
	sweepAt   int   // size at which the next sweep is due
	lastSweep int64 // when the last sweep ran
	peak      int   // largest size since the map was last rebuilt
	_         [64]byte
}

// Option configures a Limiter created by New.
type Option func(*Limiter)

// WithClock makes the limiter read the time from now instead of time.Now,
// for tests. The clock may stand still but should not go backwards.
func WithClock(now func() time.Time) Option {
	return func(l *Limiter) { l.now = now }
}

// WithMaxKeys bounds the number of keys the limiter tracks to n. When a new
// key would exceed the bound after refilled keys have been swept, the keys
// closest to having refilled are forgotten first (an eighth of the bound at
// a time, so the cost stays amortized), which forgives the least; the key
// being counted is never the one forgotten. This weakens the limit only for
// keys that are forgotten, so choose n well above the number of keys
// expected to be active in one window. n <= 0 means no bound, the default.
func WithMaxKeys(n int) Option {
	return func(l *Limiter) { l.maxShard = n }
}

// New returns a limiter that allows each key limit requests at once and
// limit requests per window in the long run. It panics if limit is less
// than 1 or window is not positive.
func New(limit int, window time.Duration, opts ...Option) *Limiter {
	if limit < 1 || window <= 0 {
		panic(fmt.Sprintf("ratelimit: New(%d, %v): limit and window must be positive", limit, window))
	}
	l := &Limiter{
		limit:    limit,
		window:   int64(window),
		interval: max(1, int64(window)/int64(limit)),
		now:      time.Now,
		id:       lastID.Add(1),
		seed:     maphash.MakeSeed(),
	}
	for _, o := range opts {
		o(l)
	}
	n := numShards
	if m := l.maxShard; m > 0 {
		// Small bounds get fewer shards, so that eviction picks from
		// enough keys to spare the busiest.
		n = min(n, max(1, m/minSweep))
		l.maxShard = m / n
	}
	l.shards = make([]shard, n)
	for i := range l.shards {
		l.shards[i].tat = make(map[string]int64)
		l.shards[i].sweepAt = minSweep
	}
	l.base = l.now()
	return l
}

// Limit returns the number of requests a key may make at once and per window.
func (l *Limiter) Limit() int { return l.limit }

// Window returns the time over which a key may make Limit requests.
func (l *Limiter) Window() time.Duration { return time.Duration(l.window) }

// Allow reports whether a request for key is allowed now, and counts it if
// so. When it is refused, retryAfter is how long until a request would be
// allowed, suitable for a Retry-After header; it is 0 when ok.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.clock()
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, known := s.tat[key]
	tat, retryAfter = l.decide(tat, known, now)
	if retryAfter > 0 {
		return false, retryAfter
	}
	l.store(s, key, tat, now)
	return true, 0
}

// Reset forgets key, giving it a full bucket again; call it, for example,
// after a successful login so earlier failures no longer count.
func (l *Limiter) Reset(key string) {
	s := l.shard(key)
	s.mu.Lock()
	delete(s.tat, key)
	s.mu.Unlock()
}

// Len returns the number of keys the limiter currently tracks, including
// refilled keys that have not been swept yet.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

// Sweep deletes every refilled key now and releases the memory of shards
// that have shrunk. Calls to Allow sweep on their own as traffic goes on;
// Sweep is for releasing memory once traffic has stopped.
func (l *Limiter) Sweep() {
	now := l.clock()
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		l.sweep(s, now)
		s.mu.Unlock()
	}
}

// clock returns the current time in nanoseconds since l.base.
func (l *Limiter) clock() int64 {
	return int64(l.now().Sub(l.base))
}

// shard returns the shard that holds key.
func (l *Limiter) shard(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
}

// decide applies GCRA to one request at now for a key whose stored arrival
// time is tat (known reports whether there is one). It returns the arrival
// time to store if the request is allowed, or else how long until one would
// be.
func (l *Limiter) decide(tat int64, known bool, now int64) (next int64, retryAfter time.Duration) {
	if !known || tat < now {
		tat = now
	}
	next = tat + l.interval
	if over := next - now - l.window; over > 0 {
		return 0, time.Duration(over)
	}
	return next, 0
}

// store records the arrival time of key after an allowed request and keeps
// the shard's size in check. s must be locked.
func (l *Limiter) store(s *shard, key string, tat, now int64) {
	s.tat[key] = tat
	n := len(s.tat)
	s.peak = max(s.peak, n)
	if n >= s.sweepAt || now-s.lastSweep >= l.window {
		l.sweep(s, now)
	}
	if l.maxShard > 0 && len(s.tat) > l.maxShard {
		l.sweep(s, now)
		if len(s.tat) > l.maxShard {
			l.evict(s, len(s.tat)-(l.maxShard-l.maxShard/8), key)
		}
	}
}

// sweep deletes the refilled keys of s, then copies what is left into a
// smaller map if the shard has shrunk to under a quarter of its peak. s must
// be locked.
func (l *Limiter) sweep(s *shard, now int64) {
	for k, tat := range s.tat {
		if tat <= now {
			delete(s.tat, k)
		}
	}
	n := len(s.tat)
	if s.peak >= minRebuild && n < s.peak/4 {
		m := make(map[string]int64, n)
		for k, tat := range s.tat {
			m[k] = tat
		}
		s.tat = m
		s.peak = n
	}
	s.sweepAt = max(2*n, minSweep)
	s.lastSweep = now
}

// evict deletes n keys of s other than keep, those with the earliest
// arrival times, which are the closest to having refilled. s must be locked
// and hold more than n keys.
func (l *Limiter) evict(s *shard, n int, keep string) {
	tats := make([]int64, 0, len(s.tat))
	for k, tat := range s.tat {
		if k != keep {
			tats = append(tats, tat)
		}
	}
	slices.Sort(tats)
	cutoff := tats[n-1]
	n -= sort.Search(n, func(i int) bool { return tats[i] == cutoff })
	for k, tat := range s.tat {
		switch {
		case k == keep || tat > cutoff:
		case tat < cutoff:
			delete(s.tat, k)
		case n > 0: // one of the keys at the cutoff
			delete(s.tat, k)
			n--
		}
	}
}

// Check names one key of one limiter, for AllowAll.
type Check struct {
	// Limiter is the limiter to consult; a nil Limiter is ignored.
	Limiter *Limiter
	// Key is what the request is counted against, such as an account ID
	// or a client address.
	Key string
}

// AllowAll reports whether a request is allowed by every check, and counts
// it against every check's key only if so: an attempt refused by one key
// (say, a locked account) does not also drain the others (say, the client
// address), and an attempt refused by several keys drains none. The decision
// is atomic, as if all the keys were one.
//
// When the request is refused, retryAfter is the longest wait among the
// refusing keys, after which every key would allow it (barring other
// requests). Checks with a nil Limiter are ignored; a key repeated for the
// same limiter counts once. With no checks the request is allowed.
func AllowAll(checks ...Check) (ok bool, retryAfter time.Duration) {
	type entry struct {
		l   *Limiter
		key string
		s   *shard
		idx int
		now int64
		tat int64
	}
	var buf, lockBuf [4]entry // enough for the usual two or three checks
	entries := buf[:0]
next:
	for _, c := range checks {
		if c.Limiter == nil {
			continue
		}
		for _, e := range entries {
			if e.l == c.Limiter && e.key == c.Key {
				continue next
			}
		}
		l := c.Limiter
		idx := int(maphash.String(l.seed, c.Key) % uint64(len(l.shards)))
		entries = append(entries, entry{l: l, key: c.Key, s: &l.shards[idx], idx: idx, now: l.clock()})
	}
	switch len(entries) {
	case 0:
		return true, 0
	case 1:
		return entries[0].l.Allow(entries[0].key)
	}

	// Lock every shard involved once, in the order of limiter and shard
	// number, so concurrent calls naming the same keys cannot deadlock.
	locks := append(lockBuf[:0], entries...)
	slices.SortFunc(locks, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.l.id, b.l.id), cmp.Compare(a.idx, b.idx))
	})
	locks = slices.CompactFunc(locks, func(a, b entry) bool { return a.s == b.s })
	for _, e := range locks {
		e.s.mu.Lock()
	}
	defer func() {
		for _, e := range locks {
			e.s.mu.Unlock()
		}
	}()

	for i := range entries {
		e := &entries[i]
		tat, known := e.s.tat[e.key]
		var wait time.Duration
		e.tat, wait = e.l.decide(tat, known, e.now)
		retryAfter = max(retryAfter, wait)
	}
	if retryAfter > 0 {
		return false, retryAfter
	}
	for _, e := range entries {
		e.l.store(e.s, e.key, e.tat, e.now)
	}
	return true, 0
}
