package auth

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"roster/ent"
	"roster/ent/mfachallenge"
	"roster/ent/user"
	"roster/internal/access"
	"roster/internal/apierr"
	"roster/internal/otp"
)

// The limits of a second-factor challenge.
const (
	challengeTTL  = 10 * time.Minute
	maxAttempts   = 5
	maxSends      = 3
	resendBackoff = 30 * time.Second
)

// Method is a second factor.
type Method string

// The second factors.
const (
	MethodEmail Method = "EMAIL"
	MethodTOTP  Method = "TOTP"
)

// MarshalGQL writes the method as a GraphQL enum value.
func (m Method) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(m))) }

// UnmarshalGQL reads a GraphQL enum value.
func (m *Method) UnmarshalGQL(v any) error {
	s, _ := v.(string)
	if s != string(MethodEmail) && s != string(MethodTOTP) {
		return fmt.Errorf("%v is not a valid MfaMethod", v)
	}
	*m = Method(s)
	return nil
}

// Challenge is a login waiting for its second factor.
type Challenge struct {
	ID        string
	Methods   []Method
	SentTo    string
	ExpiresAt time.Time
}

// TOTPEnrollment is an authenticator app being enrolled.
type TOTPEnrollment struct {
	Secret, URI string
}

var errChallengeOver = &apierr.Error{Code: apierr.Unauthenticated, Message: "this login challenge is over (expired, answered, or too many attempts): log in again"}

// challenge starts the second factor of u's login: it emails a code unless
// the user has an authenticator app, whose codes are then expected (an
// emailed code comes only when asked for).
func (s *Service) challenge(ctx context.Context, u *ent.User, dev Device) (*Challenge, error) {
	sys, c := authenticating(ctx), s.db(ctx)
	id := "mfa_" + strings.ToLower(rand.Text())
	ch := &Challenge{ID: id, Methods: methodsOf(u), SentTo: maskEmail(u.Email), ExpiresAt: s.now().Add(challengeTTL)}
	create := c.MfaChallenge.Create().
		SetID(id).
		SetOrganizationID(u.OrganizationID).
		SetUserID(u.ID).
		SetExpiresAt(ch.ExpiresAt).
		SetUserAgent(truncate(dev.UserAgent, 512)).
		SetIP(truncate(dev.IP, 64))
	if u.TotpEnabled {
		if err := create.SetCodeHash([]byte{}).SetSends(0).Exec(sys); err != nil {
			return nil, fmt.Errorf("create challenge: %w", err)
		}
		return ch, nil
	}
	code, err := otp.NewCode()
	if err != nil {
		return nil, err
	}
	if err := create.SetCodeHash(otp.HashCode(code, s.codeKey(id))).SetSentAt(s.now()).Exec(sys); err != nil {
		return nil, fmt.Errorf("create challenge: %w", err)
	}
	if err := s.sendCode(sys, c, u.Email, code); err != nil {
		return nil, err
	}
	return ch, nil
}

// methodsOf lists the second factors u may answer with.
func methodsOf(u *ent.User) []Method {
	if u.TotpEnabled {
		return []Method{MethodTOTP, MethodEmail}
	}
	return []Method{MethodEmail}
}

func (s *Service) sendCode(ctx context.Context, c *ent.Client, to, code string) error {
	if s.opts.SendMail == nil {
		return fmt.Errorf("no mail sender to send a login code")
	}
	return s.opts.SendMail(ctx, c, to, "Your login code: "+code,
		"Your login code is "+code+".\n\nIt works once, for 10 minutes. If you did not try to log in, change your password.\n")
}

// VerifyMFA answers challenge id with code and, when right, opens the
// session. Every attempt counts, atomically: after the fifth, the
// challenge accepts nothing more. The operation's transaction commits the
// count even when the code is wrong (verifyMfa is a standalone field).
func (s *Service) VerifyMFA(ctx context.Context, id, code string, dev Device) (*Session, error) {
	if err := s.limit(ctx, address(mfaByAddress, dev.IP)); err != nil {
		return nil, err
	}
	sys, c := authenticating(ctx), s.db(ctx)
	ch, err := c.MfaChallenge.UpdateOneID(id).AddAttempts(1).Save(sys)
	if ent.IsNotFound(err) {
		return nil, errChallengeOver
	}
	if err != nil {
		return nil, fmt.Errorf("count attempt: %w", err)
	}
	if ch.Attempts > maxAttempts || !s.now().Before(ch.ExpiresAt) {
		return nil, errChallengeOver
	}
	u, err := c.User.Query().Where(user.ID(ch.UserID), user.StatusEQ(user.StatusActive)).WithRole().Only(sys)
	if ent.IsNotFound(err) {
		return nil, errChallengeOver
	}
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	ok := len(ch.CodeHash) > 0 && otp.CodeMatches(ch.CodeHash, code, s.codeKey(ch.ID))
	if !ok && u.TotpEnabled && u.TotpSecret != nil {
		step, valid := otp.Validate(*u.TotpSecret, code, s.now(), u.TotpLastStep)
		if valid {
			// Record the step, so that the same code cannot open a second
			// session; a concurrent use of it loses this race.
			n, err := c.User.Update().Where(user.ID(u.ID), user.TotpLastStepLT(step)).SetTotpLastStep(step).Save(sys)
			ok = err == nil && n == 1
		}
	}
	if !ok {
		left := maxAttempts - ch.Attempts
		return nil, &apierr.Error{Code: apierr.Unauthenticated, Field: "code", Message: fmt.Sprintf("wrong or expired code (%d attempts left)", max(left, 0))}
	}
	if err := c.MfaChallenge.DeleteOneID(id).Exec(sys); err != nil && !ent.IsNotFound(err) {
		return nil, fmt.Errorf("end challenge: %w", err)
	}
	return s.open(ctx, u, dev)
}

// ResendCode emails a new code for challenge id.
func (s *Service) ResendCode(ctx context.Context, id string) (*Challenge, error) {
	sys, c := authenticating(ctx), s.db(ctx)
	ch, err := c.MfaChallenge.Query().Where(mfachallenge.ID(id)).WithUser().Only(sys)
	if ent.IsNotFound(err) {
		return nil, errChallengeOver
	}
	if err != nil {
		return nil, fmt.Errorf("find challenge: %w", err)
	}
	now := s.now()
	if ch.Attempts >= maxAttempts || !now.Before(ch.ExpiresAt) {
		return nil, errChallengeOver
	}
	if ch.Sends >= maxSends {
		return nil, &apierr.Error{Code: apierr.RateLimited, Message: "no more codes for this login: log in again"}
	}
	if wait := ch.SentAt.Add(resendBackoff).Sub(now); ch.Sends > 0 && wait > 0 {
		return nil, &apierr.Error{Code: apierr.RateLimited, Message: "wait before asking for another code", RetryAfter: wait}
	}
	code, err := otp.NewCode()
	if err != nil {
		return nil, err
	}
	expires := now.Add(challengeTTL)
	// Only one resend wins a race: the one that still sees the old number
	// of sends.
	n, err := c.MfaChallenge.Update().
		Where(mfachallenge.ID(id), mfachallenge.Sends(ch.Sends)).
		SetCodeHash(otp.HashCode(code, s.codeKey(id))).
		AddSends(1).SetSentAt(now).SetExpiresAt(expires).
		Save(sys)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, &apierr.Error{Code: apierr.RateLimited, Message: "wait before asking for another code", RetryAfter: resendBackoff}
	}
	if err := s.sendCode(sys, c, ch.Edges.User.Email, code); err != nil {
		return nil, err
	}
	return &Challenge{ID: id, Methods: methodsOf(ch.Edges.User), SentTo: maskEmail(ch.Edges.User.Email), ExpiresAt: expires}, nil
}

// BeginTOTP starts enrolling an authenticator app for the viewer.
func (s *Service) BeginTOTP(ctx context.Context) (*TOTPEnrollment, error) {
	v, err := Require(ctx)
	if err != nil {
		return nil, err
	}
	c := s.db(ctx)
	u, err := c.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	if u.TotpEnabled {
		return nil, apierr.New(apierr.Conflict, "an authenticator app is already enrolled: disable it first")
	}
	secret, err := otp.NewSecret()
	if err != nil {
		return nil, err
	}
	if err := c.User.UpdateOneID(u.ID).SetTotpSecret(secret).Exec(ctx); err != nil {
		return nil, fmt.Errorf("store secret: %w", err)
	}
	return &TOTPEnrollment{Secret: otp.EncodeSecret(secret), URI: otp.ProvisioningURI(secret, s.opts.Issuer, u.Email)}, nil
}

// ConfirmTOTP enables the authenticator app being enrolled, given one of
// its codes.
func (s *Service) ConfirmTOTP(ctx context.Context, code string) (*ent.User, error) {
	v, err := Require(ctx)
	if err != nil {
		return nil, err
	}
	c := s.db(ctx)
	u, err := c.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	if u.TotpEnabled || u.TotpSecret == nil {
		return nil, apierr.New(apierr.Conflict, "no authenticator enrolment in progress: begin one first")
	}
	step, ok := otp.Validate(*u.TotpSecret, code, s.now(), u.TotpLastStep)
	if !ok {
		return nil, apierr.Input("code", "wrong or expired code")
	}
	return c.User.UpdateOneID(u.ID).SetTotpEnabled(true).SetTotpLastStep(step).Save(ctx)
}

// DisableTOTP removes the viewer's authenticator app, given their password.
func (s *Service) DisableTOTP(ctx context.Context, pw string) (*ent.User, error) {
	u, err := s.checkPassword(ctx, pw)
	if err != nil {
		return nil, err
	}
	return s.db(ctx).User.UpdateOneID(u.ID).SetTotpEnabled(false).ClearTotpSecret().SetTotpLastStep(0).Save(access.WithPasswordProved(ctx, u.ID))
}

// codeKey is the key of the hashes of a challenge's codes: the server's
// secret when configured, and the challenge's own random ID in any case.
func (s *Service) codeKey(challengeID string) []byte {
	return append(append([]byte{}, s.opts.Secret...), challengeID...)
}

// maskEmail hides most of the local part of an address: ana@x.com → a**@x.com.
func maskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "***"
	}
	r := []rune(local)
	return string(r[0]) + strings.Repeat("*", max(len(r)-1, 2)) + "@" + domain
}
