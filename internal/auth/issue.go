package auth

import (
	"context"

	"roster/ent"
)

// Issue opens a session for u (loaded with its role) as a successful login
// does, without asking for a password, and returns it with its token. It is
// for operators' tools and tests; clients log in through Login.
func (s *Service) Issue(ctx context.Context, u *ent.User, dev Device) (*Session, error) {
	return s.open(ctx, u, dev)
}

// Proved opens a session for u (loaded with its role), who has just proved
// who they are by other means than their password (the token of an
// invitation link), or, when their account needs a second factor, returns
// the challenge to answer first, as Login does.
func (s *Service) Proved(ctx context.Context, u *ent.User, dev Device) (*Session, *Challenge, error) {
	if u.MfaRequired || u.TotpEnabled {
		ch, err := s.challenge(ctx, u, dev)
		return nil, ch, err
	}
	sess, err := s.open(ctx, u, dev)
	return sess, nil, err
}
