package auth

import (
	"context"

	"roster/ent"
	"roster/ent/session"
	"roster/internal/access"
	"roster/internal/apierr"
	"roster/internal/password"
	"roster/internal/viewer"
)

// checkPassword returns the viewer's user when pw is their password. It
// reads the user through the root client, before the operation's
// transaction begins, so that verifying the password holds no lock.
func (s *Service) checkPassword(ctx context.Context, pw string) (*ent.User, error) {
	v, err := Require(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.client.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	if err := s.limit(ctx, account(u.OrganizationID, u.Email), address(loginByAddress, DeviceFrom(ctx).IP)); err != nil {
		return nil, err
	}
	if !s.client.Hasher.Verify(u.Password, pw) {
		return nil, apierr.Input("currentPassword", "is not your password")
	}
	return u, nil
}

// ChangePassword sets the viewer's password, given the current one. Their
// other sessions end; this one goes on.
func (s *Service) ChangePassword(ctx context.Context, current, next string) error {
	u, err := s.checkPassword(ctx, current)
	if err != nil {
		return err
	}
	// Check and hash the new password before the transaction begins.
	if err := password.Check(next, u.Email); err != nil {
		return apierr.Input("newPassword", "%s", err)
	}
	hash, err := s.client.Hasher.Hash(next)
	if err != nil {
		return err
	}
	// The viewer proved their password: privacy lets them change it. The
	// hook ending the other sessions spares the viewer's.
	ctx = password.WithPrehashed(access.WithPasswordProved(ctx, u.ID), hash)
	return s.db(ctx).User.UpdateOneID(u.ID).SetPassword(hash).Exec(ctx)
}

// RevokeSession ends session id (the viewer's own, or anyone's of their
// organization for those who manage users).
func (s *Service) RevokeSession(ctx context.Context, id int) error {
	return s.db(ctx).Session.DeleteOneID(id).Exec(ctx)
}

// RevokeUserSessions ends every session of user id and returns how many.
func (s *Service) RevokeUserSessions(ctx context.Context, id int) (int, error) {
	v, err := Require(ctx)
	if err != nil {
		return 0, err
	}
	if !v.Can(viewer.ManageUsers) {
		return 0, apierr.New(apierr.Forbidden, "not allowed")
	}
	c := s.db(ctx)
	if _, err := c.User.Get(ctx, id); err != nil {
		return 0, err
	}
	return c.Session.Delete().Where(session.UserID(id)).Exec(ctx)
}
