// Package access decides who may read and change what. Its rules are
// evaluated by the ent privacy layer for every query, mutation and edge, so a
// resolver never has to repeat them: the viewer in the context is the only
// input.
package access

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent/entql"

	"roster/ent"
	"roster/ent/channel"
	"roster/ent/conversation"
	"roster/ent/division"
	"roster/ent/organization"
	"roster/ent/privacy"
	"roster/ent/statusinterval"
	"roster/ent/user"
	"roster/internal/viewer"
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

// Visibility is what decides which users a viewer may read: their
// organization and, for a viewer confined to their divisions (a supervisor
// with ASSIGNED_DIVISIONS chat access), who they are; and whether they may
// read the organization's audit log. The privacy rules of
// users filter by it, and subscriptions share one run only between viewers
// of equal visibility (its Key), so both follow the same rule.
type Visibility struct {
	// Organization is the viewer's organization.
	Organization int
	// Member is, for a viewer confined to their divisions, their user ID:
	// they see themselves and the users who share a division with them.
	// Zero for a viewer who sees the whole organization.
	Member int
	// AuditLog is whether the viewer may read the audit log
	// (VIEW_AUDIT_LOG).
	AuditLog bool
}

// VisibilityOf returns what viewer v may see, and false when v is nil.
func VisibilityOf(v *viewer.Viewer) (Visibility, bool) {
	if v == nil {
		return Visibility{}, false
	}
	vis := Visibility{Organization: v.OrganizationID, AuditLog: v.Can(viewer.ViewAuditLog)}
	if v.DivisionScoped {
		vis.Member = v.UserID
	}
	return vis, true
}

// Key returns a string equal for equal visibilities.
func (vis Visibility) Key() string {
	key := fmt.Sprintf("org:%d", vis.Organization)
	if vis.Member != 0 {
		key += fmt.Sprintf(":member:%d", vis.Member)
	}
	if vis.AuditLog {
		key += ":audit"
	}
	return key
}

// users returns the predicate of the users vis covers within its
// organization, or nil for all of them.
func (vis Visibility) users() entql.P {
	if vis.Member == 0 {
		return nil
	}
	return entql.Or(
		entql.FieldEQ(user.FieldID, vis.Member),
		entql.HasEdgeWith(user.EdgeDivisions, entql.HasEdgeWith(division.EdgeMembers, entql.FieldEQ(division.FieldID, vis.Member))),
	)
}

// GroupKey returns the key under which the subscriptions of the viewer in
// ctx may share one run with others': the key of their visibility, or ""
// (run alone) when there is no viewer.
func GroupKey(ctx context.Context) string {
	vis, ok := VisibilityOf(viewer.FromContext(ctx))
	if !ok {
		return ""
	}
	return vis.Key()
}

// Narrowed reports whether the authority of a viewer shrank from before to
// after: they can no longer act (after is nil), lost a permission, or may
// see fewer users.
func Narrowed(before, after *viewer.Viewer) bool {
	if after == nil {
		return true
	}
	for _, p := range before.Permissions {
		if !after.Can(p) {
			return true
		}
	}
	b, _ := VisibilityOf(before)
	a, _ := VisibilityOf(after)
	return a.Member != b.Member && a.Member != 0
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
		vis, ok := VisibilityOf(viewer.FromContext(ctx))
		if !ok {
			return privacy.Denyf("no viewer")
		}
		tf, ok := f.(tenantFilter)
		if !ok {
			return privacy.Denyf("%T has no organization", f)
		}
		tf.WhereOrganizationID(entql.IntEQ(vis.Organization))
		return decision
	}
}

// FilterTenant confines a query to the viewer's organization and lets the
// next rule decide.
func FilterTenant() privacy.QueryRule { return filterTenant(privacy.Skip) }

// AllowViewer allows any viewer what the rules before it filtered.
func AllowViewer() privacy.QueryRule {
	return privacy.QueryRuleFunc(func(ctx context.Context, _ ent.Query) error {
		if viewer.FromContext(ctx) != nil {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// FilterDivisionScope confines a viewer scoped to their divisions (a
// supervisor with ASSIGNED_DIVISIONS chat access) to themselves and the
// users who share a division with them.
func FilterDivisionScope() privacy.QueryRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		vis, ok := VisibilityOf(viewer.FromContext(ctx))
		uf, isUser := f.(*ent.UserFilter)
		if !ok || !isUser {
			return privacy.Denyf("division scope on %T", f)
		}
		if p := vis.users(); p != nil {
			uf.Where(p)
		}
		return privacy.Skip
	})
}

// AllowSelf allows viewers to change these fields of their own user, and
// nothing else.
func AllowSelf(fields ...string) privacy.MutationRule {
	return privacy.UserMutationRuleFunc(func(ctx context.Context, m *ent.UserMutation) error {
		v := viewer.FromContext(ctx)
		id, ok := m.ID()
		if v == nil || !ok || id != v.UserID || !m.Op().Is(ent.OpUpdateOne) || len(m.AddedEdges())+len(m.RemovedEdges())+len(m.ClearedEdges()) > 0 {
			return privacy.Skip
		}
		for _, f := range append(append(m.Fields(), m.AddedFields()...), m.ClearedFields()...) {
			if !slices.Contains(fields, f) {
				return privacy.Skip
			}
		}
		return privacy.Allow
	})
}

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

// DenyUnlessCan denies a query to a viewer without permission p.
func DenyUnlessCan(p viewer.Permission) privacy.QueryRule {
	return privacy.QueryRuleFunc(func(ctx context.Context, _ ent.Query) error {
		if !viewer.FromContext(ctx).Can(p) {
			return privacy.Denyf("missing permission %s", p)
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

// FilterOwnSessions confines viewers who do not manage users to their own
// sessions.
func FilterOwnSessions() privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		sf, ok := f.(*ent.SessionFilter)
		if v == nil || !ok {
			return privacy.Denyf("own sessions on %T", f)
		}
		if !v.Can(viewer.ManageUsers) {
			sf.WhereUserID(entql.IntEQ(v.UserID))
		}
		return privacy.Skip
	})
}

// AllowDeletes allows deleting what the rules before it filtered.
func AllowDeletes() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		if viewer.FromContext(ctx) != nil && m.Op().Is(ent.OpDelete|ent.OpDeleteOne) {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

type passwordProvedKey struct{}

// WithPasswordProved returns a context in which user userID has just given
// their current password, so that AllowSelfCredentials lets them change
// their password and turn off their second factor.
func WithPasswordProved(ctx context.Context, userID int) context.Context {
	return context.WithValue(ctx, passwordProvedKey{}, userID)
}

// AllowSelfCredentials allows viewers to change their own credentials:
// enrol an authenticator app (which no input of the API reaches: only the
// authentication service sets these fields) and, once they have proved
// their current password (WithPasswordProved), change it or remove their
// authenticator app.
func AllowSelfCredentials() privacy.MutationRule {
	return privacy.UserMutationRuleFunc(func(ctx context.Context, m *ent.UserMutation) error {
		v := viewer.FromContext(ctx)
		id, ok := m.ID()
		if v == nil || !ok || id != v.UserID || !m.Op().Is(ent.OpUpdateOne) || len(m.AddedEdges())+len(m.RemovedEdges())+len(m.ClearedEdges()) > 0 {
			return privacy.Skip
		}
		proved, _ := ctx.Value(passwordProvedKey{}).(int)
		proof := proved == v.UserID
		for _, f := range append(m.Fields(), m.AddedFields()...) {
			switch f {
			case user.FieldTotpSecret, user.FieldTotpLastStep, user.FieldVersion, user.FieldUpdatedAt:
			case user.FieldTotpEnabled:
				if on, _ := m.TotpEnabled(); !on && !proof {
					return privacy.Skip
				}
			case user.FieldPassword:
				if !proof {
					return privacy.Skip
				}
			default:
				return privacy.Skip
			}
		}
		for _, f := range m.ClearedFields() {
			if f != user.FieldTotpSecret || !proof {
				return privacy.Skip
			}
		}
		return privacy.Allow
	})
}

// FilterOwnOrganization confines changes of organizations to updates of the
// viewer's own, and lets the next rule decide.
func FilterOwnOrganization() privacy.MutationRule {
	return privacy.OrganizationMutationRuleFunc(func(ctx context.Context, m *ent.OrganizationMutation) error {
		v := viewer.FromContext(ctx)
		if v == nil || !m.Op().Is(ent.OpUpdateOne) {
			return privacy.Denyf("only the system creates and deletes organizations")
		}
		m.Where(organization.ID(v.OrganizationID))
		return privacy.Skip
	})
}

// AllowQueryIfCan allows a query, once confined to the organization, when
// the viewer holds permission p.
func AllowQueryIfCan(p viewer.Permission) privacy.QueryRule {
	return privacy.QueryRuleFunc(func(ctx context.Context, _ ent.Query) error {
		if viewer.FromContext(ctx).Can(p) {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// DenyAPIKeys denies what a request made with an API key may not do
// whatever its permissions.
func DenyAPIKeys() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, _ ent.Mutation) error {
		if v := viewer.FromContext(ctx); v != nil && v.APIKeyID != 0 {
			return privacy.Denyf("not with an API key")
		}
		return privacy.Skip
	})
}

// FilterConversations confines the conversations a viewer reads: those
// who manage conversations, and supervisors who see every division, read
// all of the organization's; a supervisor scoped to their divisions reads
// those of their divisions (or of their divisions' channels, for a
// conversation without a division) and their own; an agent reads their own
// and the queued ones of their divisions.
func FilterConversations() privacy.QueryRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		cf, ok := f.(*ent.ConversationFilter)
		if v == nil || !ok {
			return privacy.Denyf("conversations without a viewer")
		}
		if v.Can(viewer.ManageConversations) || (v.Can(viewer.AssignConversations) && !v.DivisionScoped) {
			return privacy.Allow
		}
		if v.UserID == 0 {
			return privacy.Denyf("no user")
		}
		member := entql.HasEdgeWith(division.EdgeMembers, entql.FieldEQ(user.FieldID, v.UserID))
		inScope := entql.Or(
			entql.HasEdgeWith(conversation.EdgeDivision, member),
			entql.And(
				entql.FieldNil(conversation.FieldDivisionID),
				entql.HasEdgeWith(conversation.EdgeChannel, entql.HasEdgeWith(channel.EdgeDivisions, member)),
			),
		)
		if !v.Can(viewer.AssignConversations) {
			inScope = entql.And(entql.FieldEQ(conversation.FieldState, conversation.StateQueued.String()), inScope)
		}
		cf.Where(entql.Or(entql.FieldEQ(conversation.FieldAssigneeID, v.UserID), inScope))
		return privacy.Allow
	})
}

// FilterStatusIntervals confines the status history a viewer reads: a
// viewer who may view reports reads that of the users they can see (all of
// their organization's, or for a supervisor scoped to their divisions,
// those of their divisions); anyone else only their own. The tenant filter
// comes before it.
func FilterStatusIntervals() privacy.QueryRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		vis, ok := VisibilityOf(v)
		sf, isInterval := f.(*ent.StatusIntervalFilter)
		if !ok || !isInterval {
			return privacy.Denyf("status history on %T", f)
		}
		switch {
		case !v.Can(viewer.ViewReports):
			sf.WhereUserID(entql.IntEQ(v.UserID))
		case vis.users() != nil:
			sf.Where(entql.HasEdgeWith(statusinterval.EdgeUser, vis.users()))
		}
		return privacy.Allow
	})
}
