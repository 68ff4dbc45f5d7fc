package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	gen "entgo.io/ent"

	"roster/ent"
	"roster/ent/division"
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
// user, a session, a division, a role or a channel commits. A change
// rolled back publishes nothing.
// published, when not nil, is called with the topic of each event
// published.
func Publish(client *ent.Client, broker pubsub.Broker, log *slog.Logger, published func(topic string)) {
	p := &publisher{broker: broker, log: log, published: published}
	client.User.Use(p.userHook)
	client.Session.Use(p.sessionHook)
	client.Role.Use(p.roleHook)
	client.Division.Use(p.divisionHook)
	client.Division.Use(objectHook(p, divisions))
	client.Role.Use(objectHook(p, roles))
	client.Channel.Use(objectHook(p, channels))
}

type publisher struct {
	broker    pubsub.Broker
	log       *slog.Logger
	published func(topic string)
}

func (p *publisher) userHook(next gen.Mutator) gen.Mutator {
	return hook.UserFunc(func(ctx context.Context, m *ent.UserMutation) (ent.Value, error) {
		status, change := classify(m)
		if !status && change == "" {
			return next.Mutate(ctx, m)
		}
		var ids []int
		if !m.Op().Is(ent.OpCreate) {
			var err error
			if ids, err = m.IDs(ctx); err != nil {
				return nil, err
			}
		}
		// What the users were before: a deletion tells their last state,
		// a change of divisions or role where they were.
		var before map[int]*ent.User
		if change != "" && !m.Op().Is(ent.OpCreate) {
			var err error
			if before, err = states(ctx, m.Client(), ids); err != nil {
				return nil, err
			}
		}
		v, err := next.Mutate(ctx, m)
		if err != nil {
			return v, err
		}
		if u, ok := v.(*ent.User); ok {
			ids = []int{u.ID}
		}
		var events []any
		if change == Deleted {
			for _, u := range before {
				ev := eventOf(u, change)
				ev.Version++ // a deletion is newer than anything before it
				events = append(events, ev)
			}
		} else {
			// The state each change left, read in its transaction: an
			// event never shows a later state than its version.
			after, err := states(ctx, m.Client(), ids)
			if err != nil {
				return nil, err
			}
			for _, u := range after {
				ev := eventOf(u, change)
				ev.Status = status
				ev.Was = moved(before[u.ID], u)
				events = append(events, ev)
			}
		}
		p.afterCommit(ctx, m, topicUsers, events)
		return v, nil
	})
}

// divisionHook publishes a user change for every user whose divisions a
// division mutation changed (their versions were bumped in it).
func (p *publisher) divisionHook(next gen.Mutator) gen.Mutator {
	return hook.DivisionFunc(func(ctx context.Context, m *ent.DivisionMutation) (ent.Value, error) {
		ids, err := membershipChanged(ctx, m)
		if err != nil || len(ids) == 0 {
			if err != nil {
				return nil, err
			}
			return next.Mutate(ctx, m)
		}
		before, err := states(ctx, m.Client(), ids)
		if err != nil {
			return nil, err
		}
		v, err := next.Mutate(ctx, m)
		if err != nil {
			return v, err
		}
		after, err := states(ctx, m.Client(), ids)
		if err != nil {
			return nil, err
		}
		events := make([]any, 0, len(after))
		for _, u := range after {
			ev := eventOf(u, Updated)
			ev.Was = moved(before[u.ID], u)
			events = append(events, ev)
		}
		p.afterCommit(ctx, m, topicUsers, events)
		return v, nil
	})
}

// membershipChanged returns the users whose divisions a division mutation
// changes: those added or removed, and every member of a division cleared
// of its members or deleted.
func membershipChanged(ctx context.Context, m *ent.DivisionMutation) ([]int, error) {
	ids := slices.Concat(m.MembersIDs(), m.RemovedMembersIDs())
	if m.MembersCleared() || m.Op().Is(ent.OpDelete|ent.OpDeleteOne) {
		divs, err := m.IDs(ctx)
		if err != nil {
			return nil, err
		}
		members, err := m.Client().User.Query().Where(user.HasDivisionsWith(division.IDIn(divs...))).IDs(viewer.NewSystemContext(ctx))
		if err != nil {
			return nil, err
		}
		ids = append(ids, members...)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// states reads users as they are in the mutation's transaction, with the
// IDs of their divisions.
func states(ctx context.Context, c *ent.Client, ids []int) (map[int]*ent.User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	users, err := c.User.Query().Where(user.IDIn(ids...)).
		WithDivisions(func(q *ent.DivisionQuery) { q.Select(division.FieldID) }).
		All(viewer.NewSystemContext(ctx))
	if err != nil {
		return nil, err
	}
	out := make(map[int]*ent.User, len(users))
	for _, u := range users {
		out[u.ID] = u
	}
	return out, nil
}

// eventOf returns the event of change to user u, carrying u's state.
func eventOf(u *ent.User, change ChangeKind) userEvent {
	row := *u
	row.Edges = ent.UserEdges{}
	return userEvent{Org: u.OrganizationID, User: u.ID, Change: change, Version: u.Version, Row: &row, Scope: scopeOf(u)}
}

func scopeOf(u *ent.User) userScope {
	s := userScope{Role: u.RoleID, Divisions: make([]int, 0, len(u.Edges.Divisions))}
	for _, d := range u.Edges.Divisions {
		s.Divisions = append(s.Divisions, d.ID)
	}
	slices.Sort(s.Divisions)
	return s
}

// moved returns the scope of before when it differs from after's.
func moved(before, after *ent.User) *userScope {
	if before == nil {
		return nil
	}
	b, a := scopeOf(before), scopeOf(after)
	if b.Role == a.Role && slices.Equal(b.Divisions, a.Divisions) {
		return nil
	}
	return &b
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
			var payload []byte
			var err error
			switch ev := e.(type) {
			case userEvent:
				ev.At = now
				payload, err = json.Marshal(ev)
			case objectEvent:
				ev.At = now
				payload, err = encodeObjectEvent(topic, ev)
			default:
				payload, err = json.Marshal(e)
			}
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
	status = slices.Contains(fields, user.FieldAvailability) || slices.Contains(fields, user.FieldOnline) ||
		slices.Contains(fields, user.FieldConnections)
	// A user's device count is recounted by an SQL expression the
	// mutation does not list: a change of one user that bumps only the
	// version is that recount.
	status = status || m.Op().Is(ent.OpUpdateOne) && !slices.ContainsFunc(fields, func(f string) bool { return !slices.Contains(quietFields, f) }) &&
		len(m.AddedEdges())+len(m.RemovedEdges())+len(m.ClearedEdges()) == 0
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
