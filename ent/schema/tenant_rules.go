package schema

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent"

	gen "roster/ent"
	"roster/ent/allocationsettings"
	"roster/ent/apikey"
	"roster/ent/channel"
	"roster/ent/connection"
	"roster/ent/conversation"
	"roster/ent/division"
	"roster/ent/hook"
	"roster/ent/invitation"
	"roster/ent/mfachallenge"
	"roster/ent/privacy"
	"roster/ent/role"
	"roster/ent/session"
	"roster/ent/user"
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
		// Before any other hook looks at it, the row an update or delete
		// names must be one the viewer can see.
		hook.On(requireVisible, ent.OpUpdateOne|ent.OpDeleteOne),
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

// requireVisible answers an update or delete of a row the viewer cannot see
// (another organization's, or one that does not exist) with the same
// NOT_FOUND, before any other hook has looked at the row or changed
// anything: another organization's IDs are indistinguishable from IDs that
// do not exist. The row is looked up with the viewer's context, so through
// the query privacy rules; the server's own work (the system context) is
// not checked.
func requireVisible(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if viewer.IsSystem(ctx) || viewer.FromContext(ctx) == nil {
			return next.Mutate(ctx, m)
		}
		if err := visible(ctx, m); err != nil {
			return nil, err
		}
		return next.Mutate(ctx, m)
	})
}

// visible returns ent's not-found error for the entity of m unless the
// viewer in ctx can read the one row m changes.
func visible(ctx context.Context, m ent.Mutation) error {
	if m, ok := m.(*gen.MfaChallengeMutation); ok {
		id, _ := m.ID()
		_, err := m.Client().MfaChallenge.Query().Where(mfachallenge.ID(id)).OnlyID(ctx)
		return err
	}
	im, ok := m.(interface{ ID() (int, bool) })
	if !ok {
		return fmt.Errorf("no visibility check for %s", m.Type())
	}
	id, ok := im.ID()
	if !ok {
		return fmt.Errorf("%s of a %s without an ID", m.Op(), m.Type())
	}
	var err error
	switch m := m.(type) {
	case *gen.UserMutation:
		_, err = m.Client().User.Query().Where(user.ID(id)).OnlyID(ctx)
	case *gen.RoleMutation:
		_, err = m.Client().Role.Query().Where(role.ID(id)).OnlyID(ctx)
	case *gen.DivisionMutation:
		_, err = m.Client().Division.Query().Where(division.ID(id)).OnlyID(ctx)
	case *gen.ChannelMutation:
		_, err = m.Client().Channel.Query().Where(channel.ID(id)).OnlyID(ctx)
	case *gen.SessionMutation:
		_, err = m.Client().Session.Query().Where(session.ID(id)).OnlyID(ctx)
	case *gen.InvitationMutation:
		_, err = m.Client().Invitation.Query().Where(invitation.ID(id)).OnlyID(ctx)
	case *gen.ConnectionMutation:
		_, err = m.Client().Connection.Query().Where(connection.ID(id)).OnlyID(ctx)
	case *gen.ApiKeyMutation:
		_, err = m.Client().ApiKey.Query().Where(apikey.ID(id)).OnlyID(ctx)
	case *gen.AllocationSettingsMutation:
		_, err = m.Client().AllocationSettings.Query().Where(allocationsettings.ID(id)).OnlyID(ctx)
	case *gen.ConversationMutation:
		_, err = m.Client().Conversation.Query().Where(conversation.ID(id)).OnlyID(ctx)
	default:
		return fmt.Errorf("no visibility check for %s", m.Type())
	}
	return err
}
