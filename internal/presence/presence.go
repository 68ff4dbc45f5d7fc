// Package presence observes who is online: a user is online while at least
// one authenticated websocket of theirs is open, on any instance of the
// server. Each instance records its live connections in the database and
// proves it is alive by a heartbeat; when an instance dies, the others end
// its connections within a bounded time. An instance that shuts down
// gracefully leaves its users online for the grace period, so that those
// whose clients reconnect (to another instance or the restarted one) never
// go offline. Availability, what users choose for themselves, is not
// touched here.
package presence

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"roster/ent"
	"roster/ent/connection"
	"roster/ent/instance"
	"roster/ent/user"
	"roster/internal/status"
	"roster/internal/store"
	"roster/internal/viewer"
)

// Options tune the presence service.
type Options struct {
	// Grace is how long a user stays online after their last connection
	// closes, so that a page reload does not flap them offline.
	Grace time.Duration
	// DeadAfter is how long an instance may miss heartbeats before the
	// others take its users' connections for closed.
	DeadAfter time.Duration
	// FlushEvery is the shortest time between two batches of connection
	// changes written (DefaultFlushEvery when zero).
	FlushEvery time.Duration
	// CountEvery is the shortest time between two writes of the device
	// count of a user who stays online (DefaultCountEvery when zero): a
	// second tab or phone reaches dashboards within it and one batch,
	// while a storm of one user's reconnections costs at most one write
	// of their row per CountEvery.
	CountEvery time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultFlushEvery = 50 * time.Millisecond
	DefaultCountEvery = 250 * time.Millisecond
)

// Service tracks the connections of this instance.
//
// Opening or closing a connection writes nothing at once: the changes are
// written in batches, one transaction for every connection opened or
// closed since the last (at most Options.FlushEvery apart), so a storm of
// connections costs a few transactions rather than one each. A user's
// first connection on this instance, and their last, updates their row in
// the next batch (so they go online for everyone within FlushEvery and one
// transaction); the device count of a user who stays online is rewritten
// at most once per Options.CountEvery (a quarter of a second by default,
// so a second device shows everywhere well within a second), whatever the
// number of their connections.
type Service struct {
	client *ent.Client
	opts   Options
	log    *slog.Logger
	id     string
	now    func() time.Time

	mu      sync.Mutex
	live    map[int]*conn       // this instance's open connections, by handle
	users   map[int]*userConns  // the same, by user, with what is left to write
	dirty   map[int]struct{}    // users with something left to write
	pending map[int]*time.Timer // users going offline after the grace period
	handles int
	stopped bool
	kick    chan struct{} // capacity 1: something to write

	// flushMu is held while a batch is written; Stop waits for it.
	flushMu sync.Mutex
}

// conn is what the instance knows of one of its live connections, enough
// to record it again should its row be lost.
type conn struct {
	orgID, userID, sessionID int
	userAgent                string
	opened                   time.Time
	row                      int  // its row, 0 until written
	writing                  bool // its row is being written
	closed                   bool
}

// userConns is one user's connections on this instance.
type userConns struct {
	open map[int]*conn // by handle
	// removed are the rows of closed connections, to delete.
	removed []int
	// applied is how many connections were open when the user's row was
	// last written by this instance; lastApplied is when.
	applied     int
	lastApplied time.Time
	// changed is when the oldest change not yet written to the user's row
	// happened.
	changed time.Time
}

// New returns a presence service for one instance.
func New(client *ent.Client, opts Options, log *slog.Logger) *Service {
	if opts.Grace < 0 {
		opts.Grace = 0
	}
	if opts.DeadAfter <= 0 {
		opts.DeadAfter = 30 * time.Second
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.CountEvery <= 0 {
		opts.CountEvery = DefaultCountEvery
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Service{
		client:  client,
		opts:    opts,
		log:     log,
		id:      "i-" + rand.Text()[:16],
		now:     now,
		live:    map[int]*conn{},
		users:   map[int]*userConns{},
		dirty:   map[int]struct{}{},
		pending: map[int]*time.Timer{},
		kick:    make(chan struct{}, 1),
	}
}

// Online counts the users online through this instance: with a connection
// open on it, or within the grace period after their last one closed.
func (s *Service) Online() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.pending)
	for u, uc := range s.users {
		if _, graced := s.pending[u]; len(uc.open) > 0 && !graced {
			n++
		}
	}
	return n
}

// InstanceID names this instance.
func (s *Service) InstanceID() string { return s.id }

// Start records the instance and runs its heartbeat, which also ends the
// connections of dead instances, and the writer of connection changes,
// until ctx is done.
func (s *Service) Start(ctx context.Context) error {
	sys := viewer.NewSystemContext(ctx)
	if err := s.client.Instance.Create().SetID(s.id).SetStartedAt(s.now()).SetHeartbeatAt(s.now()).Exec(sys); err != nil {
		return fmt.Errorf("record instance: %w", err)
	}
	if err := s.sweep(sys); err != nil {
		s.log.WarnContext(ctx, "end connections of dead instances", "err", err)
	}
	go s.heartbeat(sys)
	go s.writer(sys)
	return nil
}

// Interval is how often an instance proves it is alive.
func (s *Service) Interval() time.Duration { return s.opts.DeadAfter / 3 }

func (s *Service) heartbeat(ctx context.Context) {
	t := time.NewTicker(s.Interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.beat(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "presence heartbeat", "err", err)
		}
		if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "end connections of dead instances", "err", err)
		}
	}
}

// beat records that the instance is alive. If others took it for dead
// meanwhile (its row is gone, and its connections' rows with it), it
// records itself anew and its connections in the next batch.
func (s *Service) beat(ctx context.Context) error {
	n, err := s.client.Instance.Update().Where(instance.ID(s.id)).SetHeartbeatAt(s.now()).Save(ctx)
	if err != nil || n > 0 {
		return err
	}
	s.log.WarnContext(ctx, "this instance was taken for dead: recording its connections again", "instance", s.id)
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if err := s.client.Instance.Create().SetID(s.id).SetHeartbeatAt(s.now()).Exec(ctx); err != nil {
		return fmt.Errorf("record instance again: %w", err)
	}
	s.mu.Lock()
	for u, uc := range s.users {
		for _, c := range uc.open {
			c.row = 0
		}
		uc.removed = nil
		uc.applied = 0 // the sweep took them offline: write them online again
		uc.changed = s.now()
		s.dirty[u] = struct{}{}
	}
	s.mu.Unlock()
	s.wake()
	return nil
}

// sweep ends the connections of instances whose heartbeat stopped, and of
// those that shut down gracefully once their grace period is over, and
// takes their users offline unless they are connected elsewhere.
func (s *Service) sweep(ctx context.Context) error {
	now := s.now()
	instances, err := s.client.Instance.Query().
		Where(instance.IDNEQ(s.id), instance.Or(
			instance.And(instance.DrainUntilIsNil(), instance.HeartbeatAtLT(now.Add(-s.opts.DeadAfter))),
			instance.DrainUntilLT(now),
		)).
		All(ctx)
	if err != nil || len(instances) == 0 {
		return err
	}
	dead := make([]string, 0, len(instances))
	lost := map[string]bool{} // died, rather than shut down
	for _, in := range instances {
		dead = append(dead, in.ID)
		lost[in.ID] = in.DrainUntil == nil
	}
	conns, err := s.client.Connection.Query().Where(connection.InstanceIDIn(dead...)).
		Select(connection.FieldUserID, connection.FieldInstanceID).All(ctx)
	if err != nil {
		return err
	}
	// A user of an instance that shut down did not come back within the
	// grace period; one of an instance that died was lost with it.
	users := map[int]status.Source{}
	for _, c := range conns {
		if lost[c.InstanceID] || users[c.UserID] == "" {
			users[c.UserID] = map[bool]status.Source{true: status.InstanceLost, false: status.GraceExpired}[lost[c.InstanceID]]
		}
	}
	if _, err := s.client.Instance.Delete().Where(instance.IDIn(dead...)).Exec(ctx); err != nil {
		return fmt.Errorf("delete dead instances: %w", err)
	}
	s.log.InfoContext(ctx, "ended the connections of stopped and dead instances", "instances", dead, "users", len(users))
	ids := slices.Sorted(maps.Keys(users))
	for _, u := range ids {
		if err := s.settle(ctx, u, users[u]); err != nil {
			return err
		}
	}
	return nil
}

// Connect records a new authenticated connection of v and returns its
// handle for Disconnect. It writes nothing itself: the connection is
// written in the next batch, within FlushEvery, and the user is online
// for everyone once it commits.
func (s *Service) Connect(ctx context.Context, v *viewer.Viewer, userAgent string) (int, error) {
	if len(userAgent) > 512 {
		userAgent = userAgent[:512]
	}
	s.mu.Lock()
	if t := s.pending[v.UserID]; t != nil {
		t.Stop()
		delete(s.pending, v.UserID)
	}
	s.handles++
	h := s.handles
	c := &conn{orgID: v.OrganizationID, userID: v.UserID, sessionID: v.SessionID, userAgent: userAgent, opened: s.now()}
	s.live[h] = c
	uc := s.user(v.UserID)
	uc.open[h] = c
	s.touch(v.UserID, uc)
	s.mu.Unlock()
	s.wake()
	return h, nil
}

// Disconnect ends the connection of user userID with handle h. When it
// was the user's last, the user goes offline after the grace period unless
// they connect again meanwhile. Like Connect, it writes in the next batch.
func (s *Service) Disconnect(_ context.Context, h, userID int) error {
	s.mu.Lock()
	if s.stopped {
		// Stop ends every connection of the instance at once, and takes
		// their users offline: leave this one to it.
		s.mu.Unlock()
		return nil
	}
	c := s.live[h]
	if c == nil {
		s.mu.Unlock()
		return nil
	}
	delete(s.live, h)
	c.closed = true
	uc := s.user(userID)
	delete(uc.open, h)
	if c.row != 0 {
		uc.removed = append(uc.removed, c.row)
	}
	s.touch(userID, uc)
	s.mu.Unlock()
	s.wake()
	return nil
}

// user returns the connections of user id; s.mu is held.
func (s *Service) user(id int) *userConns {
	uc := s.users[id]
	if uc == nil {
		uc = &userConns{open: map[int]*conn{}}
		s.users[id] = uc
	}
	return uc
}

// touch marks that user id has a change to write; s.mu is held.
func (s *Service) touch(id int, uc *userConns) {
	if _, ok := s.dirty[id]; !ok || uc.changed.IsZero() {
		uc.changed = s.now()
	}
	s.dirty[id] = struct{}{}
}

func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// writer writes the connection changes in batches until ctx is done.
func (s *Service) writer(ctx context.Context) {
	var last time.Time
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-retry.C:
		}
		if wait := s.opts.FlushEvery - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		next, err := s.flush(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.WarnContext(ctx, "record connections", "err", err)
			retry.Reset(time.Second)
		case next > 0:
			retry.Reset(next)
		}
	}
}

// Flush writes the connection changes waiting for the next batch now.
func (s *Service) Flush(ctx context.Context) error {
	_, err := s.flush(viewer.NewSystemContext(ctx))
	return err
}

// change is what one batch writes for one user.
type change struct {
	user   int
	add    []*conn
	remove []int
	// apply: the user's row is written (online and device count); open is
	// how many connections the user has on this instance then.
	apply bool
	open  int
	at    time.Time
}

// flush writes one batch. It returns how long until a deferred device
// count is due, or 0 when none is.
func (s *Service) flush(ctx context.Context) (time.Duration, error) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	now := s.now()
	var due time.Duration
	var batch []change
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return 0, nil
	}
	for u := range s.dirty {
		uc := s.users[u]
		ch := change{user: u, remove: uc.removed, open: len(uc.open), at: uc.changed}
		uc.removed = nil
		for _, c := range uc.open {
			if c.row == 0 && !c.writing {
				c.writing = true
				ch.add = append(ch.add, c)
			}
		}
		switch wait := s.opts.CountEvery - now.Sub(uc.lastApplied); {
		case (uc.applied == 0) != (ch.open == 0):
			ch.apply = true // the first connection here, or the last
		case uc.applied == ch.open:
		case wait <= 0:
			ch.apply = true
		default:
			if due == 0 || wait < due {
				due = wait
			}
		}
		if !ch.apply && len(ch.add) == 0 && len(ch.remove) == 0 {
			if uc.applied == ch.open {
				delete(s.dirty, u)
				s.forget(u, uc)
			}
			continue
		}
		if ch.apply || uc.applied == ch.open {
			delete(s.dirty, u)
			uc.changed = time.Time{}
		}
		batch = append(batch, ch)
	}
	s.mu.Unlock()
	if len(batch) == 0 {
		return due, nil
	}

	remaining := map[int]int{}
	rows := map[*conn]int{}
	err := s.tx(ctx, func(tx *ent.Client) error {
		clear(remaining)
		clear(rows)
		var creates []*ent.ConnectionCreate
		var added []*conn
		var removed []int
		for _, ch := range batch {
			for _, c := range ch.add {
				creates = append(creates, tx.Connection.Create().
					SetOrganizationID(c.orgID).
					SetUserID(c.userID).
					SetSessionID(c.sessionID).
					SetInstanceID(s.id).
					SetUserAgent(c.userAgent).
					SetOpenedAt(c.opened))
				added = append(added, c)
			}
			removed = append(removed, ch.remove...)
		}
		for i := 0; i < len(creates); i += bulkSize {
			saved, err := tx.Connection.CreateBulk(creates[i:min(i+bulkSize, len(creates))]...).Save(ctx)
			if err != nil {
				return fmt.Errorf("record connections: %w", err)
			}
			for j, r := range saved {
				rows[added[i+j]] = r.ID
			}
		}
		for i := 0; i < len(removed); i += bulkSize {
			if _, err := tx.Connection.Delete().Where(connection.IDIn(removed[i:min(i+bulkSize, len(removed))]...)).Exec(ctx); err != nil {
				return fmt.Errorf("delete connections: %w", err)
			}
		}
		for _, ch := range batch {
			if !ch.apply {
				continue
			}
			source := status.Connected
			if ch.open == 0 {
				source = status.Disconnected
			}
			n, err := recount(status.WithChange(ctx, source, ch.at), tx, ch.user, ch.open > 0)
			if err != nil {
				return err
			}
			remaining[ch.user] = n
		}
		return nil
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range batch {
		uc := s.user(ch.user)
		for _, c := range ch.add {
			c.writing = false
			if err != nil {
				continue
			}
			c.row = rows[c]
			if c.closed {
				uc.removed = append(uc.removed, c.row) // closed while written
				s.touch(ch.user, uc)
			}
		}
		if err != nil {
			for _, c := range ch.add {
				if !c.closed {
					s.touch(ch.user, uc)
				}
			}
			uc.removed = append(uc.removed, ch.remove...)
			s.touch(ch.user, uc)
			continue
		}
		if ch.apply {
			uc.applied, uc.lastApplied = ch.open, now
			if uc.applied != len(uc.open) {
				s.touch(ch.user, uc)
			}
			if n, ok := remaining[ch.user]; ok && n == 0 && len(uc.open) == 0 && !s.stopped {
				s.goOffline(ctx, ch.user)
			}
		}
		if _, ok := s.dirty[ch.user]; !ok {
			s.forget(ch.user, uc)
		}
	}
	if err != nil {
		return 0, err
	}
	if len(s.dirty) > 0 && due == 0 {
		due = s.opts.FlushEvery
	}
	return due, nil
}

// bulkSize bounds the rows one statement writes or deletes.
const bulkSize = 1000

// forget drops what the instance keeps of a user with nothing open or left
// to write; s.mu is held.
func (s *Service) forget(id int, uc *userConns) {
	if len(uc.open) == 0 && len(uc.removed) == 0 && uc.applied == 0 {
		for _, c := range uc.open {
			if c.writing {
				return
			}
		}
		delete(s.users, id)
	}
}

// goOffline takes user id offline after the grace period unless they
// connect again meanwhile; s.mu is held.
func (s *Service) goOffline(ctx context.Context, id int) {
	if t := s.pending[id]; t != nil {
		t.Stop()
	}
	ctx = context.WithoutCancel(ctx)
	s.pending[id] = time.AfterFunc(s.opts.Grace, func() {
		s.mu.Lock()
		if uc := s.users[id]; uc != nil && len(uc.open) > 0 {
			s.mu.Unlock()
			return // connected again
		}
		delete(s.pending, id)
		s.mu.Unlock()
		if err := s.settle(ctx, id, status.GraceExpired); err != nil {
			s.log.WarnContext(ctx, "take user offline", "user", id, "err", err)
		}
	})
}

// Stopping makes Disconnect record nothing more: the instance is shutting
// down, and Stop will end all its connections in one go.
func (s *Service) Stopping() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// Stop ends every connection of this instance, for a graceful shutdown:
// their users' device counts drop at once, but they stay online for the
// grace period. Those who reconnect meanwhile (to another instance, or to
// this one restarted) never go offline; the others are taken offline by
// the sweep of another instance (or of this one restarted) once it is over
// (within a heartbeat interval after it). Users whose last connection had
// closed before, and who were in their grace period, go offline at once.
// Cancel the context given to Start first, so that no heartbeat records
// the instance again, and call it after the sockets are closed.
func (s *Service) Stop(ctx context.Context) error {
	ctx = viewer.NewSystemContext(ctx)
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.flushMu.Lock() // a batch being written ends first
	defer s.flushMu.Unlock()
	s.mu.Lock()
	users := map[int]bool{}
	for u, t := range s.pending {
		t.Stop()
		users[u] = true
	}
	s.pending = map[int]*time.Timer{}
	// The users whose connections here are written stay online through
	// the grace period; the others never were online through this
	// instance.
	var draining []int
	for u, uc := range s.users {
		if users[u] {
			continue
		}
		written := len(uc.removed) > 0
		for _, c := range uc.open {
			written = written || c.row != 0
		}
		if written {
			draining = append(draining, u)
		}
	}
	s.live = map[int]*conn{}
	s.users = map[int]*userConns{}
	s.dirty = map[int]struct{}{}
	s.mu.Unlock()
	slices.Sort(draining)
	sctx := status.WithChange(ctx, status.Disconnected, s.now())
	err := s.tx(sctx, func(tx *ent.Client) error {
		if err := tx.Instance.UpdateOneID(s.id).SetDrainUntil(s.now().Add(s.opts.Grace)).Exec(sctx); err != nil {
			return fmt.Errorf("record the shutdown: %w", err)
		}
		for _, u := range draining {
			if _, err := recount(sctx, tx, u, false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The heartbeat stopped: the others take the instance for dead in
		// time.
		return err
	}
	var errs []error
	for u := range users {
		errs = append(errs, s.settle(ctx, u, status.Disconnected))
	}
	return errors.Join(errs...)
}

// settle takes user offline, stamping when they were last seen, if they
// have no connection left anywhere; source says why, in their status
// history.
func (s *Service) settle(ctx context.Context, userID int, source status.Source) error {
	ctx = status.WithChange(ctx, source, s.now())
	return s.tx(ctx, func(tx *ent.Client) error {
		if _, err := recount(ctx, tx, userID, false); err != nil {
			return err
		}
		err := tx.User.UpdateOneID(userID).
			Where(user.Online(true), user.Not(user.HasLiveConnectionsWith(connection.HasInstanceWith(instance.DrainUntilIsNil())))).
			SetOnline(false).
			SetLastSeenAt(s.now()).
			Exec(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// recount stores how many connections the user has (on instances that are
// not shutting down), and sets them online when asked to. It returns that
// count (0 when the user is gone).
func recount(ctx context.Context, tx *ent.Client, userID int, online bool) (int, error) {
	u := tx.User.UpdateOneID(userID).Modify(func(b *entsql.UpdateBuilder) {
		b.Set(user.FieldConnections, entsql.Expr(fmt.Sprintf("(SELECT COUNT(*) FROM %s JOIN %s ON %s.%s = %s.%s WHERE %s.%s = %s.%s AND %s.%s IS NULL)",
			connection.Table, instance.Table, instance.Table, instance.FieldID, connection.Table, connection.FieldInstanceID,
			connection.Table, connection.FieldUserID, user.Table, user.FieldID, instance.Table, instance.FieldDrainUntil)))
	})
	if online {
		u.SetOnline(true)
	}
	row, err := u.Save(ctx)
	if ent.IsNotFound(err) {
		return 0, nil // the user is gone
	}
	if err != nil {
		return 0, err
	}
	return row.Connections, nil
}

// tx runs fn in a transaction (store.Transact), with its client.
func (s *Service) tx(ctx context.Context, fn func(*ent.Client) error) error {
	return store.Transact(ctx, s.client, func(ctx context.Context) error {
		return fn(ent.FromContext(ctx))
	})
}
