package account

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	gen "entgo.io/ent"

	"roster/ent"
	"roster/ent/hook"
	"roster/ent/invitation"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/auth"
	"roster/internal/password"
	"roster/internal/viewer"
)

var errBadInvitation = apierr.Input("token", "this invitation link is invalid, was used already, or expired: ask an admin for a new one")

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

// invite replaces the invitations of u by a new one and mails its link,
// through c, as the caller.
func (s *Service) invite(ctx context.Context, c *ent.Client, u *ent.User) error {
	token, hash, err := auth.NewToken()
	if err != nil {
		return err
	}
	if _, err := c.Invitation.Delete().Where(invitation.UserID(u.ID)).Exec(ctx); err != nil {
		return fmt.Errorf("end previous invitations: %w", err)
	}
	if err := c.Invitation.Create().
		SetOrganizationID(u.OrganizationID).
		SetUserID(u.ID).
		SetTokenHash(hash).
		SetCreatedAt(s.now()).
		SetExpiresAt(s.now().Add(s.opts.InvitationTTL)).
		Exec(ctx); err != nil {
		return fmt.Errorf("create invitation: %w", err)
	}
	if s.opts.SendMail == nil {
		return fmt.Errorf("no mail sender to send an invitation")
	}
	org, err := c.Organization.Get(ctx, u.OrganizationID)
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
func (s *Service) ResendInvitation(ctx context.Context, id int) (*ent.User, error) {
	c := s.db(ctx)
	u, err := s.invited(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return u, s.invite(ctx, c, u)
}

// RevokeInvitation ends the invitations of invited user id. The viewer must
// manage users.
func (s *Service) RevokeInvitation(ctx context.Context, id int) (*ent.User, error) {
	c := s.db(ctx)
	u, err := s.invited(ctx, c, id)
	if err != nil {
		return nil, err
	}
	_, err = c.Invitation.Delete().Where(invitation.UserID(u.ID)).Exec(ctx)
	return u, err
}

// invited returns user id, of the viewer's organization, if they are
// invited and the viewer may manage users.
func (s *Service) invited(ctx context.Context, c *ent.Client, id int) (*ent.User, error) {
	if err := canManageUsers(ctx); err != nil {
		return nil, err
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
// them active, ends the invitation, and returns them with their role. The
// token is the credential: the server recognises it, and acts on it, on
// its own behalf.
func (s *Service) AcceptInvitation(ctx context.Context, token, pw string) (*ent.User, error) {
	if err := s.auth.LimitInvitation(ctx); err != nil {
		return nil, err
	}
	// Read, check and hash before the operation's transaction begins: the
	// invitation through the root client, so that hashing holds no lock.
	sys := viewer.NewSystemContext(ctx)
	inv, err := s.client.Invitation.Query().Where(invitation.TokenHash(auth.HashToken(token))).WithUser().Only(sys)
	if ent.IsNotFound(err) {
		return nil, errBadInvitation
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(inv.ExpiresAt) {
		return nil, errBadInvitation
	}
	if err := password.Check(pw, inv.Edges.User.Email); err != nil {
		return nil, apierr.Input("password", "%s", err)
	}
	hash, err := s.client.Hasher.Hash(pw)
	if err != nil {
		return nil, err
	}
	sys = password.WithPrehashed(sys, hash)
	c := s.db(ctx)
	// Deleting it first makes the token single-use, even when two accept
	// it at once: only one deletes the row.
	if n, err := c.Invitation.Delete().Where(invitation.ID(inv.ID)).Exec(sys); err != nil || n != 1 {
		if err == nil {
			err = errBadInvitation
		}
		return nil, err
	}
	err = c.User.UpdateOneID(inv.UserID).Where(user.StatusEQ(user.StatusInvited)).SetPassword(hash).Exec(sys)
	if ent.IsNotFound(err) {
		return nil, errBadInvitation
	}
	if err != nil {
		return nil, err
	}
	return c.User.Query().Where(user.ID(inv.UserID)).WithRole().Only(sys)
}
