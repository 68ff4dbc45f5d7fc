package account

import (
	"context"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strings"

	"roster/ent"
	"roster/ent/organization"
	"roster/ent/passwordreset"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/auth"
	"roster/internal/password"
	"roster/internal/viewer"
)

var errBadReset = apierr.Input("token", "this password reset link is invalid, was used already, or expired: ask for a new one")

// RequestPasswordReset mails a link to set a new password to each active
// account of email (in organization orgID when not zero). It answers the
// same, and does about the same work, whether email has an account or not:
// an email without one is sent a mail saying so, through the same outbox,
// so that neither the answer nor its time tells which emails have
// accounts. Requests are rate-limited per client address and per email.
func (s *Service) RequestPasswordReset(ctx context.Context, email string, orgID int) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if a, err := netmail.ParseAddress(email); err != nil || a.Address != email {
		return apierr.Input("email", "must be an email address")
	}
	if err := s.auth.LimitPasswordReset(ctx, orgID, email); err != nil {
		return err
	}
	// The server acts on its own behalf: nobody is logged in.
	sys := viewer.NewSystemContext(ctx)
	c := s.db(ctx)
	q := c.User.Query().Where(user.Email(email), user.StatusEQ(user.StatusActive)).WithOrganization()
	if orgID != 0 {
		q.Where(user.OrganizationID(orgID))
	}
	users, err := q.All(sys)
	if err != nil {
		return fmt.Errorf("find user: %w", err)
	}
	if len(users) == 0 {
		// As many statements as for an account: the organization read
		// with the user, a token, the two writes of a link (deletes that
		// find nothing here), and a mail.
		if _, err := c.Organization.Query().Where(organization.ID(orgID)).All(sys); err != nil {
			return err
		}
		_, hash, err := auth.NewToken()
		if err != nil {
			return err
		}
		if _, err := c.PasswordReset.Delete().Where(passwordreset.UserID(0)).Exec(sys); err != nil {
			return err
		}
		if _, err := c.PasswordReset.Delete().Where(passwordreset.TokenHash(hash)).Exec(sys); err != nil {
			return err
		}
		body := fmt.Sprintf("Hello,\n\nSomeone asked to reset the password of an account under %s, but this address has none here. If it was you, ask your admin for an invitation, or try the address your account was made with. Otherwise, there is nothing to do.\n", email)
		return s.opts.SendMail(ctx, c, email, "Password reset", body)
	}
	for _, u := range users {
		if err := s.sendReset(sys, c, u); err != nil {
			return err
		}
	}
	return nil
}

// sendReset replaces the reset links of u (loaded with its organization) by
// a new one and mails it.
func (s *Service) sendReset(ctx context.Context, c *ent.Client, u *ent.User) error {
	token, hash, err := auth.NewToken()
	if err != nil {
		return err
	}
	if _, err := c.PasswordReset.Delete().Where(passwordreset.UserID(u.ID)).Exec(ctx); err != nil {
		return fmt.Errorf("end previous reset links: %w", err)
	}
	expires := s.now().Add(s.opts.PasswordResetTTL)
	if err := c.PasswordReset.Create().
		SetOrganizationID(u.OrganizationID).
		SetUserID(u.ID).
		SetTokenHash(hash).
		SetCreatedAt(s.now()).
		SetExpiresAt(expires).
		Exec(ctx); err != nil {
		return fmt.Errorf("create reset link: %w", err)
	}
	link := strings.TrimRight(s.opts.PublicURL, "/") + "/reset-password?token=" + url.QueryEscape(token)
	body := fmt.Sprintf("Hello %s,\n\nSomeone, probably you, asked to reset your password at %s. Choose a new one here:\n\n%s\n\nThe link works once, until %s. If you did not ask, ignore this mail: your password stays as it is.\n",
		u.FirstName, u.Edges.Organization.Name, link, expires.UTC().Format("2 January 2006 15:04 MST"))
	return s.opts.SendMail(ctx, c, u.Email, "Reset your password for "+u.Edges.Organization.Name, body)
}

// ResetPassword sets the password of the user whose reset link carries
// token, ends every session of theirs and the link. The token is the
// credential: the server recognises it, and acts on it, on its own behalf.
func (s *Service) ResetPassword(ctx context.Context, token, pw string) error {
	if err := s.auth.LimitResetToken(ctx); err != nil {
		return err
	}
	// Read, check and hash before the operation's transaction begins: the
	// link through the root client, so that hashing holds no lock.
	sys := viewer.NewSystemContext(ctx)
	pr, err := s.client.PasswordReset.Query().Where(passwordreset.TokenHash(auth.HashToken(token))).WithUser().Only(sys)
	if ent.IsNotFound(err) {
		return errBadReset
	}
	if err != nil {
		return err
	}
	if !s.now().Before(pr.ExpiresAt) {
		return errBadReset
	}
	if err := password.Check(pw, pr.Edges.User.Email); err != nil {
		return apierr.Input("password", "%s", err)
	}
	hash, err := s.client.Hasher.Hash(pw)
	if err != nil {
		return err
	}
	sys = password.WithPrehashed(sys, hash)
	c := s.db(ctx)
	// Deleting it first makes the token single-use, even when two use it
	// at once: only one deletes the row.
	if n, err := c.PasswordReset.Delete().Where(passwordreset.ID(pr.ID)).Exec(sys); err != nil || n != 1 {
		if err == nil {
			err = errBadReset
		}
		return err
	}
	// With no viewer, the new password ends every session of the user.
	err = c.User.UpdateOneID(pr.UserID).Where(user.StatusEQ(user.StatusActive)).SetPassword(hash).Exec(sys)
	if ent.IsNotFound(err) {
		return errBadReset
	}
	return err
}
