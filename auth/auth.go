// Package auth owns logging in and out and recognising the bearer tokens
// of later requests. A token is random and opaque; only its SHA-256 hash is
// stored, in a session that can be revoked.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"roster/apierr"
	"roster/ent"
	"roster/ent/role"
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

// Authenticate returns the viewer a token stands for. It takes one SQL
// statement (plus, at most once a minute per session, one more recording
// the session's use).
func (s *Service) Authenticate(ctx context.Context, token string) (*viewer.Viewer, error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return nil, ErrInvalidToken
	}
	sys := viewer.NewSystemContext(ctx)
	var rows []struct {
		Session        int       `sql:"session_id"`
		ExpiresAt      time.Time `sql:"expires_at"`
		LastUsedAt     time.Time `sql:"last_used_at"`
		User           int       `sql:"user_id"`
		OrganizationID int       `sql:"organization_id"`
		Status         string    `sql:"status"`
		Broadcast      bool      `sql:"broadcast"`
		ChatAccess     string    `sql:"chat_access"`
		Role           int       `sql:"role_id"`
		Permissions    string    `sql:"permissions"`
	}
	err := s.client.Session.Query().
		Where(session.TokenHash(hashToken(token))).
		Modify(func(q *entsql.Selector) {
			u, r := entsql.Table(user.Table), entsql.Table(role.Table)
			q.Join(u).On(q.C(session.FieldUserID), u.C(user.FieldID)).
				Join(r).On(u.C(user.FieldRoleID), r.C(role.FieldID)).
				Select(
					entsql.As(q.C(session.FieldID), "session_id"),
					q.C(session.FieldExpiresAt), q.C(session.FieldLastUsedAt), q.C(session.FieldUserID),
					u.C(user.FieldOrganizationID), u.C(user.FieldStatus), u.C(user.FieldBroadcast), u.C(user.FieldChatAccess), u.C(user.FieldRoleID),
					r.C(role.FieldPermissions),
				)
		}).
		Scan(sys, &rows)
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	if len(rows) == 0 {
		return nil, ErrInvalidToken
	}
	row := rows[0]
	now := s.now()
	if !now.Before(row.ExpiresAt) || row.Status != string(user.StatusActive) {
		return nil, ErrInvalidToken
	}
	var perms []viewer.Permission
	if err := json.Unmarshal([]byte(row.Permissions), &perms); err != nil {
		return nil, fmt.Errorf("read permissions of role %d: %w", row.Role, err)
	}
	if now.Sub(row.LastUsedAt) > touchEvery {
		if err := s.client.Session.UpdateOneID(row.Session).SetLastUsedAt(now).Exec(sys); err != nil && !ent.IsNotFound(err) {
			s.log.WarnContext(ctx, "record session use", "session", row.Session, "err", err)
		}
	}
	v := newViewer(row.User, row.OrganizationID, row.Role, row.Session, perms, row.Broadcast, user.ChatAccess(row.ChatAccess))
	v.ExpiresAt = row.ExpiresAt
	return v, nil
}

// ViewerOf returns the viewer for user u (loaded with its role) acting
// through session sessionID.
func ViewerOf(u *ent.User, sessionID int) *viewer.Viewer {
	return newViewer(u.ID, u.OrganizationID, u.RoleID, sessionID, u.Edges.Role.Permissions, u.Broadcast, u.ChatAccess)
}

func newViewer(userID, orgID, roleID, sessionID int, rolePerms []viewer.Permission, broadcast bool, access user.ChatAccess) *viewer.Viewer {
	perms := append([]viewer.Permission(nil), rolePerms...)
	if broadcast && !slices.Contains(perms, viewer.Broadcast) {
		perms = append(perms, viewer.Broadcast)
	}
	v := &viewer.Viewer{
		UserID:         userID,
		OrganizationID: orgID,
		RoleID:         roleID,
		SessionID:      sessionID,
		Permissions:    perms,
	}
	// Who manages users sees them all; others with access to their
	// assigned divisions only see the users of those.
	v.DivisionScoped = access == user.ChatAccessAssignedDivisions && !v.Can(viewer.ManageUsers) && !v.Can(viewer.ViewAllChats)
	return v
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
