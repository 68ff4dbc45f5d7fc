package pubsub

import "sync"

// fanout delivers messages to the subscribers of one process. Both brokers
// use it: Memory feeds it from Publish, Postgres from its listener.
//
// Deliveries are serialised by mu, so every subscriber sees the messages of
// a topic in the same order, and a subscriber's channel has one sender at a
// time, which lets deliver empty a full buffer and replace it by a Resync
// without blocking.
type fanout struct {
	buffer int

	mu     sync.Mutex
	topics map[string]map[*subscriber]struct{}
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ch     chan Message
	topics []string
	closed bool // guarded by fanout.mu
}

func newFanout(buffer int) *fanout {
	return &fanout{
		buffer: buffer,
		topics: make(map[string]map[*subscriber]struct{}),
		subs:   make(map[*subscriber]struct{}),
	}
}

// subscribe registers a subscriber to topics.
func (f *fanout) subscribe(topics []string) (<-chan Message, func()) {
	s := &subscriber{ch: make(chan Message, f.buffer)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(s.ch)
		return s.ch, func() {}
	}
	f.subs[s] = struct{}{}
	for _, t := range topics {
		set := f.topics[t]
		if set == nil {
			set = make(map[*subscriber]struct{})
			f.topics[t] = set
		}
		if _, dup := set[s]; dup {
			continue
		}
		set[s] = struct{}{}
		s.topics = append(s.topics, t)
	}
	return s.ch, func() { f.unsubscribe(s) }
}

func (f *fanout) unsubscribe(s *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.closed {
		return
	}
	for _, t := range s.topics {
		set := f.topics[t]
		delete(set, s)
		if len(set) == 0 {
			delete(f.topics, t)
		}
	}
	delete(f.subs, s)
	s.closed = true
	close(s.ch)
}

// publish delivers m to the subscribers of m.Topic. It returns false if the
// fan-out is closed.
func (f *fanout) publish(m Message) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	for s := range f.topics[m.Topic] {
		s.deliver(m)
	}
	return true
}

// resync delivers a Resync notice to every subscriber.
func (f *fanout) resync() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.deliver(Message{Resync: true})
	}
}

// close closes every subscriber's channel; later subscribers get a closed
// channel and publish returns false.
func (f *fanout) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for s := range f.subs {
		s.closed = true
		close(s.ch)
	}
	f.subs = nil
	f.topics = nil
}

// deliver sends m to s without blocking. If the buffer is full, it drops
// the buffered messages and m, and queues a Resync instead. The caller
// holds fanout.mu, so no other goroutine sends on s.ch meanwhile, and the
// receiver only makes room: the Resync always fits.
func (s *subscriber) deliver(m Message) {
	select {
	case s.ch <- m:
		return
	default:
	}
	for drained := false; !drained; {
		select {
		case <-s.ch:
		default:
			drained = true
		}
	}
	select {
	case s.ch <- Message{Resync: true}:
	default: // unreachable: the channel is empty and we are its only sender
	}
}
