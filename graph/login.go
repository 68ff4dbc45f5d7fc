package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"roster/ent"
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
	// The client's selection under user is loaded now, as the new viewer:
	// the request itself has none, so its nested fields could not be
	// read later.
	vctx := viewer.NewContext(ctx, s.Viewer)
	q := r.db(ctx).User.Query().Where(user.ID(s.User.ID))
	selected := false
	if fc := graphql.GetFieldContext(ctx); fc != nil && graphql.HasOperationContext(ctx) {
		for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, []string{"LoginPayload"}) {
			if f.Name != "user" {
				continue
			}
			var err error
			if q, err = q.CollectFields(graphql.WithFieldContext(vctx, &graphql.FieldContext{Object: "LoginPayload", Field: f})); err != nil {
				return nil, err
			}
			selected = true
		}
	}
	if !selected {
		q.WithRole().WithDivisions()
	}
	u, err := q.Only(vctx)
	if err != nil {
		return nil, err
	}
	return &model.LoginPayload{Token: &s.Token, ExpiresAt: &s.ExpiresAt, User: u}, nil
}

// asSelf loads user u (loaded with their role), with every edge the
// client selected, as seen by u: for the answer of a field that acts for
// someone who is not logged in yet (accepting an invitation), whose nested
// fields would otherwise be read without a viewer.
func (r *Resolver) asSelf(ctx context.Context, u *ent.User) (*ent.User, error) {
	ctx = viewer.NewContext(ctx, auth.ViewerOf(u, 0))
	q, err := r.db(ctx).User.Query().Where(user.ID(u.ID)).CollectFields(ctx)
	if err != nil {
		return nil, err
	}
	return q.Only(ctx)
}
