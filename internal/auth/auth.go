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
	"strconv"
	"strings"
	"sync"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"roster/ent"
	"roster/ent/auditevent"
	"roster/ent/predicate"
	"roster/ent/role"
	"roster/ent/session"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/audit"
	"roster/internal/ratelimit"
	"roster/internal/store"
	"roster/internal/viewer"
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
	opts   Options
	ttl    time.Duration
	log    *slog.Logger
	now    func() time.Time

	limits      *ratelimit.Limiter
	lookups     lookups
	permissions permissionSets
	// background counts the writes no request waits for (the record of a
	// session's use): Wait waits for them before the database closes.
	background sync.WaitGroup
}

// Wait returns once the writes started off the requests' paths are done.
// Call it after the server stops serving, before the database closes.
func (s *Service) Wait() { s.background.Wait() }

// permissionSets shares the permissions of the viewers that sessions are
// read into (see load) among those with the same role permissions and
// broadcast flag: every live connection keeps its viewer, and thousands
// of them have the same few sets of permissions. A set is shared
// read-only, its capacity its length, so that an append copies it.
type permissionSets struct {
	mu   sync.Mutex
	sets map[permissionSet][]viewer.Permission
}

// permissionSet is a role's permissions as stored (JSON), and the
// broadcast flag.
type permissionSet struct {
	stored    string
	broadcast bool
}

// maxPermissionSets bounds the sets kept; others are decoded each time.
const maxPermissionSets = 256

// of returns the permissions of a role whose permissions are stored as
// the JSON array stored, with BROADCAST when broadcast is set.
func (p *permissionSets) of(stored string, broadcast bool) ([]viewer.Permission, error) {
	key := permissionSet{stored, broadcast}
	p.mu.Lock()
	perms, ok := p.sets[key]
	p.mu.Unlock()
	if ok {
		return perms, nil
	}
	if err := json.Unmarshal([]byte(stored), &perms); err != nil {
		return nil, err
	}
	perms = slices.Clip(withBroadcast(perms, broadcast))
	p.mu.Lock()
	if p.sets == nil {
		p.sets = map[permissionSet][]viewer.Permission{}
	}
	if len(p.sets) < maxPermissionSets {
		p.sets[key] = perms
	}
	p.mu.Unlock()
	return perms, nil
}

// Options configure the authentication service.
type Options struct {
	// SessionTTL is how long a token stays valid.
	SessionTTL time.Duration
	// Secret keys the hashes of emailed codes; optional.
	Secret []byte
	// Issuer names the product in authenticator apps.
	Issuer string
	// SendMail queues a mail through client (a transaction's, so that the
	// mail goes out only if it commits).
	SendMail func(ctx context.Context, client *ent.Client, to, subject, body string) error
	// Limits counts attempts (logins, second factors, invitations) in the
	// database, shared by the instances that share it.
	Limits *ratelimit.Limiter
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// New returns an authentication service.
func New(client *ent.Client, opts Options, log *slog.Logger) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Issuer == "" {
		opts.Issuer = "roster"
	}
	if opts.Limits == nil {
		panic("auth.New: Options.Limits is required")
	}
	s := &Service{client: client, opts: opts, ttl: opts.SessionTTL, log: log, now: opts.Now, limits: opts.Limits}
	s.lookups.s = s
	return s
}

// The rate limits of attempts. Per account: a few tries, then one every
// 90 s; an account is an email in one organization, so the same email
// elsewhere is counted apart. Per address: an office behind one address
// still logs in.
var (
	loginByAccount      = ratelimit.Rule{Name: "login-account", Limit: 10, Window: 15 * time.Minute}
	loginByAddress      = ratelimit.Rule{Name: "login-address", Limit: 100, Window: 15 * time.Minute}
	mfaByAddress        = ratelimit.Rule{Name: "mfa-address", Limit: 100, Window: 15 * time.Minute}
	invitationByAddress = ratelimit.Rule{Name: "invitation-address", Limit: 20, Window: 15 * time.Minute}
	resetByAddress      = ratelimit.Rule{Name: "reset-address", Limit: 20, Window: 15 * time.Minute}
	resetByEmail        = ratelimit.Rule{Name: "reset-email", Limit: 3, Window: time.Hour}
)

// account is the check of the login attempts at email in organization
// orgID (0 when the email has no account and no organization was named).
func account(orgID int, email string) ratelimit.Check {
	return ratelimit.Check{Rule: loginByAccount, Key: strconv.Itoa(orgID) + ":" + email}
}

func address(r ratelimit.Rule, ip string) ratelimit.Check {
	return ratelimit.Check{Rule: r, Key: ip}
}

// limit refuses an attempt beyond the rate limits of checks, counting it
// otherwise.
func (s *Service) limit(ctx context.Context, checks ...ratelimit.Check) error {
	d, err := s.limits.Allow(ctx, checks...)
	if err != nil {
		return err
	}
	if !d.OK {
		return errRateLimited(d.RetryAfter)
	}
	return nil
}

func errRateLimited(wait time.Duration) error {
	return &apierr.Error{Code: apierr.RateLimited, Message: fmt.Sprintf("too many attempts: try again in %d seconds", apierr.RetryAfterSeconds(wait)), RetryAfter: wait}
}

// LimitInvitation refuses an attempt to accept an invitation beyond the
// rate limit of the client address in ctx.
func (s *Service) LimitInvitation(ctx context.Context) error {
	return s.limit(ctx, address(invitationByAddress, DeviceFrom(ctx).IP))
}

// LimitPasswordReset refuses a request for a password reset link beyond the
// rate limits of the client address in ctx and of email, counting it
// otherwise. email is counted whether it has accounts or not, and in
// organization orgID (0 when none was named), so that a refusal tells
// nothing about which emails have accounts.
func (s *Service) LimitPasswordReset(ctx context.Context, orgID int, email string) error {
	return s.limit(ctx, address(resetByAddress, DeviceFrom(ctx).IP),
		ratelimit.Check{Rule: resetByEmail, Key: strconv.Itoa(orgID) + ":" + email})
}

// LimitResetToken refuses an attempt to use a password reset token beyond
// the rate limit of the client address in ctx.
func (s *Service) LimitResetToken(ctx context.Context) error {
	return s.limit(ctx, address(resetByAddress, DeviceFrom(ctx).IP))
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

// Login checks an email and password. It opens a session, or, when the
// account needs a second factor, returns the challenge to answer first.
// organizationID, when not zero, picks the organization among several
// where the same credentials are valid.
func (s *Service) Login(ctx context.Context, email, pw string, organizationID int, dev Device) (*Session, *Challenge, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	// The credentials are checked before the operation's transaction
	// begins: through the root client, so that verifying the password
	// holds no lock.
	q := s.client.User.Query().Where(user.Email(email), user.StatusEQ(user.StatusActive)).WithRole()
	if organizationID != 0 {
		q.Where(user.OrganizationID(organizationID))
	}
	candidates, err := q.All(authenticating(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("find user: %w", err)
	}
	// Each account the attempt tries is counted apart; an email with no
	// account is counted too, so that it is refused like one that has.
	accounts := []ratelimit.Check{account(organizationID, email)}
	if len(candidates) > 0 {
		accounts = accounts[:0]
		for _, u := range candidates {
			accounts = append(accounts, account(u.OrganizationID, email))
		}
	}
	d, err := s.limits.AllowSome(ctx, []ratelimit.Check{address(loginByAddress, dev.IP)}, accounts)
	if err != nil {
		return nil, nil, err
	}
	if !d.OK {
		return nil, nil, errRateLimited(d.RetryAfter)
	}
	// The accounts over their limit are not tried: the others are.
	var matches []int
	for i, u := range candidates {
		if d.Allowed[i] && s.client.Hasher.Verify(u.Password, pw) {
			matches = append(matches, i)
		}
	}
	if len(candidates) == 0 {
		s.client.Hasher.Verify("", pw) // the same time as a wrong password
	}
	switch {
	case len(matches) == 0 && d.RetryAfter > 0:
		// The attempt may have been meant for an account not tried.
		s.recordFailedLogins(ctx, candidates, "rate limited")
		return nil, nil, errRateLimited(d.RetryAfter)
	case len(matches) == 0:
		s.recordFailedLogins(ctx, candidates, "wrong password")
		return nil, nil, errBadCredentials
	case len(matches) > 1:
		return nil, nil, apierr.Input("organizationID", "these credentials open accounts in %d organizations: say which one", len(matches))
	}
	// Only this account's failures are forgiven, not those of the same
	// email in other organizations.
	if err := s.limits.Reset(ctx, accounts[matches[0]]); err != nil {
		return nil, nil, err
	}
	u := candidates[matches[0]]
	if u.MfaRequired || u.TotpEnabled {
		ch, err := s.challenge(ctx, u, dev)
		return nil, ch, err
	}
	sess, err := s.open(ctx, u, dev)
	return sess, nil, err
}

// recordFailedLogins appends a failed login to the audit log of each
// account an attempt was refused for, in a transaction of its own: the
// operation's rolls back, and the failure must stay recorded, like the
// rate-limit counts. An email with no account records nothing.
func (s *Service) recordFailedLogins(ctx context.Context, candidates []*ent.User, reason string) {
	if len(candidates) == 0 {
		return
	}
	// Leave the operation's transaction out of the context.
	own := ent.NewContext(ent.NewTxContext(ctx, nil), nil)
	err := store.Transact(own, s.client, func(ctx context.Context) error {
		for _, u := range candidates {
			if _, err := audit.Append(ctx, ent.FromContext(ctx), audit.Entry{
				Organization: u.OrganizationID, Action: "login.failed",
				TargetType: ent.TypeUser, TargetID: u.ID, TargetLabel: u.Email,
				Changes: map[string]any{"reason": map[string]any{"after": reason}},
				Actor:   &audit.Actor{Type: auditevent.ActorTypeSystem, Label: "anonymous"},
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "record failed login", "err", err)
	}
}

// authenticating returns the context in which the service recognises
// credentials (an email and password, a token, a login challenge) and
// records what they open, before there is a viewer to act for: the server
// acts on its own behalf there, and only there.
func authenticating(ctx context.Context) context.Context {
	return viewer.NewSystemContext(ctx)
}

// db returns the client of the operation's transaction (ent.FromContext),
// or the root client outside one.
func (s *Service) db(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return s.client
}

// open creates a session for u (loaded with its role), in the operation's
// transaction.
func (s *Service) open(ctx context.Context, u *ent.User, dev Device) (*Session, error) {
	token, hash, err := NewToken()
	if err != nil {
		return nil, err
	}
	now := s.now()
	// The session and the login's audit entry commit together: in the
	// operation's transaction, or in one of their own outside any.
	var sess *ent.Session
	err = store.Transact(ctx, s.client, func(ctx context.Context) (err error) {
		c := ent.FromContext(ctx)
		sess, err = c.Session.Create().
			SetOrganizationID(u.OrganizationID).
			SetUserID(u.ID).
			SetTokenHash(hash).
			SetCreatedAt(now).
			SetLastUsedAt(now).
			SetExpiresAt(now.Add(s.ttl)).
			SetUserAgent(truncate(dev.UserAgent, 512)).
			SetIP(truncate(dev.IP, 64)).
			Save(authenticating(ctx))
		if err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		_, err = audit.Append(ctx, c, audit.Entry{
			Organization: u.OrganizationID, Action: "login.succeeded",
			TargetType: ent.TypeUser, TargetID: u.ID, TargetLabel: u.Email,
			Changes: map[string]any{"session": map[string]any{"after": sess.ID}},
			Actor:   &audit.Actor{Type: auditevent.ActorTypeUser, ID: u.ID, Label: u.Email},
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	v := ViewerOf(u, sess.ID)
	v.ExpiresAt = sess.ExpiresAt
	return &Session{Token: token, ExpiresAt: sess.ExpiresAt, User: u, Viewer: v}, nil
}

// Authenticate returns the viewer a token stands for. It takes one SQL
// statement (plus, at most once a minute per session, one more recording
// the session's use).
func (s *Service) Authenticate(ctx context.Context, token string) (*viewer.Viewer, error) {
	if strings.HasPrefix(token, apiKeyPrefix) {
		return s.authenticateAPIKey(ctx, token)
	}
	if !strings.HasPrefix(token, tokenPrefix) {
		return nil, ErrInvalidToken
	}
	return s.current(ctx, sessionKey{hash: string(HashToken(token))})
}

// SessionViewer returns the viewer of session id as it is now: what a live
// connection, which keeps only its session, runs each operation with. It
// takes the statement Authenticate takes.
func (s *Service) SessionViewer(ctx context.Context, id int) (*viewer.Viewer, error) {
	return s.current(ctx, sessionKey{id: id})
}

// SessionViewers returns the viewers of the sessions ids as they are now,
// by session; sessions that ended, expired or whose user can no longer log
// in are left out. It takes one statement per thousand sessions.
func (s *Service) SessionViewers(ctx context.Context, ids []int) (map[int]*viewer.Viewer, error) {
	out := make(map[int]*viewer.Viewer, len(ids))
	for chunk := range slices.Chunk(ids, 1000) {
		vs, err := s.load(ctx, session.IDIn(chunk...))
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			out[v.SessionID] = v.Viewer
		}
	}
	return out, nil
}

// current returns the viewer of the session key names, recording its use
// at most once a minute. Lookups made at the same time are read together
// (see lookups).
func (s *Service) current(ctx context.Context, key sessionKey) (*viewer.Viewer, error) {
	v, err := s.lookups.get(ctx, key)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, ErrInvalidToken
	}
	return v, nil
}

// loaded is a viewer and when its session was last used.
type loaded struct {
	*viewer.Viewer
	lastUsed  time.Time
	tokenHash []byte
}

// load reads the viewers of the sessions where selects, as they are now:
// the session unexpired, the user active, their role's permissions, chat
// access and broadcast flag. Both transports authenticate through it, in
// one SQL statement.
func (s *Service) load(ctx context.Context, where predicate.Session) ([]loaded, error) {
	var rows []struct {
		Session        int       `sql:"session_id"`
		TokenHash      []byte    `sql:"token_hash"`
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
		Where(where).
		Modify(func(q *entsql.Selector) {
			u, r := entsql.Table(user.Table), entsql.Table(role.Table)
			q.Join(u).On(q.C(session.FieldUserID), u.C(user.FieldID)).
				Join(r).On(u.C(user.FieldRoleID), r.C(role.FieldID)).
				Select(
					entsql.As(q.C(session.FieldID), "session_id"), q.C(session.FieldTokenHash),
					q.C(session.FieldExpiresAt), q.C(session.FieldLastUsedAt), q.C(session.FieldUserID),
					u.C(user.FieldOrganizationID), u.C(user.FieldStatus), u.C(user.FieldBroadcast), u.C(user.FieldChatAccess), u.C(user.FieldRoleID),
					r.C(role.FieldPermissions),
				)
		}).
		Scan(authenticating(ctx), &rows)
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	now := s.now()
	out := make([]loaded, 0, len(rows))
	for _, row := range rows {
		if !now.Before(row.ExpiresAt) || row.Status != string(user.StatusActive) {
			continue
		}
		perms, err := s.permissions.of(row.Permissions, row.Broadcast)
		if err != nil {
			return nil, fmt.Errorf("read permissions of role %d: %w", row.Role, err)
		}
		v := newViewer(row.User, row.OrganizationID, row.Role, row.Session, perms, user.ChatAccess(row.ChatAccess))
		v.ExpiresAt = row.ExpiresAt
		out = append(out, loaded{Viewer: v, lastUsed: row.LastUsedAt, tokenHash: row.TokenHash})
	}
	return out, nil
}

// ViewerOf returns the viewer for user u (loaded with its role) acting
// through session sessionID.
func ViewerOf(u *ent.User, sessionID int) *viewer.Viewer {
	perms := withBroadcast(slices.Clone(u.Edges.Role.Permissions), u.Broadcast)
	return newViewer(u.ID, u.OrganizationID, u.RoleID, sessionID, perms, u.ChatAccess)
}

// withBroadcast returns the permissions of a role, perms, with BROADCAST
// when the user has the broadcast flag.
func withBroadcast(perms []viewer.Permission, broadcast bool) []viewer.Permission {
	if broadcast && !slices.Contains(perms, viewer.Broadcast) {
		perms = append(perms, viewer.Broadcast)
	}
	return perms
}

// newViewer returns the viewer of a user with the permissions perms
// (their role's, with BROADCAST by their flag).
func newViewer(userID, orgID, roleID, sessionID int, perms []viewer.Permission, access user.ChatAccess) *viewer.Viewer {
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
	err := s.db(ctx).Session.DeleteOneID(v.SessionID).Exec(ctx)
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

// NewToken returns a new random token and its hash, the only part to
// store.
func NewToken() (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("generate token: %w", err)
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the hash under which token is stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
