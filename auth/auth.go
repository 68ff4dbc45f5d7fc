// Package auth owns logging in and out and recognising the bearer tokens
// of later requests. A token is random and opaque; only its SHA-256 hash is
// stored, in a session that can be revoked.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"roster/apierr"
	"roster/ent"
	"roster/ent/session"
	"roster/ent/user"
	"roster/password"
	"roster/viewer"
)

// tokenPrefix marks roster tokens, so that leaked ones are easy to spot.
const tokenPrefix = "rst_"

// touchEvery is how stale a session's last use may get before it is
// written again; it bounds the writes authentication makes.
const touchEvery = time.Minute

// ErrInvalidToken is returned for a token that is unknown, revoked or
// expired, or whose user can no longer log in.
var ErrInvalidToken = &apierr.Error{Code: apierr.Unauthenticated, Message: "the token is invalid, revoked or expired: log in again"}

// ErrNoCredentials is returned when a request needs a viewer and carries no
// token.
var ErrNoCredentials = &apierr.Error{Code: apierr.Unauthenticated, Message: "authentication required: send Authorization: Bearer <token>"}

// errBadCredentials is the one answer to every failed login, so that it
// does not tell which emails have accounts.
var errBadCredentials = &apierr.Error{Code: apierr.Unauthenticated, Message: "invalid email or password"}

// Service logs users in and authenticates their tokens.
type Service struct {
	client *ent.Client
	ttl    time.Duration
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Service issuing tokens valid for ttl.
func New(client *ent.Client, ttl time.Duration, log *slog.Logger) *Service {
	return &Service{client: client, ttl: ttl, log: log, now: time.Now}
}

// Device describes the client a login comes from.
type Device struct {
	UserAgent string
	IP        string
}

// Session is the result of a successful login.
type Session struct {
	Token     string
	ExpiresAt time.Time
	User      *ent.User
	Viewer    *viewer.Viewer
}

// Login checks an email and password and opens a session. organizationID,
// when not zero, picks the organization among several where the same
// credentials are valid.
func (s *Service) Login(ctx context.Context, email, pw string, organizationID int, dev Device) (*Session, error) {
	sys := viewer.NewSystemContext(ctx)
	q := s.client.User.Query().Where(user.Email(strings.ToLower(strings.TrimSpace(email))), user.StatusEQ(user.StatusActive))
	if organizationID != 0 {
		q.Where(user.OrganizationID(organizationID))
	}
	candidates, err := q.All(sys)
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	var matches []*ent.User
	for _, u := range candidates {
		if password.Verify(u.Password, pw) {
			matches = append(matches, u)
		}
	}
	if len(candidates) == 0 {
		password.Verify("", pw) // the same time as a wrong password
	}
	switch {
	case len(matches) == 0:
		return nil, errBadCredentials
	case len(matches) > 1:
		return nil, apierr.Input("organizationID", "these credentials open accounts in %d organizations: say which one", len(matches))
	}
	u := matches[0]
	if u.Edges.Role, err = u.QueryRole().Only(sys); err != nil {
		return nil, fmt.Errorf("find role: %w", err)
	}
	token, hash, err := newToken()
	if err != nil {
		return nil, err
	}
	now := s.now()
	sess, err := s.client.Session.Create().
		SetOrganizationID(u.OrganizationID).
		SetUserID(u.ID).
		SetTokenHash(hash).
		SetCreatedAt(now).
		SetLastUsedAt(now).
		SetExpiresAt(now.Add(s.ttl)).
		SetUserAgent(truncate(dev.UserAgent, 512)).
		SetIP(truncate(dev.IP, 64)).
		Save(sys)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return &Session{Token: token, ExpiresAt: now.Add(s.ttl), User: u, Viewer: ViewerOf(u, sess.ID)}, nil
}

// Authenticate returns the viewer a token stands for.
func (s *Service) Authenticate(ctx context.Context, token string) (*viewer.Viewer, error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return nil, ErrInvalidToken
	}
	sys := viewer.NewSystemContext(ctx)
	sess, err := s.client.Session.Query().
		Where(session.TokenHash(hashToken(token))).
		WithUser(func(q *ent.UserQuery) { q.WithRole() }).
		Only(sys)
	if ent.IsNotFound(err) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	now := s.now()
	u := sess.Edges.User
	if !now.Before(sess.ExpiresAt) || u.Status != user.StatusActive {
		return nil, ErrInvalidToken
	}
	if now.Sub(sess.LastUsedAt) > touchEvery {
		if err := s.client.Session.UpdateOneID(sess.ID).SetLastUsedAt(now).Exec(sys); err != nil && !ent.IsNotFound(err) {
			s.log.WarnContext(ctx, "record session use", "session", sess.ID, "err", err)
		}
	}
	return ViewerOf(u, sess.ID), nil
}

// ViewerOf returns the viewer for user u (loaded with its role) acting
// through session sessionID.
func ViewerOf(u *ent.User, sessionID int) *viewer.Viewer {
	perms := append([]viewer.Permission(nil), u.Edges.Role.Permissions...)
	if u.Broadcast && !slices.Contains(perms, viewer.Broadcast) {
		perms = append(perms, viewer.Broadcast)
	}
	return &viewer.Viewer{
		UserID:         u.ID,
		OrganizationID: u.OrganizationID,
		RoleID:         u.RoleID,
		SessionID:      sessionID,
		Permissions:    perms,
	}
}

// Logout ends the session of the viewer in ctx.
func (s *Service) Logout(ctx context.Context) error {
	v := viewer.FromContext(ctx)
	if v == nil {
		return &apierr.Error{Code: apierr.Unauthenticated, Message: "not logged in"}
	}
	err := s.client.Session.DeleteOneID(v.SessionID).Exec(viewer.NewSystemContext(ctx))
	if err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// Require returns the viewer of ctx, or an UNAUTHENTICATED error saying why
// there is none.
func Require(ctx context.Context) (*viewer.Viewer, error) {
	if v := viewer.FromContext(ctx); v != nil {
		return v, nil
	}
	if err := Failure(ctx); err != nil {
		return nil, err
	}
	return nil, ErrNoCredentials
}

// ParseAuthorization returns the token of an "Authorization: Bearer <token>"
// header value, and whether there was one.
func ParseAuthorization(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func newToken() (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("generate token: %w", err)
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
