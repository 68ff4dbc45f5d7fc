package schema

import (
	"context"
	"strings"

	"entgo.io/ent"

	gen "roster/ent"
	"roster/ent/hook"
	"roster/ent/privacy"
	"roster/internal/access"
	"roster/internal/viewer"
)

// Policy of the Organization: a viewer sees their own organization; those
// who manage users change it (its plan); only the system creates or
// deletes organizations.
func (Organization) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			access.AllowIfSystem(),
			access.DenyIfNoViewer(),
			access.OwnOrganization(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			access.AllowIfSystem(),
			access.FilterOwnOrganization(),
			access.AllowIfCan(viewer.ManageUsers),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Hooks of the Organization.
func (Organization) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(func(next ent.Mutator) ent.Mutator {
			return hook.OrganizationFunc(func(ctx context.Context, m *gen.OrganizationMutation) (gen.Value, error) {
				if v, ok := m.Country(); ok {
					m.SetCountry(strings.ToUpper(strings.TrimSpace(v)))
				}
				return next.Mutate(ctx, m)
			})
		}, ent.OpCreate|ent.OpUpdateOne),
		hook.On(checkFields(Organization{}.Fields()), ent.OpCreate|ent.OpUpdateOne),
		// Moving to the PAID plan turns on the second factor of those who
		// need it.
		hook.On(func(next ent.Mutator) ent.Mutator {
			after := requireMFAAfter(next, func(_ context.Context, _ ent.Mutation, v ent.Value) (int, error) {
				return v.(*gen.Organization).ID, nil
			})
			return hook.OrganizationFunc(func(ctx context.Context, m *gen.OrganizationMutation) (gen.Value, error) {
				if _, ok := m.Plan(); ok {
					return after.Mutate(ctx, m)
				}
				return next.Mutate(ctx, m)
			})
		}, ent.OpUpdateOne),
	}
}
