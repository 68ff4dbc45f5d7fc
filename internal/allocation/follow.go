package allocation

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"roster/internal/pubsub"
)

// userTopic is the topic of the user events the realtime package
// publishes after commit, on every instance.
const userTopic = "users"

// userEvent is what Follow reads of a user event.
type userEvent struct {
	Org    int  `json:"o"`
	Status bool `json:"s,omitempty"`
	// Row is the user as the change left them.
	Row *struct {
		Availability string `json:"availability"`
		Online       bool   `json:"online"`
	} `json:"r"`
}

// Follow moves the queue of an organization when one of its users comes
// online or changes availability (a user event of any instance), until
// ctx ends. Drains of one organization are coalesced: at most one runs at a
// time, and events during it cause one more.
func (s *Service) Follow(ctx context.Context, broker pubsub.Broker) {
	msgs, cancel := broker.Subscribe(userTopic)
	var mu sync.Mutex
	running := map[int]bool{}
	again := map[int]bool{}
	var drain func(org int)
	drain = func(org int) {
		mu.Lock()
		if running[org] {
			again[org] = true
			mu.Unlock()
			return
		}
		running[org] = true
		mu.Unlock()
		go func() {
			for {
				s.drainLogged(ctx, org)
				mu.Lock()
				if !again[org] || ctx.Err() != nil {
					delete(running, org)
					delete(again, org)
					mu.Unlock()
					return
				}
				delete(again, org)
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				var ev userEvent
				if err := json.Unmarshal(m.Payload, &ev); err != nil || ev.Org == 0 {
					continue
				}
				// A status change that leaves the user present and
				// available: they may take queued work. Other changes
				// (capacity, membership) move the queue at the next sweep.
				if ev.Status && ev.Row != nil && ev.Row.Online && (ev.Row.Availability == "ONLINE" || ev.Row.Availability == "BUSY") {
					drain(ev.Org)
				}
			}
		}
	}()
}
