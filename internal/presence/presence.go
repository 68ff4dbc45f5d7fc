// Package presence observes who is online: a user is online while at least
// one authenticated websocket of theirs is open, on any instance of the
// server. Each instance records its live connections in the database and
// proves it is alive by a heartbeat; when an instance dies, the others end
// its connections within a bounded time. Availability, what users choose
// for themselves, is not touched here.
package presence

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
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
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Service tracks the connections of this instance.
type Service struct {
	client *ent.Client
	opts   Options
	log    *slog.Logger
	id     string
	now    func() time.Time

	mu      sync.Mutex
	live    map[int]conn        // this instance's connections, by ID
	pending map[int]*time.Timer // users going offline after the grace period
	stopped bool
}

// conn is what the instance knows of one of its live connections, enough
// to record it again should its row be lost.
type conn struct {
	orgID, userID, sessionID int
	userAgent                string
}

// New returns a presence service for one instance.
func New(client *ent.Client, opts Options, log *slog.Logger) *Service {
	if opts.Grace < 0 {
		opts.Grace = 0
	}
	if opts.DeadAfter <= 0 {
		opts.DeadAfter = 30 * time.Second
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
		live:    map[int]conn{},
		pending: map[int]*time.Timer{},
	}
}

// Online counts the users online through this instance: with a connection
// open on it, or within the grace period after their last one closed.
func (s *Service) Online() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	users := make(map[int]struct{}, len(s.live)+len(s.pending))
	for _, c := range s.live {
		users[c.userID] = struct{}{}
	}
	for u := range s.pending {
		users[u] = struct{}{}
	}
	return len(users)
}

// InstanceID names this instance.
func (s *Service) InstanceID() string { return s.id }

// Start records the instance and runs its heartbeat, which also ends the
// connections of dead instances, until ctx is done.
func (s *Service) Start(ctx context.Context) error {
	sys := viewer.NewSystemContext(ctx)
	if err := s.client.Instance.Create().SetID(s.id).SetStartedAt(s.now()).SetHeartbeatAt(s.now()).Exec(sys); err != nil {
		return fmt.Errorf("record instance: %w", err)
	}
	if err := s.sweep(sys); err != nil {
		s.log.WarnContext(ctx, "end connections of dead instances", "err", err)
	}
	go s.heartbeat(sys)
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
// meanwhile (its row is gone), it records itself and its connections anew.
func (s *Service) beat(ctx context.Context) error {
	n, err := s.client.Instance.Update().Where(instance.ID(s.id)).SetHeartbeatAt(s.now()).Save(ctx)
	if err != nil || n > 0 {
		return err
	}
	s.log.WarnContext(ctx, "this instance was taken for dead: recording its connections again", "instance", s.id)
	if err := s.client.Instance.Create().SetID(s.id).SetHeartbeatAt(s.now()).Exec(ctx); err != nil {
		return fmt.Errorf("record instance again: %w", err)
	}
	s.mu.Lock()
	live := s.live
	s.live = map[int]conn{}
	s.mu.Unlock()
	for _, c := range live {
		if _, err := s.record(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// sweep ends the connections of instances whose heartbeat stopped, and
// takes their users offline unless they are connected elsewhere.
func (s *Service) sweep(ctx context.Context) error {
	dead, err := s.client.Instance.Query().
		Where(instance.HeartbeatAtLT(s.now().Add(-s.opts.DeadAfter)), instance.IDNEQ(s.id)).
		IDs(ctx)
	if err != nil || len(dead) == 0 {
		return err
	}
	users, err := s.client.Connection.Query().Where(connection.InstanceIDIn(dead...)).Unique(true).Select(connection.FieldUserID).Ints(ctx)
	if err != nil {
		return err
	}
	if _, err := s.client.Instance.Delete().Where(instance.IDIn(dead...)).Exec(ctx); err != nil {
		return fmt.Errorf("delete dead instances: %w", err)
	}
	s.log.InfoContext(ctx, "ended the connections of dead instances", "instances", dead, "users", len(users))
	for _, u := range users {
		if err := s.settle(ctx, u, status.InstanceLost); err != nil {
			return err
		}
	}
	return nil
}

// Connect records a new authenticated connection of v and returns its ID.
// The user is online from now on.
func (s *Service) Connect(ctx context.Context, v *viewer.Viewer, userAgent string) (int, error) {
	if len(userAgent) > 512 {
		userAgent = userAgent[:512]
	}
	s.mu.Lock()
	if t := s.pending[v.UserID]; t != nil {
		t.Stop()
		delete(s.pending, v.UserID)
	}
	s.mu.Unlock()
	return s.record(viewer.NewSystemContext(ctx), conn{orgID: v.OrganizationID, userID: v.UserID, sessionID: v.SessionID, userAgent: userAgent})
}

func (s *Service) record(ctx context.Context, c conn) (int, error) {
	ctx = status.WithChange(ctx, status.Connected, s.now())
	var id int
	err := s.tx(ctx, func(tx *ent.Client) error {
		row, err := tx.Connection.Create().
			SetOrganizationID(c.orgID).
			SetUserID(c.userID).
			SetSessionID(c.sessionID).
			SetInstanceID(s.id).
			SetUserAgent(c.userAgent).
			SetOpenedAt(s.now()).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("record connection: %w", err)
		}
		id = row.ID
		return recount(ctx, tx, c.userID, true)
	})
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.live[id] = c
	s.mu.Unlock()
	return id, nil
}

// Disconnect ends connection id of user userID. When it was the user's
// last, the user goes offline after the grace period unless they connect
// again meanwhile.
func (s *Service) Disconnect(ctx context.Context, id, userID int) error {
	ctx = viewer.NewSystemContext(context.WithoutCancel(ctx))
	s.mu.Lock()
	if s.stopped {
		// Stop ends every connection of the instance at once, and takes
		// their users offline: leave this one to it.
		s.mu.Unlock()
		return nil
	}
	delete(s.live, id)
	s.mu.Unlock()
	var remaining int
	err := s.tx(ctx, func(tx *ent.Client) error {
		if err := tx.Connection.DeleteOneID(id).Exec(ctx); err != nil && !ent.IsNotFound(err) {
			return fmt.Errorf("delete connection: %w", err)
		}
		if err := recount(ctx, tx, userID, false); err != nil {
			return err
		}
		var err error
		remaining, err = tx.Connection.Query().Where(connection.UserID(userID)).Count(ctx)
		return err
	})
	if err != nil || remaining > 0 {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	if t := s.pending[userID]; t != nil {
		t.Stop()
	}
	s.pending[userID] = time.AfterFunc(s.opts.Grace, func() {
		s.mu.Lock()
		delete(s.pending, userID)
		s.mu.Unlock()
		if err := s.settle(ctx, userID, status.GraceExpired); err != nil {
			s.log.WarnContext(ctx, "take user offline", "user", userID, "err", err)
		}
	})
	return nil
}

// Stopping makes Disconnect record nothing more: the instance is shutting
// down, and Stop will end all its connections in one go.
func (s *Service) Stopping() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// Stop ends every connection of this instance at once (without grace) and
// forgets the instance. Cancel the context given to Start first, so that no
// heartbeat records the instance again, and call it after the sockets are
// closed.
func (s *Service) Stop(ctx context.Context) error {
	ctx = viewer.NewSystemContext(ctx)
	s.mu.Lock()
	s.stopped = true
	users := map[int]bool{}
	for u, t := range s.pending {
		t.Stop()
		users[u] = true
	}
	s.pending = map[int]*time.Timer{}
	for _, c := range s.live {
		users[c.userID] = true
	}
	s.live = map[int]conn{}
	s.mu.Unlock()
	if _, err := s.client.Instance.Delete().Where(instance.ID(s.id)).Exec(ctx); err != nil {
		return fmt.Errorf("delete instance: %w", err)
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
		if err := recount(ctx, tx, userID, false); err != nil {
			return err
		}
		err := tx.User.UpdateOneID(userID).
			Where(user.Online(true), user.Not(user.HasLiveConnections())).
			SetOnline(false).
			SetLastSeenAt(s.now()).
			Exec(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// recount stores how many connections the user has, and sets them online
// when asked to.
func recount(ctx context.Context, tx *ent.Client, userID int, online bool) error {
	u := tx.User.UpdateOneID(userID).Modify(func(b *entsql.UpdateBuilder) {
		b.Set(user.FieldConnections, entsql.Expr(fmt.Sprintf("(SELECT COUNT(*) FROM %s WHERE %s.%s = %s.%s)",
			connection.Table, connection.Table, connection.FieldUserID, user.Table, user.FieldID)))
	})
	if online {
		u.SetOnline(true)
	}
	err := u.Exec(ctx)
	if ent.IsNotFound(err) {
		return nil // the user is gone
	}
	return err
}

// tx runs fn in a transaction (store.Transact), with its client.
func (s *Service) tx(ctx context.Context, fn func(*ent.Client) error) error {
	return store.Transact(ctx, s.client, func(ctx context.Context) error {
		return fn(ent.FromContext(ctx))
	})
}
