package schema

import (
	"context"
	"slices"
	"strings"

	"entgo.io/ent"

	gen "roster/ent"
	"roster/ent/hook"
	"roster/ent/privacy"
	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/access"
	"roster/internal/apierr"
	"roster/internal/viewer"
)

// Policy of the Role: roles are managed by those who manage users.
func (Role) Policy() ent.Policy {
	return privacy.Policy{
		Query: readableByViewers,
		Mutation: privacy.MutationPolicy{
			access.AllowIfCan(viewer.ManageUsers),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Hooks of the Role.
func (Role) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(normalizeRole, ent.OpCreate|ent.OpUpdateOne),
		hook.On(checkFields(Role{}.Fields()), ent.OpCreate|ent.OpUpdateOne),
		hook.On(protectBuiltinRole, ent.OpUpdateOne|ent.OpDeleteOne),
		hook.On(uniqueRoleName, ent.OpCreate|ent.OpUpdateOne),
		hook.On(deleteUnusedRole, ent.OpDeleteOne),
		hook.On(mfaForRole, ent.OpUpdateOne),
		hook.Unless(denyBulk, ent.OpCreate|ent.OpUpdateOne|ent.OpDeleteOne),
	}
}

// normalizeRole trims the name, derives its key, and keeps the permissions
// valid, unique and in a stable order. Appended permissions are added to
// the ones set in the same change, or else to the role's current ones, so
// the rules after this hook see the whole new set.
func normalizeRole(next ent.Mutator) ent.Mutator {
	return hook.RoleFunc(func(ctx context.Context, m *gen.RoleMutation) (gen.Value, error) {
		if v, ok := m.Name(); ok {
			v = strings.TrimSpace(v)
			m.SetName(v)
			m.SetNameKey(strings.ToLower(v))
		}
		if added, ok := m.AppendedPermissions(); ok {
			ps, set := m.Permissions()
			if !set && m.Op().Is(ent.OpUpdateOne) {
				old, err := m.OldPermissions(ctx)
				if err != nil {
					return nil, err
				}
				ps = old
			}
			m.SetPermissions(append(slices.Clone(ps), added...))
		}
		if ps, ok := m.Permissions(); ok {
			out := make([]viewer.Permission, 0, len(ps))
			for _, p := range viewer.AllPermissions {
				if slices.Contains(ps, p) {
					out = append(out, p)
				}
			}
			for _, p := range ps {
				if !p.Valid() {
					return nil, apierr.Input("permissions", "%q is not a permission", p)
				}
			}
			m.SetPermissions(out)
		}
		return next.Mutate(ctx, m)
	})
}

// protectBuiltinRole keeps the built-in roles: they cannot be renamed or
// deleted, and the Admin role always holds every permission.
func protectBuiltinRole(next ent.Mutator) ent.Mutator {
	return hook.RoleFunc(func(ctx context.Context, m *gen.RoleMutation) (gen.Value, error) {
		if viewer.IsSystem(ctx) {
			return next.Mutate(ctx, m)
		}
		r, err := m.Client().Role.Get(viewer.NewSystemContext(ctx), mustID(m))
		if err != nil {
			return nil, err
		}
		if r.Builtin == nil {
			return next.Mutate(ctx, m)
		}
		if m.Op().Is(ent.OpDeleteOne) {
			return nil, apierr.New(apierr.Forbidden, "the built-in role %s cannot be deleted", r.Name)
		}
		if name, ok := m.Name(); ok && name != r.Name {
			return nil, apierr.Input("name", "the built-in role %s cannot be renamed", r.Name)
		}
		if ps, ok := m.Permissions(); ok && *r.Builtin == role.BuiltinAdmin && !slices.Equal(ps, viewer.AllPermissions) {
			return nil, apierr.Input("permissions", "the Admin role always holds every permission")
		}
		return next.Mutate(ctx, m)
	})
}

// uniqueRoleName refuses a name another role of the organization has.
func uniqueRoleName(next ent.Mutator) ent.Mutator {
	return hook.RoleFunc(func(ctx context.Context, m *gen.RoleMutation) (gen.Value, error) {
		key, ok := m.NameKey()
		if !ok {
			return next.Mutate(ctx, m)
		}
		org, err := organizationOf(ctx, m)
		if err != nil {
			return nil, err
		}
		q := m.Client().Role.Query().Where(role.OrganizationID(org), role.NameKey(key))
		if id, ok := m.ID(); ok {
			q.Where(role.IDNEQ(id))
		}
		if taken, err := q.Exist(viewer.NewSystemContext(ctx)); err != nil {
			return nil, err
		} else if taken {
			return nil, errNameTaken("role")
		}
		v, err := next.Mutate(ctx, m)
		if isDuplicate(err, "name_key") {
			return nil, errNameTaken("role")
		}
		return v, err
	})
}

// deleteUnusedRole refuses to delete a role users still have.
func deleteUnusedRole(next ent.Mutator) ent.Mutator {
	return hook.RoleFunc(func(ctx context.Context, m *gen.RoleMutation) (gen.Value, error) {
		n, err := m.Client().User.Query().Where(user.RoleID(mustID(m))).Count(viewer.NewSystemContext(ctx))
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, apierr.New(apierr.Conflict, "the role is given to %d user(s): give them another role first", n)
		}
		return next.Mutate(ctx, m)
	})
}

// mfaForRole turns on the second factor of the users of a role given a
// permission that needs it.
func mfaForRole(next ent.Mutator) ent.Mutator {
	after := requireMFAAfter(next, func(_ context.Context, _ ent.Mutation, v ent.Value) (int, error) {
		return v.(*gen.Role).OrganizationID, nil
	})
	return hook.RoleFunc(func(ctx context.Context, m *gen.RoleMutation) (gen.Value, error) {
		if _, ok := m.Permissions(); ok {
			return after.Mutate(ctx, m)
		}
		return next.Mutate(ctx, m)
	})
}
