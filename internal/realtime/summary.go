package realtime

import (
	"context"
	"sync"
	"time"

	"roster/ent"
	"roster/internal/access"
	"roster/internal/auth"
	"roster/internal/presence"
	"roster/internal/viewer"
)

// SummaryInterval is the least time between two presence summaries a
// subscriber is sent: changes that come faster are folded into the next
// summary, which always shows the latest state.
const SummaryInterval = 250 * time.Millisecond

// summaryRetry is how long a summary that could not be read waits to be
// read again.
const summaryRetry = 2 * time.Second

// SummaryMeter, when the hub's Meter implements it, is told of every
// presence summary the hub computes.
type SummaryMeter interface {
	SummaryComputed()
}

// summaryKey names the subscribers who are sent the same summaries: the
// same visibility (access.VisibilityOf, which the privacy rules filter
// by) and the same division.
type summaryKey struct {
	visibility string
	division   int
}

// summaryFeed computes the presence summary of one summaryKey for every
// subscriber of this instance who shares it: once per burst of changes,
// at most once per SummaryInterval.
type summaryFeed struct {
	hub *Hub
	org int
	key summaryKey

	mu   sync.Mutex
	subs map[*summarySub]struct{}
	// current is the last summary computed; nil before the first.
	current *presence.Summary
	// dirty: a change arrived since the last computation started.
	dirty bool
	// scheduled: a computation is due or running.
	scheduled bool
	// last is when the last computation ended: the next starts
	// SummaryInterval later at the earliest, so summaries are sent at
	// least that far apart.
	last   time.Time
	timer  *time.Timer
	closed bool
}

// summarySub is one subscriber: it holds only the latest summary it was
// not sent yet, so a slow reader skips summaries, never queues them.
type summarySub struct {
	viewer *viewer.Viewer
	wake   chan struct{} // capacity 1
	// failed is closed when the feed can no longer be read for it (its
	// division was deleted, or is no longer visible).
	failed chan struct{}
	mu     sync.Mutex
	latest *presence.Summary
}

func (s *summarySub) offer(sum *presence.Summary) {
	s.mu.Lock()
	s.latest = sum
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *summarySub) take() *presence.Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := s.latest
	s.latest = nil
	return sum
}

// PresenceSummary subscribes the viewer in ctx to the presence summary of
// the users they may see (the members of divisionID when it is not zero),
// as presence.Summarize counts them, until ctx is done: first the current
// summary, then a new one whenever it changes, at most one per
// SummaryInterval. Subscribers of this instance with the same visibility
// and division share one computation per burst of changes.
func (h *Hub) PresenceSummary(ctx context.Context, divisionID int) (<-chan *presence.Summary, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	var f Filter
	if divisionID != 0 {
		f.DivisionID = &divisionID
	}
	if err := f.check(ctx, h.client); err != nil {
		return nil, err
	}
	vis, _ := access.VisibilityOf(v)
	key := summaryKey{visibility: vis.Key(), division: divisionID}
	sub := &summarySub{viewer: v, wake: make(chan struct{}, 1), failed: make(chan struct{})}

	h.mu.Lock()
	if h.feeds[v.OrganizationID] == nil {
		h.feeds[v.OrganizationID] = map[summaryKey]*summaryFeed{}
	}
	feed := h.feeds[v.OrganizationID][key]
	if feed == nil {
		feed = &summaryFeed{hub: h, org: v.OrganizationID, key: key, subs: map[*summarySub]struct{}{}}
		h.feeds[v.OrganizationID][key] = feed
	}
	feed.mu.Lock()
	feed.subs[sub] = struct{}{}
	if feed.current != nil {
		sub.offer(feed.current)
	} else {
		// Registered first, read after: a change that commits while the
		// first summary is read makes another. A computation under way is
		// handed to every subscriber registered when it ends.
		feed.scheduleLocked(0)
	}
	feed.mu.Unlock()
	h.mu.Unlock()

	out := make(chan *presence.Summary)
	go func() {
		defer close(out)
		defer h.leaveFeed(feed, sub)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.failed:
				return
			case <-sub.wake:
			}
			if sum := sub.take(); sum != nil {
				select {
				case out <- sum:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// leaveFeed removes sub from feed, and the feed from the hub with its last
// subscriber.
func (h *Hub) leaveFeed(feed *summaryFeed, sub *summarySub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	feed.mu.Lock()
	defer feed.mu.Unlock()
	delete(feed.subs, sub)
	if len(feed.subs) > 0 {
		return
	}
	feed.closed = true
	if feed.timer != nil {
		feed.timer.Stop()
	}
	if h.feeds[feed.org][feed.key] == feed {
		delete(h.feeds[feed.org], feed.key)
		if len(h.feeds[feed.org]) == 0 {
			delete(h.feeds, feed.org)
		}
	}
}

// touchSummaries marks the summaries of organization org (every
// organization's when org is zero) as changed; the hub's lock is held.
func (h *Hub) touchSummaries(org int) {
	for o, feeds := range h.feeds {
		if org != 0 && o != org {
			continue
		}
		for _, f := range feeds {
			f.mu.Lock()
			f.touchLocked()
			f.mu.Unlock()
		}
	}
}

// touchLocked notes a change and schedules a computation, no sooner than
// SummaryInterval after the last one ended; f.mu is held.
func (f *summaryFeed) touchLocked() {
	f.dirty = true
	f.scheduleLocked(SummaryInterval)
}

func (f *summaryFeed) scheduleLocked(after time.Duration) {
	if f.scheduled || f.closed {
		return
	}
	f.scheduled = true
	wait := max(0, time.Until(f.last.Add(after)))
	f.timer = time.AfterFunc(wait, f.compute)
}

// compute reads the summary as one of the feed's subscribers (all of whom
// see the same users) and hands it to every subscriber when it changed.
func (f *summaryFeed) compute() {
	f.mu.Lock()
	if f.closed {
		f.scheduled = false
		f.mu.Unlock()
		return
	}
	f.dirty = false
	var v *viewer.Viewer
	for s := range f.subs {
		v = s.viewer
		break
	}
	f.mu.Unlock()

	h := f.hub
	ctx, cancel := context.WithTimeout(viewer.NewContext(context.Background(), v), 30*time.Second)
	sum, err := presence.Summarize(ctx, h.client, f.key.division)
	cancel()
	if sm, ok := h.meter.(SummaryMeter); ok {
		sm.SummaryComputed()
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.scheduled = false
	f.last = time.Now()
	switch {
	case ent.IsNotFound(err):
		// The division was deleted, or its viewers may no longer see it:
		// their subscriptions end.
		for s := range f.subs {
			close(s.failed)
		}
		f.subs = map[*summarySub]struct{}{}
		return
	case err != nil:
		h.log.Error("read the presence summary", "err", err)
		f.dirty = true
		f.scheduleLocked(summaryRetry)
		return
	}
	if f.current == nil || !f.current.Equal(sum) {
		f.current = sum
		for s := range f.subs {
			s.offer(sum)
		}
	}
	if f.dirty {
		f.scheduleLocked(SummaryInterval)
	}
}
