package schema

import (
	"context"
	"slices"

	"entgo.io/ent"

	gen "roster/ent"
	"roster/ent/privacy"
	"roster/internal/access"
	"roster/internal/viewer"
)

// Policy of the TenantMixin: the system may do anything; a viewer reads and
// changes only their own organization's rows; anyone else is denied. The
// entity's own policy decides what a viewer may read and change there.
func (TenantMixin) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			access.AllowIfSystem(),
			access.DenyIfNoViewer(),
			access.FilterTenant(),
		},
		Mutation: privacy.MutationPolicy{
			access.AllowIfSystem(),
			access.DenyIfNoViewer(),
			access.TenantMutation(),
		},
	}
}

// Hooks of the TenantMixin.
func (TenantMixin) Hooks() []ent.Hook {
	return []ent.Hook{
		// A new entity belongs to the viewer's organization.
		func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				if m.Op().Is(ent.OpCreate) {
					if _, ok := m.Field("organization_id"); !ok {
						if v := viewer.FromContext(ctx); v != nil {
							if err := m.SetField("organization_id", v.OrganizationID); err != nil {
								return nil, err
							}
						}
					}
				}
				return next.Mutate(ctx, m)
			})
		},
	}
}

// tenantMutation is implemented by the mutations of every entity that
// belongs to an organization.
type tenantMutation interface {
	ent.Mutation
	OrganizationID() (int, bool)
	OldOrganizationID(context.Context) (int, error)
	Client() *gen.Client
}

// organizationOf returns the organization the entity being created or
// updated belongs to.
func organizationOf(ctx context.Context, m tenantMutation) (int, error) {
	if id, ok := m.OrganizationID(); ok {
		return id, nil
	}
	if m.Op().Is(ent.OpUpdateOne) {
		return m.OldOrganizationID(ctx)
	}
	if v := viewer.FromContext(ctx); v != nil {
		return v.OrganizationID, nil
	}
	return 0, errNoOrganization
}

// checkRefs reports a NOT_FOUND error on field unless every id exists in
// organization org; count counts the given ids that do.
func checkRefs(ctx context.Context, field string, ids []int, count func(ctx context.Context, ids []int) (int, error)) error {
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	// Count as the system: the references are checked against the
	// organization explicitly, whoever the viewer is.
	n, err := count(viewer.NewSystemContext(ctx), ids)
	if err != nil {
		return err
	}
	if n != len(ids) {
		return notFoundRef(field)
	}
	return nil
}

// readableByViewers is the query policy of entities every viewer of the
// organization may read: after the tenant filter, allow, and deny the rest.
var readableByViewers = privacy.QueryPolicy{
	access.AllowViewer(),
	privacy.AlwaysDenyRule(),
}
