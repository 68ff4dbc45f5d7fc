package wstransport

import (
	"context"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// writerPool runs the writers of every connection (of every Transport).
var writerPool = newWriters(max(4, 2*runtime.GOMAXPROCS(0)), 20*time.Millisecond)

// writers runs connection writers, each a run of drain, on goroutines that
// go from one connection to the next while connections wait for one. A
// writer is deep (gorilla, net, the poller): on a goroutine of its own for
// each run, it grew a new goroutine's stack every time, and in a fan-out to
// thousands of sockets that copying and the goroutines' start took a fifth
// of the CPU. A connection waiting for a writer is written by the first
// worker free; workers end once none waits, so an idle server keeps none.
//
// Up to size workers run. A write to a client that stopped reading blocks
// its worker until the write watchdog times it out: when the waiting
// connections have not moved for stall, one more worker starts, and again
// after each stall, so that blocked writes never hold up the others for
// longer than that.
type writers struct {
	size  int
	stall time.Duration

	mu      sync.Mutex
	waiting []writable // in order, from head
	head    int
	workers int
	taken   uint64 // connections taken so far, to tell a stall
	// checking: a check for a stall is scheduled.
	checking bool
}

// writable is a connection as its writer sees it (*conn).
type writable interface {
	// drain writes what is queued; it reports true when the connection
	// is closing instead.
	drain() (closing bool)
	// teardown ends a closing connection.
	teardown()
	// labels holds the profiler labels the connection's goroutines carry.
	labels() context.Context
}

func newWriters(size int, stall time.Duration) *writers {
	return &writers{size: size, stall: stall}
}

// run has c's writer run, c.writing being set.
func (w *writers) run(c writable) {
	w.mu.Lock()
	w.waiting = append(w.waiting, c)
	start := w.workers < w.size
	if start {
		w.workers++
	} else if !w.checking {
		w.scheduleCheck()
	}
	w.mu.Unlock()
	if start {
		go w.work()
	}
}

// work writes the connections that wait, one after the other, until none
// does.
func (w *writers) work() {
	for {
		c := w.next()
		if c == nil {
			return
		}
		// The worker writes for one connection, then another's: it
		// carries the labels of the one it writes for (a server's
		// goroutines, in tests with several servers in one process).
		pprof.SetGoroutineLabels(c.labels())
		if c.drain() {
			// Its close handshake waits for the client: not on a worker.
			go c.teardown()
		}
	}
}

// next returns the connection to write next, or nil when none waits: the
// worker then ends.
func (w *writers) next() writable {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.head == len(w.waiting) {
		clear(w.waiting)
		w.waiting, w.head = w.waiting[:0], 0
		w.workers--
		return nil
	}
	c := w.waiting[w.head]
	w.waiting[w.head] = nil
	w.head++
	w.taken++
	if w.head >= 1024 && 2*w.head >= len(w.waiting) {
		// Never empty under a steady load: the slots taken are reused.
		n := copy(w.waiting, w.waiting[w.head:])
		clear(w.waiting[n:])
		w.waiting, w.head = w.waiting[:n], 0
	}
	return c
}

// check starts one more worker when connections wait and none was taken
// since the check was scheduled (when taken had been taken).
func (w *writers) check(taken uint64) {
	w.mu.Lock()
	w.checking = false
	stalled := w.head < len(w.waiting) && w.taken == taken
	if stalled {
		w.workers++
	}
	if w.head < len(w.waiting) {
		w.scheduleCheck()
	}
	w.mu.Unlock()
	if stalled {
		go w.work()
	}
}

// scheduleCheck has check run after stall, with the connections taken by
// now; w.mu is held.
func (w *writers) scheduleCheck() {
	w.checking = true
	taken := w.taken
	time.AfterFunc(w.stall, func() { w.check(taken) })
}
