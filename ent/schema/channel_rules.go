package schema

import (
	"context"
	"strings"

	"entgo.io/ent"

	"roster/access"
	gen "roster/ent"
	"roster/ent/hook"
	"roster/ent/privacy"
	"roster/integration"
	"roster/viewer"
)

// Policy of the Channel: channels are managed by those who may.
func (Channel) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{
			access.AllowIfCan(viewer.ManageChannels),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Hooks of the Channel.
func (Channel) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(validateChannel, ent.OpCreate|ent.OpUpdateOne),
		hook.Unless(denyBulk, ent.OpCreate|ent.OpUpdateOne|ent.OpDeleteOne),
	}
}

// validateChannel checks settings and credentials against the channel's
// type, and that the divisions it feeds are of its organization.
func validateChannel(next ent.Mutator) ent.Mutator {
	return hook.ChannelFunc(func(ctx context.Context, m *gen.ChannelMutation) (gen.Value, error) {
		if v, ok := m.Name(); ok {
			m.SetName(strings.TrimSpace(v))
		}
		typ, ok := m.GetType()
		if !ok {
			var err error
			if typ, err = m.OldType(ctx); err != nil {
				return nil, err
			}
		}
		if settings, ok := m.Settings(); ok {
			if settings == nil {
				settings = map[string]any{}
				m.SetSettings(settings)
			}
			if err := integration.ValidateSettings(typ.String(), settings); err != nil {
				return nil, err
			}
		} else if m.Op().Is(ent.OpCreate) {
			m.SetSettings(map[string]any{})
			if err := integration.ValidateSettings(typ.String(), map[string]any{}); err != nil {
				return nil, err
			}
		}
		if creds, ok := m.Credentials(); ok {
			if err := integration.ValidateCredentials(creds); err != nil {
				return nil, err
			}
		}
		org, err := organizationOf(ctx, m)
		if err != nil {
			return nil, err
		}
		field := "divisionIDs"
		if m.Op().Is(ent.OpUpdateOne) {
			field = "addDivisionIDs"
		}
		if err := checkRefs(ctx, field, m.DivisionsIDs(), countDivisions(m.Client(), org)); err != nil {
			return nil, err
		}
		return next.Mutate(ctx, m)
	})
}
