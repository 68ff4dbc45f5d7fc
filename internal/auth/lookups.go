package auth

import (
	"context"
	"slices"
	"sync"
	"time"

	"roster/ent"
	"roster/ent/predicate"
	"roster/ent/session"
	"roster/internal/store"
	"roster/internal/viewer"
)

// sessionKey names a session by the hash of its token or by its ID.
type sessionKey struct {
	hash string
	id   int
}

// lookups reads the sessions that requests and sockets authenticate with,
// many in one statement when they come at once (a storm of reconnecting
// websockets, all with the same few tokens): a lookup waits while one
// statement runs, and the next statement reads every lookup that waited.
// Each answer comes from a statement that started after its lookup was
// asked for, so it is never older than a lookup of its own would have
// been: a revoked session is never let through from an earlier read.
type lookups struct {
	s *Service

	mu      sync.Mutex
	running bool
	waiting []*lookup
	// touched is when the use of a session was last recorded here: the
	// batches read while that write runs do not record it again.
	touched map[int]time.Time
}

type lookup struct {
	key  sessionKey
	done chan struct{}
	v    *viewer.Viewer
	err  error
}

// maxBatch bounds the sessions one statement reads.
const maxBatch = 500

// get returns the viewer of the session key names, nil when there is none
// (unknown, expired, or its user can no longer log in).
func (l *lookups) get(ctx context.Context, key sessionKey) (*viewer.Viewer, error) {
	lk := &lookup{key: key, done: make(chan struct{})}
	l.mu.Lock()
	l.waiting = append(l.waiting, lk)
	lead := !l.running
	l.running = true
	l.mu.Unlock()
	if lead {
		l.run(ctx)
	}
	select {
	case <-lk.done:
		return lk.v, lk.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run reads the waiting lookups, a batch at a time, while there are any.
// The first batch is read on the caller's goroutine; later ones on a
// goroutine of their own, so that the caller's answer does not wait for
// them.
func (l *lookups) run(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	for {
		l.mu.Lock()
		n := min(len(l.waiting), maxBatch)
		batch := slices.Clone(l.waiting[:n])
		l.waiting = slices.Delete(l.waiting, 0, n)
		if n == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		l.read(ctx, batch)
		l.mu.Lock()
		more := len(l.waiting) > 0
		if !more {
			l.running = false
		}
		l.mu.Unlock()
		if !more {
			return
		}
		// The lookups that waited are other requests': their statements
		// are not this one's.
		go l.run(store.WithoutCounter(ctx))
		return
	}
}

// read answers a batch of lookups with one statement, then records the use
// of each session found, at most once a minute, on a goroutine of its own:
// no request waits for that bookkeeping, nor counts its statements.
func (l *lookups) read(ctx context.Context, batch []*lookup) {
	s := l.s
	var hashes [][]byte
	var ids []int
	seenHash := map[string]bool{}
	seenID := map[int]bool{}
	for _, lk := range batch {
		switch {
		case lk.key.hash != "" && !seenHash[lk.key.hash]:
			seenHash[lk.key.hash] = true
			hashes = append(hashes, []byte(lk.key.hash))
		case lk.key.hash == "" && !seenID[lk.key.id]:
			seenID[lk.key.id] = true
			ids = append(ids, lk.key.id)
		}
	}
	var where []predicate.Session
	if len(hashes) > 0 {
		where = append(where, session.TokenHashIn(hashes...))
	}
	if len(ids) > 0 {
		where = append(where, session.IDIn(ids...))
	}
	vs, err := s.load(ctx, session.Or(where...))
	byHash := map[string]*viewer.Viewer{}
	byID := map[int]*viewer.Viewer{}
	now := s.now()
	var used []int
	for _, v := range vs {
		byHash[string(v.tokenHash)] = v.Viewer
		byID[v.SessionID] = v.Viewer
		if now.Sub(v.lastUsed) > touchEvery {
			used = append(used, v.SessionID)
		}
	}
	used = l.toTouch(used, now)
	if len(used) > 0 {
		ctx := store.WithoutCounter(ctx)
		s.background.Go(func() {
			for _, id := range used {
				if err := s.client.Session.UpdateOneID(id).SetLastUsedAt(now).Exec(authenticating(ctx)); err != nil && !ent.IsNotFound(err) {
					s.log.WarnContext(ctx, "record session use", "session", id, "err", err)
				}
			}
		})
	}
	for _, lk := range batch {
		if err != nil {
			lk.err = err
		} else if lk.key.hash != "" {
			lk.v = own(byHash[lk.key.hash])
		} else {
			lk.v = own(byID[lk.key.id])
		}
		close(lk.done)
	}
}

// own returns a copy of v for one lookup: lookups of the same session do
// not share a viewer (they share its permissions, which are never
// modified in place).
func own(v *viewer.Viewer) *viewer.Viewer {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

// toTouch returns the sessions of used whose use was not recorded here
// since touchEvery before now, and notes that it is now.
func (l *lookups) toTouch(used []int, now time.Time) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.touched == nil || len(l.touched) > 4096 {
		l.touched = map[int]time.Time{}
	}
	out := used[:0]
	for _, id := range used {
		if t, ok := l.touched[id]; ok && now.Sub(t) <= touchEvery {
			continue
		}
		l.touched[id] = now
		out = append(out, id)
	}
	return out
}
