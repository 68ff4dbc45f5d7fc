package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	gen "entgo.io/ent"

	"roster/ent"
	"roster/ent/hook"
	"roster/ent/invitation"
	"roster/ent/session"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/password"
	"roster/internal/viewer"
)

var errBadInvitation = apierr.Input("token", "this invitation link is invalid, was used already, or expired: ask an admin for a new one")

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
	if err := s.limit(ctx, checkLogin, u.Email, DeviceFrom(ctx).IP); err != nil {
		return nil, err
	}
	if !password.Verify(u.Password, pw) {
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

// InviteOnCreate makes client send an invitation to every user created
// without a password, in the transaction that creates them.
func (s *Service) InviteOnCreate(client *ent.Client) {
	client.User.Use(hook.On(func(next gen.Mutator) gen.Mutator {
		return hook.UserFunc(func(ctx context.Context, m *ent.UserMutation) (ent.Value, error) {
			v, err := next.Mutate(ctx, m)
			if err != nil {
				return v, err
			}
			if u := v.(*ent.User); u.Status == user.StatusInvited {
				if err := s.invite(ctx, m.Client(), u); err != nil {
					return nil, err
				}
			}
			return v, nil
		})
	}, ent.OpCreate))
}

// invite replaces the invitations of u by a new one and mails its link.
func (s *Service) invite(ctx context.Context, c *ent.Client, u *ent.User) error {
	sys := viewer.NewSystemContext(ctx)
	token, hash, err := newToken()
	if err != nil {
		return err
	}
	if _, err := c.Invitation.Delete().Where(invitation.UserID(u.ID)).Exec(sys); err != nil {
		return fmt.Errorf("end previous invitations: %w", err)
	}
	if err := c.Invitation.Create().
		SetOrganizationID(u.OrganizationID).
		SetUserID(u.ID).
		SetTokenHash(hash).
		SetCreatedAt(s.now()).
		SetExpiresAt(s.now().Add(s.opts.InvitationTTL)).
		Exec(sys); err != nil {
		return fmt.Errorf("create invitation: %w", err)
	}
	if s.opts.SendMail == nil {
		return fmt.Errorf("no mail sender to send an invitation")
	}
	org, err := c.Organization.Get(sys, u.OrganizationID)
	if err != nil {
		return err
	}
	link := strings.TrimRight(s.opts.PublicURL, "/") + "/accept-invitation?token=" + url.QueryEscape(token)
	body := fmt.Sprintf("Hello %s,\n\nYou are invited to join %s. Choose your password here:\n\n%s\n\nThe link works once, until %s.\n",
		u.FirstName, org.Name, link, s.now().Add(s.opts.InvitationTTL).UTC().Format("2 January 2006 15:04 MST"))
	return s.opts.SendMail(ctx, c, u.Email, "You are invited to "+org.Name, body)
}

// ResendInvitation sends invited user id a new link; the old one stops
// working. The viewer must manage users.
func (s *Service) ResendInvitation(ctx context.Context, c *ent.Client, id int) (*ent.User, error) {
	u, err := s.invited(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return u, s.invite(ctx, c, u)
}

// RevokeInvitation ends the invitations of invited user id. The viewer must
// manage users.
func (s *Service) RevokeInvitation(ctx context.Context, c *ent.Client, id int) (*ent.User, error) {
	u, err := s.invited(ctx, c, id)
	if err != nil {
		return nil, err
	}
	_, err = c.Invitation.Delete().Where(invitation.UserID(u.ID)).Exec(viewer.NewSystemContext(ctx))
	return u, err
}

// invited returns user id, of the viewer's organization, if they are
// invited and the viewer may manage users.
func (s *Service) invited(ctx context.Context, c *ent.Client, id int) (*ent.User, error) {
	v, err := Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.ManageUsers) {
		return nil, apierr.New(apierr.Forbidden, "not allowed")
	}
	u, err := c.User.Get(ctx, id) // confined to the viewer's organization
	if err != nil {
		return nil, err
	}
	if u.Status != user.StatusInvited {
		return nil, apierr.New(apierr.Conflict, "the user is %s, not invited", strings.ToLower(string(u.Status)))
	}
	return u, nil
}

// AcceptInvitation sets the password of the user invited with token, makes
// them active, and ends the invitation.
func (s *Service) AcceptInvitation(ctx context.Context, token, pw string) (*ent.User, error) {
	if err := s.limit(ctx, checkInvitation, "", DeviceFrom(ctx).IP); err != nil {
		return nil, err
	}
	sys := viewer.NewSystemContext(ctx)
	inv, err := s.client.Invitation.Query().Where(invitation.TokenHash(hashToken(token))).WithUser().Only(sys)
	if ent.IsNotFound(err) {
		return nil, errBadInvitation
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(inv.ExpiresAt) {
		return nil, errBadInvitation
	}
	// Check and hash the password before taking any lock.
	if err := password.Check(pw, inv.Edges.User.Email); err != nil {
		return nil, apierr.Input("password", "%s", err)
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return nil, err
	}
	sys = password.WithPrehashed(sys, hash)
	var u *ent.User
	err = s.tx(sys, func(c *ent.Client) error {
		// Deleting it first makes the token single-use, even when two
		// accept it at once: only one deletes the row.
		if n, err := c.Invitation.Delete().Where(invitation.ID(inv.ID)).Exec(sys); err != nil || n != 1 {
			if err == nil {
				err = errBadInvitation
			}
			return err
		}
		u, err = c.User.UpdateOneID(inv.UserID).Where(user.StatusEQ(user.StatusInvited)).SetPassword(hash).Save(sys)
		if ent.IsNotFound(err) {
			return errBadInvitation
		}
		return err
	})
	return u, err
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
