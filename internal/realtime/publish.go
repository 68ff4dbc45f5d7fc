package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	gen "entgo.io/ent"

	"roster/ent"
	"roster/ent/hook"
	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/pubsub"
	"roster/internal/viewer"
)

// quietFields are the user fields whose change alone is no UPDATED event:
// bookkeeping, or status (sent as status events).
var quietFields = []string{
	user.FieldAvailability, user.FieldOnline, user.FieldConnections, user.FieldVersion,
	user.FieldUpdatedAt, user.FieldLastSeenAt,
}

// Publish makes client publish an event to broker whenever a change to a
// user or a session commits. A change rolled back publishes nothing.
// published, when not nil, is called with the topic of each event
// published.
func Publish(client *ent.Client, broker pubsub.Broker, log *slog.Logger, published func(topic string)) {
	p := &publisher{broker: broker, log: log, published: published}
	client.User.Use(p.userHook)
	client.Session.Use(p.sessionHook)
	client.Role.Use(p.roleHook)
}

type publisher struct {
	broker    pubsub.Broker
	log       *slog.Logger
	published func(topic string)
}

func (p *publisher) userHook(next gen.Mutator) gen.Mutator {
	return hook.UserFunc(func(ctx context.Context, m *ent.UserMutation) (ent.Value, error) {
		var before []*ent.User // rows a bulk change or a delete is about
		if !m.Op().Is(ent.OpCreate | ent.OpUpdateOne) {
			ids, err := m.IDs(ctx)
			if err != nil {
				return nil, err
			}
			if before, err = m.Client().User.Query().Where(user.IDIn(ids...)).Select(user.FieldID, user.FieldOrganizationID).All(viewer.NewSystemContext(ctx)); err != nil {
				return nil, err
			}
		}
		v, err := next.Mutate(ctx, m)
		if err != nil {
			return v, err
		}
		status, change := classify(m)
		if !status && change == "" {
			return v, nil
		}
		if u, ok := v.(*ent.User); ok {
			before = []*ent.User{u}
		}
		events := make([]any, 0, len(before))
		for _, u := range before {
			ev := userEvent{Org: u.OrganizationID, User: u.ID, Status: status, Change: change}
			if status && u.Version > 0 {
				ev.Availability, ev.Online, ev.Version = string(u.Availability), u.Online, u.Version
			}
			events = append(events, ev)
		}
		p.afterCommit(ctx, m, topicUsers, events)
		return v, nil
	})
}

// classify tells whether a mutation changes a user's status, and what kind
// of change it otherwise is.
func classify(m *ent.UserMutation) (status bool, change ChangeKind) {
	switch {
	case m.Op().Is(ent.OpCreate):
		return false, Created
	case m.Op().Is(ent.OpDelete | ent.OpDeleteOne):
		return false, Deleted
	}
	fields := slices.Concat(m.Fields(), m.AddedFields(), m.ClearedFields())
	status = slices.Contains(fields, user.FieldAvailability) || slices.Contains(fields, user.FieldOnline)
	if st, ok := m.Status(); ok && st == user.StatusArchived {
		return status, Archived
	}
	if len(m.AddedEdges())+len(m.RemovedEdges())+len(m.ClearedEdges()) > 0 {
		return status, Updated
	}
	for _, f := range fields {
		if !slices.Contains(quietFields, f) {
			return status, Updated
		}
	}
	return status, ""
}

func (p *publisher) sessionHook(next gen.Mutator) gen.Mutator {
	return hook.SessionFunc(func(ctx context.Context, m *ent.SessionMutation) (ent.Value, error) {
		if !m.Op().Is(ent.OpDelete | ent.OpDeleteOne) {
			return next.Mutate(ctx, m)
		}
		ids, err := m.IDs(ctx)
		if err != nil {
			return nil, err
		}
		v, err := next.Mutate(ctx, m)
		if err == nil && len(ids) > 0 {
			p.afterCommit(ctx, m, topicSessions, []any{sessionEvent{Sessions: ids}})
		}
		return v, err
	})
}

// roleHook publishes a role event when a role's permissions change: the
// live connections of its users are checked against their new authority.
func (p *publisher) roleHook(next gen.Mutator) gen.Mutator {
	return hook.RoleFunc(func(ctx context.Context, m *ent.RoleMutation) (ent.Value, error) {
		_, set := m.Permissions()
		_, appended := m.AppendedPermissions()
		if !m.Op().Is(ent.OpUpdate|ent.OpUpdateOne) || !set && !appended {
			return next.Mutate(ctx, m)
		}
		ids, err := m.IDs(ctx)
		if err != nil {
			return nil, err
		}
		roles, err := m.Client().Role.Query().Where(role.IDIn(ids...)).Select(role.FieldID, role.FieldOrganizationID).All(viewer.NewSystemContext(ctx))
		if err != nil {
			return nil, err
		}
		v, err := next.Mutate(ctx, m)
		if err != nil || len(roles) == 0 {
			return v, err
		}
		events := make([]any, 0, len(roles))
		for _, r := range roles {
			events = append(events, roleEvent{Org: r.OrganizationID, Role: r.ID})
		}
		p.afterCommit(ctx, m, topicRoles, events)
		return v, nil
	})
}

// afterCommit publishes events once the mutation's transaction commits, or
// at once when it runs in none.
func (p *publisher) afterCommit(ctx context.Context, m interface{ Tx() (*ent.Tx, error) }, topic string, events []any) {
	publish := func() {
		now := time.Now().UnixMilli()
		for _, e := range events {
			if ue, ok := e.(userEvent); ok {
				ue.At = now
				e = ue
			}
			payload, err := json.Marshal(e)
			if err == nil {
				err = p.broker.Publish(context.WithoutCancel(ctx), topic, payload)
			}
			if err != nil {
				p.log.ErrorContext(ctx, "publish event", "topic", topic, "err", err)
			} else if p.published != nil {
				p.published(topic)
			}
		}
	}
	tx, err := m.Tx()
	if err != nil {
		publish()
		return
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			if err == nil {
				publish()
			}
			return err
		})
	})
}
