// Package account owns the life of a user account, from the creation of
// their organization or their invitation to their deletion: inviting
// (resending, revoking, accepting invitations), archiving for a retention
// period during which they can be restored, deleting, and the background
// purge of what is past keeping. It also creates organizations with their
// built-in roles and first admin, and moves them between plans.
package account

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"roster/ent"
	"roster/ent/invitation"
	"roster/ent/mail"
	"roster/ent/mfachallenge"
	"roster/ent/session"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/audit"
	"roster/internal/auth"
	"roster/internal/store"
	"roster/internal/viewer"
)

// Service invites, archives, restores, deletes and purges users.
type Service struct {
	client *ent.Client
	auth   *auth.Service
	opts   Options
	log    *slog.Logger
}

// Options configure the account service.
type Options struct {
	// Retention is how long an archived user can be restored.
	Retention time.Duration
	// AuditRetention is how long audit entries are kept; 0 keeps them
	// forever.
	AuditRetention time.Duration
	// InvitationTTL is how long an invitation link works.
	InvitationTTL time.Duration
	// PasswordResetTTL is how long a password reset link works.
	PasswordResetTTL time.Duration
	// PublicURL is where users open the product, for links in mails.
	PublicURL string
	// SendMail queues a mail through client (a transaction's, so that the
	// mail goes out only if it commits).
	SendMail func(ctx context.Context, client *ent.Client, to, subject, body string) error
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// New returns an account service; authn rate-limits invitation attempts.
func New(client *ent.Client, authn *auth.Service, opts Options, log *slog.Logger) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.InvitationTTL <= 0 {
		opts.InvitationTTL = 72 * time.Hour
	}
	if opts.PasswordResetTTL <= 0 {
		opts.PasswordResetTTL = time.Hour
	}
	return &Service{client: client, auth: authn, opts: opts, log: log}
}

func (s *Service) now() time.Time { return s.opts.Now() }

// db returns the client of the operation's transaction (ent.FromContext),
// or the root client outside one.
func (s *Service) db(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return s.client
}

// Restore brings back archived user id: ACTIVE when they have a password,
// INVITED otherwise.
func (s *Service) Restore(ctx context.Context, id int) (*ent.User, error) {
	if err := canManageUsers(ctx); err != nil {
		return nil, err
	}
	c := s.db(ctx)
	u, err := c.User.Get(ctx, id) // confined to the viewer's organization
	if err != nil {
		return nil, err
	}
	if u.Status != user.StatusArchived {
		return nil, apierr.New(apierr.Conflict, "the user is not archived")
	}
	if u.ArchivedAt != nil && u.ArchivedAt.Before(s.now().Add(-s.opts.Retention)) {
		return nil, apierr.New(apierr.Conflict, "the user was archived more than %s ago and can no longer be restored", s.opts.Retention)
	}
	status := user.StatusActive
	if u.Password == "" {
		status = user.StatusInvited
	}
	return c.User.UpdateOneID(id).SetStatus(status).ClearArchivedAt().Save(ctx)
}

// Archive archives user id: they can no longer log in, their sessions and
// invitations end, and they can be restored within the retention period.
func (s *Service) Archive(ctx context.Context, id int) (*ent.User, error) {
	if err := canManageUsers(ctx); err != nil {
		return nil, err
	}
	c := s.db(ctx)
	u, err := c.User.Get(ctx, id) // confined to the viewer's organization
	if err != nil {
		return nil, err
	}
	if u.Status == user.StatusArchived {
		return nil, apierr.New(apierr.Conflict, "the user is archived already")
	}
	return c.User.UpdateOneID(id).SetStatus(user.StatusArchived).SetArchivedAt(s.now()).Save(ctx)
}

// Delete deletes user id for good, archived or not.
func (s *Service) Delete(ctx context.Context, id int) error {
	if err := canManageUsers(ctx); err != nil {
		return err
	}
	return s.db(ctx).User.DeleteOneID(id).Exec(ctx)
}

// canManageUsers refuses viewers who may not manage users, before anything
// is looked up for them.
func canManageUsers(ctx context.Context) error {
	v, err := auth.Require(ctx)
	if err != nil {
		return err
	}
	if !v.Can(viewer.ManageUsers) {
		return apierr.New(apierr.Forbidden, "not allowed")
	}
	return nil
}

// Purge deletes what is past keeping: users archived longer than the
// retention period (each recorded as user.purge in the audit log), audit
// entries older than their retention, and expired sessions, invitations, challenges and old
// sent mails. It returns how many users it deleted.
func (s *Service) Purge(ctx context.Context) (int, error) {
	ctx = audit.WithActor(viewer.NewSystemContext(ctx), audit.Job(audit.PurgeJob))
	now := s.now()
	// The users deleted and their audit entries commit together.
	var n int
	err := store.Transact(ctx, s.client, func(ctx context.Context) (err error) {
		n, err = ent.FromContext(ctx).User.Delete().Where(user.StatusEQ(user.StatusArchived), user.ArchivedAtLT(now.Add(-s.opts.Retention))).Exec(ctx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge archived users: %w", err)
	}
	if _, err := audit.Purge(ctx, s.client, s.opts.AuditRetention); err != nil {
		return n, fmt.Errorf("purge old audit entries: %w", err)
	}
	if _, err := s.client.Session.Delete().Where(session.ExpiresAtLT(now)).Exec(ctx); err != nil {
		return n, fmt.Errorf("purge expired sessions: %w", err)
	}
	if _, err := s.client.Invitation.Delete().Where(invitation.ExpiresAtLT(now.Add(-30 * 24 * time.Hour))).Exec(ctx); err != nil {
		return n, fmt.Errorf("purge old invitations: %w", err)
	}
	if _, err := s.client.MfaChallenge.Delete().Where(mfachallenge.ExpiresAtLT(now.Add(-time.Hour))).Exec(ctx); err != nil {
		return n, fmt.Errorf("purge old challenges: %w", err)
	}
	if _, err := s.client.Mail.Delete().Where(mail.SentAtLT(now.Add(-30 * 24 * time.Hour))).Exec(ctx); err != nil {
		return n, fmt.Errorf("purge old mails: %w", err)
	}
	return n, nil
}

// RunPurge purges every interval until ctx is done.
func (s *Service) RunPurge(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.Purge(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.WarnContext(ctx, "purge", "err", err)
		case n > 0:
			s.log.InfoContext(ctx, "purged archived users", "users", n, "retention", s.opts.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
