package wstransport

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeWritable counts its writes; block, when set, holds them until closed.
type fakeWritable struct {
	writes   atomic.Int32
	block    chan struct{}
	closing  bool
	tornDown chan struct{}
	done     *sync.WaitGroup
}

func (f *fakeWritable) drain() bool {
	if f.block != nil {
		<-f.block
	}
	f.writes.Add(1)
	f.done.Done()
	return f.closing
}

func (f *fakeWritable) teardown() { close(f.tornDown) }

func (f *fakeWritable) labels() context.Context { return context.Background() }

// TestWriters: every connection handed to the pool is written once, by at
// most size workers while none blocks; a closing one is torn down; the
// workers end once none waits; writes blocked on every worker hold the
// others up for about the stall time only.
func TestWriters(t *testing.T) {
	w := newWriters(3, 20*time.Millisecond)
	var done sync.WaitGroup
	var peak atomic.Int32
	conns := make([]*fakeWritable, 5000)
	for i := range conns {
		conns[i] = &fakeWritable{done: &done}
	}
	conns[7].closing, conns[7].tornDown = true, make(chan struct{})
	done.Add(len(conns))
	for _, c := range conns {
		w.run(c)
		w.mu.Lock()
		peak.Store(max(peak.Load(), int32(w.workers)))
		w.mu.Unlock()
	}
	done.Wait()
	for i, c := range conns {
		if n := c.writes.Load(); n != 1 {
			t.Fatalf("connection %d written %d times", i, n)
		}
	}
	if p := peak.Load(); p > 3 {
		t.Errorf("%d workers ran, more than the 3 allowed while none blocked", p)
	}
	select {
	case <-conns[7].tornDown:
	case <-time.After(5 * time.Second):
		t.Fatal("the closing connection was not torn down")
	}
	idle(t, w)

	// Three writes block, taking every worker: the next connections are
	// written by workers started after a stall.
	block := make(chan struct{})
	var blocked sync.WaitGroup
	blocked.Add(3)
	for range 3 {
		w.run(&fakeWritable{block: block, done: &blocked})
	}
	var rest sync.WaitGroup
	rest.Add(10)
	start := time.Now()
	for range 10 {
		w.run(&fakeWritable{done: &rest})
	}
	written := make(chan struct{})
	go func() { rest.Wait(); close(written) }()
	select {
	case <-written:
		t.Logf("the connections behind blocked writes waited %v", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("the connections behind blocked writes were not written")
	}
	close(block)
	blocked.Wait()
	idle(t, w)
}

// idle waits for the pool's workers to end.
func idle(t *testing.T, w *writers) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; runtime.Gosched() {
		w.mu.Lock()
		n, waiting := w.workers, len(w.waiting)-w.head
		w.mu.Unlock()
		if n == 0 && waiting == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still run, %d connections wait", n, waiting)
		}
		time.Sleep(time.Millisecond)
	}
}
