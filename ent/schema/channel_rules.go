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
	"roster/internal/access"
	"roster/internal/apierr"
	"roster/internal/integration"
	"roster/internal/viewer"
)

// Policy of the Channel: channels are managed by those who may.
func (Channel) Policy() ent.Policy {
	return privacy.Policy{
		Query: readableByViewers,
		Mutation: privacy.MutationPolicy{
			access.AllowIfCan(viewer.ManageChannels),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Hooks of the Channel.
func (Channel) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(checkFields(Channel{}.Fields()), ent.OpCreate|ent.OpUpdateOne),
		hook.On(validateChannel, ent.OpCreate|ent.OpUpdateOne),
		hook.On(bumpDivisionVersions, ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne|ent.OpDelete|ent.OpDeleteOne),
		hook.Unless(denyBulk, ent.OpCreate|ent.OpUpdateOne|ent.OpDeleteOne),
	}
}

// bumpDivisionVersions increases, in the same transaction, the version of
// every division whose channels the mutation changes (linked, unlinked, or
// fed by a channel cleared of its divisions or deleted): the channels that
// feed a division are part of what its version orders.
func bumpDivisionVersions(next ent.Mutator) ent.Mutator {
	return hook.ChannelFunc(func(ctx context.Context, m *gen.ChannelMutation) (gen.Value, error) {
		sys := viewer.NewSystemContext(ctx)
		ids := append(m.DivisionsIDs(), m.RemovedDivisionsIDs()...)
		if m.DivisionsCleared() || m.Op().Is(ent.OpDelete|ent.OpDeleteOne) {
			chans, err := m.IDs(ctx)
			if err != nil {
				return nil, err
			}
			linked, err := m.Client().Division.Query().Where(division.HasChannelsWith(channel.IDIn(chans...))).IDs(sys)
			if err != nil {
				return nil, err
			}
			ids = append(ids, linked...)
		}
		v, err := next.Mutate(ctx, m)
		if err != nil || len(ids) == 0 {
			return v, err
		}
		if err := m.Client().Division.Update().Where(division.IDIn(ids...)).AddVersion(1).Exec(sys); err != nil {
			return nil, err
		}
		return v, nil
	})
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
			}
			if integration.HasPhone(typ.String(), settings) {
				country, err := countryOf(ctx, m)
				if err != nil {
					return nil, err
				}
				settings = integration.NormalizePhones(typ.String(), settings, country)
			}
			m.SetSettings(settings)
			if err := integration.ValidateSettings(typ.String(), settings); err != nil {
				return nil, err
			}
		} else if m.Op().Is(ent.OpCreate) {
			m.SetSettings(map[string]any{})
			if err := integration.ValidateSettings(typ.String(), map[string]any{}); err != nil {
				return nil, err
			}
		}
		creds, credsSet := m.Credentials()
		if credsSet {
			if err := integration.ValidateCredentials(creds); err != nil {
				return nil, err
			}
		}
		if err := checkConnectable(ctx, m, typ.String(), creds, credsSet); err != nil {
			return nil, err
		}
		org, err := organizationOf(ctx, m)
		if err != nil {
			return nil, err
		}
		field := "divisionIDs"
		if m.Op().Is(ent.OpUpdateOne) && !m.DivisionsCleared() {
			field = "addDivisionIDs"
		}
		if err := checkRefs(ctx, field, m.DivisionsIDs(), countDivisions(m.Client(), org)); err != nil {
			return nil, err
		}
		if err := checkRefs(ctx, "removeDivisionIDs", m.RemovedDivisionsIDs(), countDivisions(m.Client(), org)); err != nil {
			return nil, err
		}
		return next.Mutate(ctx, m)
	})
}

// checkConnectable refuses to connect a channel whose credentials are not
// all there, and disconnects one whose credentials no longer are.
func checkConnectable(ctx context.Context, m *gen.ChannelMutation, typ string, creds map[string]any, credsSet bool) error {
	state, stateSet := m.ConnectionState()
	if !credsSet && !m.CredentialsCleared() && !stateSet {
		return nil
	}
	if !stateSet {
		if m.Op().Is(ent.OpCreate) {
			return nil
		}
		old, err := m.OldConnectionState(ctx)
		if err != nil {
			return err
		}
		state = old
	}
	if state != channel.ConnectionStateConnected {
		return nil
	}
	if !credsSet && !m.CredentialsCleared() {
		old, err := m.OldCredentials(ctx)
		if err != nil {
			return err
		}
		creds = old
	}
	missing := integration.MissingCredentials(typ, creds)
	if len(missing) == 0 {
		return nil
	}
	if stateSet {
		return apierr.Input("credentials", "connecting this %s channel needs these credentials first: %s", typ, strings.Join(missing, ", "))
	}
	m.SetConnectionState(channel.ConnectionStateDisconnected)
	return nil
}
