package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"roster/ent"
	"roster/graph/model"
	"roster/internal/apierr"
	"roster/internal/auth"
	"roster/internal/viewer"
)

// updateMe changes the viewer's own profile: only the fields privacy lets
// users change about themselves (access.AllowSelf) can be named here.
func (r *Resolver) updateMe(ctx context.Context, input map[string]any) (*ent.User, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	up := r.db(ctx).User.UpdateOneID(v.UserID)
	for _, f := range []struct {
		name string
		set  func(string) *ent.UserUpdateOne
	}{
		{"displayName", up.SetDisplayName},
		{"firstName", up.SetFirstName},
		{"lastName", up.SetLastName},
	} {
		val, ok := input[f.name]
		if !ok {
			continue
		}
		s, _ := val.(*string)
		if s == nil {
			return nil, apierr.Input(f.name, "must not be null")
		}
		f.set(*s)
	}
	// A field left out is kept: the input is a map, so that a null phone
	// (remove it) differs from no phone (keep it).
	if val, ok := input["phone"]; ok {
		if s, _ := val.(*string); s != nil && *s != "" {
			up.SetPhone(*s)
		} else {
			up.ClearPhone()
		}
	}
	return up.Save(ctx)
}

// updateOrganization renames the viewer's organization or sets its time
// zone; privacy lets only those who manage users do it.
func (r *Resolver) updateOrganization(ctx context.Context, input model.UpdateOrganizationInput) (*ent.Organization, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	return r.db(ctx).Organization.UpdateOneID(v.OrganizationID).
		SetNillableName(input.Name).
		SetNillableTimeZone(input.TimeZone).
		Save(ctx)
}

// uploadAvatar stores the image of file and makes it user id's avatar. The
// viewer must be that user or manage users, which is checked before the
// file is stored; privacy decides the update too.
func (r *Resolver) uploadAvatar(ctx context.Context, id int, file graphql.Upload) (*ent.User, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if id != v.UserID {
		if !v.Can(viewer.ManageUsers) {
			return nil, apierr.New(apierr.Forbidden, "not allowed")
		}
		if _, err := r.db(ctx).User.Get(ctx, id); err != nil {
			return nil, err
		}
	}
	if r.avatars == nil {
		return nil, apierr.New(apierr.Internal, "avatars are not configured")
	}
	url, err := r.avatars.Save(file.File, "file")
	if err != nil {
		return nil, err
	}
	return r.db(ctx).User.UpdateOneID(id).SetAvatarURL(url).Save(ctx)
}
