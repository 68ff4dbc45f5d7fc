// Package gcfloor keeps the garbage collector from running more often than
// a floor of heap growth allows while the live heap is small.
//
// With GOGC=100 the heap may grow to twice what the last collection found
// live. A server that keeps little (a few MB of caches and schema) while
// its requests allocate much and keep nothing collects dozens of times a
// second: listing 50 users, about a fifth of roster's CPU went to the
// collector. After each collection, gcfloor raises the collector's
// percentage so that the heap may grow to about the floor while the live
// heap is under half of it, and puts GOGC back once it is over: where
// thousands of websockets are open and the live heap is large, the memory
// they cost is unchanged.
//
// It reads the live heap the collection marked (runtime/metrics'
// /gc/heap/live:bytes). The in-use heap (runtime.MemStats.HeapInuse) read
// when a collection's finalizers run still holds what that collection has
// not swept yet, and a percentage computed from it settles at about the
// geometric mean of the live heap and the floor rather than the floor.
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
)

// maxPercent bounds the percentage: a heap tiny enough to want more is
// collected at 11 times its live size, well under the floor.
const maxPercent = 1000

var once sync.Once

// Start makes the heap grow to about floor bytes before a collection while
// the live heap is under half of it; above, GOGC applies (100 when the
// environment variable is unset). The collector's setting is the
// process's: the first call with a non-zero floor starts it for the life
// of the process, and later calls do nothing. A floor of 0, or GOGC=off
// or any setting but a positive percentage, leaves the collector alone.
func Start(floor uint64) {
	if floor == 0 {
		return
	}
	percent := 100
	if v := os.Getenv("GOGC"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return
		}
		percent = n
	}
	once.Do(func() {
		t := &tuner{floor: floor, base: percent, current: percent}
		t.arm(new(sentinel))
	})
}

// Percent returns the collector's percentage now (-1: off).
func Percent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	p := int(s[0].Value.Uint64())
	if p == 0 && os.Getenv("GOGC") == "off" {
		return -1
	}
	return p
}

// percentFor returns the percentage that lets a live heap of live bytes
// grow to about floor before the next collection, never under base.
func percentFor(live, floor uint64, base int) int {
	if live == 0 || live >= floor {
		return base
	}
	p := int((floor - live) * 100 / live)
	return min(max(p, base), max(base, maxPercent))
}

type tuner struct {
	floor   uint64
	base    int
	current int // set by the finalizer goroutine only
	sample  [1]metrics.Sample
}

// sentinel is unreachable from the moment it is armed: its finalizer runs
// after each collection, and arms it again. Its pointer keeps it out of the
// tiny allocator, whose shared blocks may outlive it and its finalizer.
type sentinel struct{ _ *int }

func (t *tuner) arm(s *sentinel) {
	runtime.SetFinalizer(s, func(s *sentinel) {
		t.afterGC()
		t.arm(s)
	})
}

func (t *tuner) afterGC() {
	t.sample[0].Name = "/gc/heap/live:bytes"
	metrics.Read(t.sample[:])
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := percentFor(t.sample[0].Value.Uint64(), t.floor, t.base)
	// A change of under a tenth is not worth the collector's bookkeeping.
	if d := p - t.current; d*10 > t.current || -d*10 > t.current || p == t.base && t.current != t.base {
		debug.SetGCPercent(p)
		t.current = p
	}
}
