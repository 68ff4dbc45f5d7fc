package graph

import (
	"context"

	"roster/ent/user"
	"roster/graph/model"
	"roster/internal/auth"
	"roster/internal/viewer"
)

// loginPayload answers a login: the challenge when one is pending, else
// the session with its user, whose edges the client may select, loaded as
// the new viewer.
func (r *Resolver) loginPayload(ctx context.Context, s *auth.Session, ch *auth.Challenge) (*model.LoginPayload, error) {
	if ch != nil {
		return &model.LoginPayload{Challenge: ch}, nil
	}
	u, err := r.db(ctx).User.Query().Where(user.ID(s.User.ID)).WithRole().WithDivisions().Only(viewer.NewContext(ctx, s.Viewer))
	if err != nil {
		return nil, err
	}
	return &model.LoginPayload{Token: &s.Token, ExpiresAt: &s.ExpiresAt, User: u}, nil
}
