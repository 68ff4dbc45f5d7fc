package realtime

import (
	"context"
	"fmt"
)

// queue holds the events waiting for one subscription (of users, or of
// one type of object), of type E as the broker carries them. The hub
// pushes into it without ever blocking.
type queue[E any] struct {
	items chan item[E]
	// behind is set when the queue overflowed: the subscription re-reads
	// the state once it catches up. Guarded by the hub's lock.
	behind bool
}

// item is an event for a subscription, or a request to re-read the state.
type item[E any] struct {
	event  E
	resync bool
	// snapshot asks a resync for every object the subscriber may see, as
	// a snapshot ended by SNAPSHOT_END, not only for the ones changed
	// since it started.
	snapshot bool
}

func newQueue[E any]() queue[E] { return queue[E]{items: make(chan item[E], queueSize)} }

// push queues it without blocking, and reports whether it could; the hub's
// lock is held. Once an item was dropped, none is queued until the
// subscription re-reads the state: handled after the dropped one, an
// event could be judged by what it should have changed (a subscriber's
// own divisions, say), and the re-reading covers it anyway.
func (q *queue[E]) push(it item[E]) bool {
	if q.behind {
		return false
	}
	select {
	case q.items <- it:
		return true
	default:
		q.behind = true
		return false
	}
}

// follow runs a subscription: register(true) adds q where the hub pushes
// the subscription's events, and a goroutine hands each item to handle
// until ctx is done, then register(false) removes q and done is called
// (register is called with the hub's lock held).
//
// With snapshot, the first item handled asks for a snapshot. The queue is
// registered first and the state read after, when that item is handled:
// a change that commits while the state is read waits in the queue behind
// it, and handle sends it only if newer than what the snapshot sent (by
// version). So no change falls between the snapshot and the stream, and
// none is sent out of order.
func follow[E any](ctx context.Context, h *Hub, q *queue[E], snapshot bool, register func(add bool), handle func(item[E]), done func()) {
	if snapshot {
		q.items <- item[E]{resync: true, snapshot: true}
	}
	h.mu.Lock()
	register(true)
	h.mu.Unlock()
	go func() {
		defer done()
		defer func() {
			h.mu.Lock()
			register(false)
			h.mu.Unlock()
		}()
		defer func() {
			if p := recover(); p != nil {
				h.log.ErrorContext(ctx, "subscription failed", "panic", fmt.Sprint(p))
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case it := <-q.items:
				handle(it)
				h.mu.Lock()
				behind := q.behind && len(q.items) == 0
				if behind {
					q.behind = false
				}
				h.mu.Unlock()
				if behind {
					handle(item[E]{resync: true})
				}
			}
		}
	}()
}
