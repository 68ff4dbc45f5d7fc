package schema

import (
	"context"
	"strings"

	"entgo.io/ent"

	gen "roster/ent"
	"roster/ent/channel"
	"roster/ent/division"
	"roster/ent/hook"
	"roster/ent/privacy"
	"roster/ent/user"
	"roster/internal/access"
	"roster/internal/viewer"
)

// Policy of the Division: divisions are managed by those who may.
func (Division) Policy() ent.Policy {
	return privacy.Policy{
		Query: readableByViewers,
		Mutation: privacy.MutationPolicy{
			access.AllowIfCan(viewer.ManageDivisions),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Hooks of the Division.
func (Division) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(normalizeDivision, ent.OpCreate|ent.OpUpdateOne),
		hook.On(checkFields(Division{}.Fields()), ent.OpCreate|ent.OpUpdateOne),
		hook.On(uniqueDivisionName, ent.OpCreate|ent.OpUpdateOne),
		hook.On(checkDivisionRefs, ent.OpCreate|ent.OpUpdateOne),
		hook.On(bumpMemberVersions, ent.OpUpdate|ent.OpUpdateOne|ent.OpDelete|ent.OpDeleteOne),
		hook.On(bumpChannelVersions, ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne|ent.OpDelete|ent.OpDeleteOne),
		hook.Unless(denyBulk, ent.OpCreate|ent.OpUpdateOne|ent.OpDeleteOne),
	}
}

// bumpMemberVersions increases, in the same transaction, the version of
// every user whose divisions the mutation changes (added, removed, or
// member of a division cleared of its members or deleted): their divisions
// are part of what a user's version orders.
func bumpMemberVersions(next ent.Mutator) ent.Mutator {
	return hook.DivisionFunc(func(ctx context.Context, m *gen.DivisionMutation) (gen.Value, error) {
		sys := viewer.NewSystemContext(ctx)
		ids := append(m.MembersIDs(), m.RemovedMembersIDs()...)
		if m.MembersCleared() || m.Op().Is(ent.OpDelete|ent.OpDeleteOne) {
			divs, err := m.IDs(ctx)
			if err != nil {
				return nil, err
			}
			members, err := m.Client().User.Query().Where(user.HasDivisionsWith(division.IDIn(divs...))).IDs(sys)
			if err != nil {
				return nil, err
			}
			ids = append(ids, members...)
		}
		v, err := next.Mutate(ctx, m)
		if err != nil || len(ids) == 0 {
			return v, err
		}
		if err := m.Client().User.Update().Where(user.IDIn(ids...)).Exec(sys); err != nil {
			return nil, err
		}
		return v, nil
	})
}

// bumpChannelVersions increases, in the same transaction, the version of
// every channel whose divisions the mutation changes (linked, unlinked, or
// linked to a division cleared of its channels or deleted): the divisions
// a channel feeds are part of what its version orders.
func bumpChannelVersions(next ent.Mutator) ent.Mutator {
	return hook.DivisionFunc(func(ctx context.Context, m *gen.DivisionMutation) (gen.Value, error) {
		sys := viewer.NewSystemContext(ctx)
		ids := append(m.ChannelsIDs(), m.RemovedChannelsIDs()...)
		if m.ChannelsCleared() || m.Op().Is(ent.OpDelete|ent.OpDeleteOne) {
			divs, err := m.IDs(ctx)
			if err != nil {
				return nil, err
			}
			linked, err := m.Client().Channel.Query().Where(channel.HasDivisionsWith(division.IDIn(divs...))).IDs(sys)
			if err != nil {
				return nil, err
			}
			ids = append(ids, linked...)
		}
		v, err := next.Mutate(ctx, m)
		if err != nil || len(ids) == 0 {
			return v, err
		}
		if err := m.Client().Channel.Update().Where(channel.IDIn(ids...)).AddVersion(1).Exec(sys); err != nil {
			return nil, err
		}
		return v, nil
	})
}

func normalizeDivision(next ent.Mutator) ent.Mutator {
	return hook.DivisionFunc(func(ctx context.Context, m *gen.DivisionMutation) (gen.Value, error) {
		if v, ok := m.Name(); ok {
			v = strings.TrimSpace(v)
			m.SetName(v)
			m.SetNameKey(strings.ToLower(v))
		}
		if v, ok := m.Description(); ok {
			m.SetDescription(strings.TrimSpace(v))
		}
		return next.Mutate(ctx, m)
	})
}

// uniqueDivisionName refuses a name another division of the organization
// has.
func uniqueDivisionName(next ent.Mutator) ent.Mutator {
	return hook.DivisionFunc(func(ctx context.Context, m *gen.DivisionMutation) (gen.Value, error) {
		key, ok := m.NameKey()
		if !ok {
			return next.Mutate(ctx, m)
		}
		org, err := organizationOf(ctx, m)
		if err != nil {
			return nil, err
		}
		q := m.Client().Division.Query().Where(division.OrganizationID(org), division.NameKey(key))
		if id, ok := m.ID(); ok {
			q.Where(division.IDNEQ(id))
		}
		if taken, err := q.Exist(viewer.NewSystemContext(ctx)); err != nil {
			return nil, err
		} else if taken {
			return nil, errNameTaken("division")
		}
		v, err := next.Mutate(ctx, m)
		if isDuplicate(err, "name_key") {
			return nil, errNameTaken("division")
		}
		return v, err
	})
}

// checkDivisionRefs makes sure a division's members and channels are of its
// organization.
func checkDivisionRefs(next ent.Mutator) ent.Mutator {
	return hook.DivisionFunc(func(ctx context.Context, m *gen.DivisionMutation) (gen.Value, error) {
		org, err := organizationOf(ctx, m)
		if err != nil {
			return nil, err
		}
		c := m.Client()
		members, channels := "memberIDs", "channelIDs"
		if m.Op().Is(ent.OpUpdateOne) {
			if !m.MembersCleared() {
				members = "addMemberIDs"
			}
			if !m.ChannelsCleared() {
				channels = "addChannelIDs"
			}
		}
		countUsers := func(ctx context.Context, ids []int) (int, error) {
			return c.User.Query().Where(user.IDIn(ids...), user.OrganizationID(org)).Count(ctx)
		}
		countChannels := func(ctx context.Context, ids []int) (int, error) {
			return c.Channel.Query().Where(channel.IDIn(ids...), channel.OrganizationID(org)).Count(ctx)
		}
		for _, ref := range []struct {
			field string
			ids   []int
			count func(context.Context, []int) (int, error)
		}{
			{members, m.MembersIDs(), countUsers},
			{"removeMemberIDs", m.RemovedMembersIDs(), countUsers},
			{channels, m.ChannelsIDs(), countChannels},
			{"removeChannelIDs", m.RemovedChannelsIDs(), countChannels},
		} {
			if err := checkRefs(ctx, ref.field, ref.ids, ref.count); err != nil {
				return nil, err
			}
		}
		return next.Mutate(ctx, m)
	})
}
