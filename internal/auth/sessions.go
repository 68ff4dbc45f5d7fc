package auth

import (
	"context"
	"errors"

	"roster/ent"
	"roster/ent/session"
	"roster/internal/apierr"
	"roster/internal/viewer"
)

// checkPassword returns the viewer's user when pw is their password.
func (s *Service) checkPassword(ctx context.Context, pw string) (*ent.User, error) {
	v, err := Require(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.client.User.Get(viewer.NewSystemContext(ctx), v.UserID)
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
	// As the system, but still with the viewer in the context, so that the
	// hook ending the other sessions spares this one.
	err = s.client.User.UpdateOneID(u.ID).SetPassword(next).Exec(viewer.NewSystemContext(ctx))
	var e *apierr.Error
	if errors.As(err, &e) && e.Field == "password" {
		return apierr.Input("newPassword", "%s", e.Message)
	}
	return err
}

// RevokeSession ends session id (the viewer's own, or anyone's of their
// organization for those who manage users).
func (s *Service) RevokeSession(ctx context.Context, c *ent.Client, id int) error {
	return c.Session.DeleteOneID(id).Exec(ctx)
}

// RevokeUserSessions ends every session of user id and returns how many.
func (s *Service) RevokeUserSessions(ctx context.Context, c *ent.Client, id int) (int, error) {
	v, err := Require(ctx)
	if err != nil {
		return 0, err
	}
	if !v.Can(viewer.ManageUsers) {
		return 0, apierr.New(apierr.Forbidden, "not allowed")
	}
	if _, err := c.User.Get(ctx, id); err != nil {
		return 0, err
	}
	return c.Session.Delete().Where(session.UserID(id)).Exec(ctx)
}
