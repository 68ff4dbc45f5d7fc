// Package access decides who may read and change what. Its rules are
// evaluated by the ent privacy layer for every query, mutation and edge, so a
// resolver never has to repeat them: the viewer in the context is the only
// input.
package access

import (
	"context"

	"entgo.io/ent/entql"

	"roster/ent"
	"roster/ent/privacy"
	"roster/viewer"
)

// AllowIfSystem allows what the server does on its own behalf.
func AllowIfSystem() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if viewer.IsSystem(ctx) {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// DenyIfNoViewer denies anonymous requests.
func DenyIfNoViewer() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if viewer.FromContext(ctx) == nil {
			return privacy.Denyf("no viewer")
		}
		return privacy.Skip
	})
}

// tenantFilter is implemented by the entql filters of every entity that
// belongs to an organization.
type tenantFilter interface {
	WhereOrganizationID(entql.IntP)
}

// filterTenant confines a query or mutation to the viewer's organization,
// then returns decision.
func filterTenant(decision error) privacy.FilterFunc {
	return func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("no viewer")
		}
		tf, ok := f.(tenantFilter)
		if !ok {
			return privacy.Denyf("%T has no organization", f)
		}
		tf.WhereOrganizationID(entql.IntEQ(v.OrganizationID))
		return decision
	}
}

// TenantQuery allows a query once confined to the viewer's organization.
func TenantQuery() privacy.QueryRule { return filterTenant(privacy.Allow) }

// TenantMutation confines a mutation to the viewer's organization: a create
// may only name the viewer's organization (a hook fills it in when it names
// none), and updates and deletes only reach the viewer's organization's rows.
// It decides nothing else: the next rule does.
func TenantMutation() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		v := viewer.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("no viewer")
		}
		if m.Op().Is(ent.OpCreate) {
			if id, ok := m.Field("organization_id"); ok && id.(int) != v.OrganizationID {
				return privacy.Denyf("create in another organization")
			}
			return privacy.Skip
		}
		return filterTenant(privacy.Skip).EvalMutation(ctx, m)
	})
}

// AllowIfCan allows a mutation when the viewer holds permission p.
func AllowIfCan(p viewer.Permission) privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, _ ent.Mutation) error {
		if viewer.FromContext(ctx).Can(p) {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// OwnOrganization allows a query of organizations once confined to the
// viewer's own.
func OwnOrganization() privacy.QueryRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		of, ok := f.(*ent.OrganizationFilter)
		if v == nil || !ok {
			return privacy.Denyf("no viewer")
		}
		of.WhereID(entql.IntEQ(v.OrganizationID))
		return privacy.Allow
	})
}
