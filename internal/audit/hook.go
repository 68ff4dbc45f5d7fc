package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	gen "entgo.io/ent"

	"roster/ent"
	"roster/ent/allocationsettings"
	"roster/ent/apikey"
	"roster/ent/auditevent"
	"roster/ent/channel"
	"roster/ent/division"
	"roster/ent/hook"
	"roster/ent/invitation"
	"roster/ent/organization"
	"roster/ent/privacy"
	"roster/ent/role"
	"roster/ent/session"
	"roster/ent/user"
	"roster/internal/pubsub"
	"roster/internal/viewer"
)

// Topic is the broker topic of new audit entries.
const Topic = "audit"

// spec says how changes of one entity type are recorded.
type spec struct {
	// ops are the operations recorded.
	ops gen.Op
	// secret fields appear only as {"changed": true}.
	secret []string
	// ignored fields are bookkeeping: left out of the changes, and a
	// change of them alone is not recorded.
	ignored []string
	// edges are the edges whose added and removed IDs are recorded.
	edges []string
	// appends reports whether an update appends to a JSON field (which
	// ent lists in no field list).
	appends func(m gen.Mutation) bool
	// load reads rows (by ID, as the server) as JSON-like maps, for the
	// values before a bulk change or a delete.
	load func(ctx context.Context, c *ent.Client, ids []int) ([]map[string]any, error)
}

var bookkeeping = []string{"created_at", "updated_at"}

// audited are the entity types whose changes are recorded. Adding a type
// is adding its row here.
var audited = map[string]spec{
	ent.TypeUser: {
		ops:     gen.OpCreate | gen.OpUpdate | gen.OpUpdateOne | gen.OpDelete | gen.OpDeleteOne,
		secret:  []string{user.FieldPassword},
		ignored: []string{user.FieldAvailability, user.FieldOnline, user.FieldConnections, user.FieldVersion, user.FieldLastSeenAt, user.FieldTotpLastStep, user.FieldTotpSecret, user.FieldMfaRequired},
		edges:   []string{user.EdgeDivisions},
		load: func(ctx context.Context, c *ent.Client, ids []int) ([]map[string]any, error) {
			return rows(c.User.Query().Where(user.IDIn(ids...)).All(ctx))
		},
	},
	ent.TypeRole: {
		ops:     gen.OpCreate | gen.OpUpdateOne | gen.OpDeleteOne,
		ignored: []string{role.FieldVersion},
		edges:   []string{role.EdgeUsers},
		appends: func(m gen.Mutation) bool {
			rm, ok := m.(*ent.RoleMutation)
			if !ok {
				return false
			}
			_, appended := rm.AppendedPermissions()
			return appended
		},
		load: func(ctx context.Context, c *ent.Client, ids []int) ([]map[string]any, error) {
			return rows(c.Role.Query().Where(role.IDIn(ids...)).All(ctx))
		},
	},
	ent.TypeDivision: {
		ops:     gen.OpCreate | gen.OpUpdateOne | gen.OpDeleteOne,
		ignored: []string{division.FieldVersion},
		edges:   []string{division.EdgeMembers, division.EdgeChannels},
		load: func(ctx context.Context, c *ent.Client, ids []int) ([]map[string]any, error) {
			return rows(c.Division.Query().Where(division.IDIn(ids...)).All(ctx))
		},
	},
	ent.TypeChannel: {
		ops:     gen.OpCreate | gen.OpUpdateOne | gen.OpDeleteOne,
		secret:  []string{channel.FieldCredentials},
		ignored: []string{channel.FieldVersion},
		edges:   []string{channel.EdgeDivisions},
		load: func(ctx context.Context, c *ent.Client, ids []int) ([]map[string]any, error) {
			return rows(c.Channel.Query().Where(channel.IDIn(ids...)).All(ctx))
		},
	},
	ent.TypeOrganization: {
		ops: gen.OpCreate | gen.OpUpdateOne,
		load: func(ctx context.Context, c *ent.Client, ids []int) ([]map[string]any, error) {
			return rows(c.Organization.Query().Where(organization.IDIn(ids...)).All(ctx))
		},
	},
	ent.TypeApiKey: {
		ops:     gen.OpCreate | gen.OpUpdateOne | gen.OpDeleteOne,
		secret:  []string{apikey.FieldSecretHash},
		ignored: []string{apikey.FieldLastUsedAt},
		load: func(ctx context.Context, c *ent.Client, ids []int) ([]map[string]any, error) {
			return rows(c.ApiKey.Query().Where(apikey.IDIn(ids...)).All(ctx))
		},
	},
	ent.TypeAllocationSettings: {
		ops: gen.OpCreate | gen.OpUpdateOne | gen.OpDeleteOne,
		load: func(ctx context.Context, c *ent.Client, ids []int) ([]map[string]any, error) {
			return rows(c.AllocationSettings.Query().Where(allocationsettings.IDIn(ids...)).All(ctx))
		},
	},
	// Sessions are opened by logins (recorded as such, see Append) and
	// ended by logging out or revoking them.
	ent.TypeSession: {
		ops:    gen.OpDelete | gen.OpDeleteOne,
		secret: []string{session.FieldTokenHash},
		load: func(ctx context.Context, c *ent.Client, ids []int) ([]map[string]any, error) {
			return rows(c.Session.Query().Where(session.IDIn(ids...)).All(ctx))
		},
	},
	ent.TypeInvitation: {
		ops:    gen.OpCreate | gen.OpDelete | gen.OpDeleteOne,
		secret: []string{invitation.FieldTokenHash},
		load: func(ctx context.Context, c *ent.Client, ids []int) ([]map[string]any, error) {
			return rows(c.Invitation.Query().Where(invitation.IDIn(ids...)).All(ctx))
		},
	},
}

// rows turns entities into maps of their JSON fields (secrets have none)
// without their edges.
func rows[T any](items []T, err error) ([]map[string]any, error) {
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		m := map[string]any{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		delete(m, "edges")
		out = append(out, m)
	}
	return out, nil
}

type nestedKey struct{}

// Register makes every change of the audited entities made through client
// append an entry to its organization's log, in the change's transaction,
// and publishes each entry to broker once it commits. Register it before
// the other hooks that change data around a change, so that what they do
// is part of the change's entry, not entries of their own.
func Register(client *ent.Client, broker pubsub.Broker, log *slog.Logger) {
	client.Use(recordChanges)
	if broker != nil {
		client.AuditEvent.Use(publishHook(broker, log))
	}
}

// recordChanges is the hook writing the entries of changes.
func recordChanges(next gen.Mutator) gen.Mutator {
	return gen.MutateFunc(func(ctx context.Context, m gen.Mutation) (gen.Value, error) {
		sp, ok := audited[m.Type()]
		if !ok || !m.Op().Is(sp.ops) || ctx.Value(nestedKey{}) != nil {
			return next.Mutate(ctx, m)
		}
		if !m.Op().Is(gen.OpCreate) && !m.Op().Is(gen.OpDelete|gen.OpDeleteOne) && !changesSomething(m, sp) {
			return next.Mutate(ctx, m)
		}
		// What the change does around it (ending sessions of a user
		// archived, revoking invitations…) is part of this entry.
		inner := context.WithValue(ctx, nestedKey{}, true)
		c := clientOf(m)
		sys := viewer.NewSystemContext(ctx)
		var before []map[string]any
		switch {
		case m.Op().Is(gen.OpCreate):
			org, err := createOrganization(ctx, m)
			if err != nil {
				// No organization (an anonymous caller): the change is
				// refused as it would be; one that is not goes
				// unrecorded, so it fails.
				if v, merr := next.Mutate(inner, m); merr != nil {
					return v, merr
				}
				return nil, err
			}
			if org != 0 {
				if err := lockOrganizations(sys, c, []int{org}); err != nil {
					return nil, err
				}
			}
		default:
			ids, err := mutationIDs(ctx, m)
			confine := false
			if errors.Is(err, privacy.Deny) {
				// The caller may change rows of this type without
				// reading them (invitations): read them as the
				// server, confined to the caller's organization as
				// the change is.
				ids, err = mutationIDs(sys, m)
				confine = true
			}
			if err == nil && len(ids) > 0 {
				before, err = sp.load(sys, c, ids)
			}
			if v := viewer.FromContext(ctx); confine && v != nil && !viewer.IsSystem(ctx) {
				before = slices.DeleteFunc(before, func(b map[string]any) bool { return orgOf(m.Type(), b) != v.OrganizationID })
			}
			if err == nil && len(before) > 0 {
				if m.Op().Is(gen.OpUpdateOne) {
					// Load the old row now, as the server: OldField
					// answers from it after the change.
					_, err = m.OldField(sys, preloadField(m.Type()))
				}
				if err == nil {
					orgs := make([]int, 0, len(before))
					for _, b := range before {
						orgs = append(orgs, orgOf(m.Type(), b))
					}
					err = lockOrganizations(sys, c, orgs)
				}
			}
			if err != nil {
				// Nothing to record a change of: let the change fail
				// as it would, and refuse one that would go unrecorded.
				v, merr := next.Mutate(inner, m)
				if merr != nil {
					return v, merr
				}
				return nil, fmt.Errorf("audit %s %s: %w", m.Op(), m.Type(), err)
			}
			if len(before) == 0 {
				return next.Mutate(inner, m)
			}
		}
		v, err := next.Mutate(inner, m)
		if err != nil {
			return v, err
		}
		entries, err := entriesOf(ctx, m, sp, before, v)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if _, err := appendLocked(ctx, c, e); err != nil {
				return nil, err
			}
		}
		return v, nil
	})
}

// changesSomething reports whether an update changes more than
// bookkeeping.
func changesSomething(m gen.Mutation, sp spec) bool {
	if sp.appends != nil && sp.appends(m) {
		return true
	}
	for _, f := range slices.Concat(m.Fields(), m.AddedFields(), m.ClearedFields()) {
		if !slices.Contains(sp.ignored, f) && !slices.Contains(bookkeeping, f) {
			return true
		}
	}
	for _, e := range slices.Concat(m.AddedEdges(), m.RemovedEdges(), m.ClearedEdges()) {
		if slices.Contains(sp.edges, e) {
			return true
		}
	}
	return false
}

// entriesOf makes the entries of a change that returned v: one per row it
// created, changed or deleted.
func entriesOf(ctx context.Context, m gen.Mutation, sp spec, before []map[string]any, v gen.Value) ([]Entry, error) {
	typ := m.Type()
	switch {
	case m.Op().Is(gen.OpCreate):
		after, err := rows([]gen.Value{v}, nil)
		if err != nil {
			return nil, err
		}
		changes := map[string]any{}
		for _, f := range m.Fields() {
			if slices.Contains(sp.ignored, f) || slices.Contains(bookkeeping, f) {
				continue
			}
			if slices.Contains(sp.secret, f) {
				if val, _ := m.Field(f); !isZero(val) {
					changes[f] = map[string]any{"changed": true}
				}
				continue
			}
			val, _ := m.Field(f)
			changes[f] = map[string]any{"after": jsonValue(val)}
		}
		addEdges(m, sp, changes)
		return []Entry{{
			Organization: orgOf(typ, after[0]), Action: action(ctx, m, nil), TargetType: typ,
			TargetID: idOf(after[0]), TargetLabel: labelOf(typ, after[0]), Changes: changes,
		}}, nil
	case m.Op().Is(gen.OpDelete | gen.OpDeleteOne):
		entries := make([]Entry, 0, len(before))
		for _, b := range before {
			changes := map[string]any{}
			for f, val := range b {
				if f != "id" && !slices.Contains(sp.ignored, f) && !slices.Contains(bookkeeping, f) {
					changes[f] = map[string]any{"before": val}
				}
			}
			entries = append(entries, Entry{
				Organization: orgOf(typ, b), Action: action(ctx, m, nil), TargetType: typ,
				TargetID: idOf(b), TargetLabel: labelOf(typ, b), Changes: changes,
			})
		}
		return entries, nil
	}
	// An update: the fields it set, cleared or added to, before and after.
	fields := slices.Compact(slices.Sorted(slices.Values(slices.Concat(m.Fields(), m.AddedFields(), m.ClearedFields()))))
	entries := make([]Entry, 0, len(before))
	for _, b := range before {
		changes := map[string]any{}
		for _, f := range fields {
			if slices.Contains(sp.ignored, f) || slices.Contains(bookkeeping, f) {
				continue
			}
			if slices.Contains(sp.secret, f) {
				changes[f] = map[string]any{"changed": true}
				continue
			}
			old := b[f]
			if m.Op().Is(gen.OpUpdateOne) {
				if o, err := m.OldField(ctx, f); err == nil {
					old = jsonValue(o)
				}
			}
			var now any
			if val, ok := m.Field(f); ok {
				now = jsonValue(val)
			} else if val, ok := m.AddedField(f); ok {
				now = map[string]any{"added": jsonValue(val)}
			}
			if fmt.Sprint(old) == fmt.Sprint(now) {
				continue
			}
			changes[f] = map[string]any{"before": old, "after": now}
		}
		addEdges(m, sp, changes)
		if len(changes) == 0 {
			continue
		}
		entries = append(entries, Entry{
			Organization: orgOf(typ, b), Action: action(ctx, m, changes), TargetType: typ,
			TargetID: idOf(b), TargetLabel: labelOf(typ, b), Changes: changes,
		})
	}
	return entries, nil
}

// addEdges records the IDs a change adds to and removes from the recorded
// edges.
func addEdges(m gen.Mutation, sp spec, changes map[string]any) {
	for _, e := range sp.edges {
		c := map[string]any{}
		if ids := m.AddedIDs(e); len(ids) > 0 {
			c["added"] = sortedIDs(ids)
		}
		if ids := m.RemovedIDs(e); len(ids) > 0 {
			c["removed"] = sortedIDs(ids)
		}
		if m.EdgeCleared(e) {
			c["cleared"] = true
		}
		if len(c) > 0 {
			changes[e] = c
		}
	}
}

func sortedIDs(vs []gen.Value) []int {
	ids := make([]int, 0, len(vs))
	for _, v := range vs {
		if id, ok := v.(int); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// action names a change: type.verb, with the verbs of the user lifecycle.
func action(ctx context.Context, m gen.Mutation, changes map[string]any) string {
	typ := strings.ToLower(m.Type())
	switch {
	case m.Op().Is(gen.OpCreate):
		return typ + ".create"
	case m.Type() == ent.TypeSession:
		return "session.revoke"
	case m.Type() == ent.TypeInvitation:
		return "invitation.revoke"
	case m.Op().Is(gen.OpDelete | gen.OpDeleteOne):
		if m.Type() == ent.TypeUser && viewer.IsSystem(ctx) && viewer.FromContext(ctx) == nil {
			if a, ok := ctx.Value(actorKey{}).(Actor); ok && a.Label == PurgeJob {
				return "user.purge"
			}
		}
		return typ + ".delete"
	}
	if m.Type() == ent.TypeUser {
		if st, ok := changes[user.FieldStatus].(map[string]any); ok {
			switch {
			case st["after"] == string(user.StatusArchived):
				return "user.archive"
			case st["before"] == string(user.StatusArchived):
				return "user.restore"
			}
		}
		if t, ok := changes[user.FieldTotpEnabled].(map[string]any); ok && len(changes) == 1 {
			if t["after"] == true {
				return "user.mfa_enroll"
			}
			return "user.mfa_disable"
		}
	}
	if m.Type() == ent.TypeOrganization {
		if _, ok := changes[organization.FieldPlan]; ok {
			return "organization.plan_change"
		}
	}
	return typ + ".update"
}

// jsonValue turns a field value into what it reads as in JSON.
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return string(b)
	}
	return out
}

func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []byte:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

func idOf(row map[string]any) int {
	f, _ := row["id"].(float64)
	return int(f)
}

func orgField(typ string) string {
	if typ == ent.TypeOrganization {
		return "id"
	}
	return "organization_id"
}

// preloadField is a field every audited type has, read to load a row's old
// values.
func preloadField(typ string) string {
	if typ == ent.TypeOrganization {
		return organization.FieldName
	}
	return "organization_id"
}

func orgOf(typ string, row map[string]any) int {
	f, _ := row[orgField(typ)].(float64)
	return int(f)
}

// labelOf names a row readably: a user's email, another entity's name.
func labelOf(typ string, row map[string]any) string {
	switch typ {
	case ent.TypeUser:
		s, _ := row["email"].(string)
		return s
	case ent.TypeSession:
		s, _ := row["user_agent"].(string)
		return fmt.Sprintf("session of user %v (%s)", row["user_id"], s)
	case ent.TypeInvitation:
		return fmt.Sprintf("invitation of user %v", row["user_id"])
	}
	s, _ := row["name"].(string)
	return s
}

// mutationIDs returns the IDs of the rows an update or delete changes, as
// the caller sees them (privacy filters the same rows the change does).
func mutationIDs(ctx context.Context, m gen.Mutation) ([]int, error) {
	im, ok := m.(interface {
		IDs(context.Context) ([]int, error)
	})
	if !ok {
		return nil, fmt.Errorf("%s has no IDs", m.Type())
	}
	return im.IDs(ctx)
}

// createOrganization returns the organization a create belongs to.
func createOrganization(ctx context.Context, m gen.Mutation) (int, error) {
	if m.Type() == ent.TypeOrganization {
		return 0, nil // new: no entry can race its first
	}
	if v, ok := m.Field("organization_id"); ok {
		return v.(int), nil
	}
	if v := viewer.FromContext(ctx); v != nil {
		return v.OrganizationID, nil
	}
	return 0, fmt.Errorf("create %s: no organization", m.Type())
}

// clientOf returns the client of a mutation (its transaction's, in one).
func clientOf(m gen.Mutation) *ent.Client {
	return m.(interface{ Client() *ent.Client }).Client()
}

// event is what the broker carries about a new entry.
type event struct {
	Org int `json:"org"`
	ID  int `json:"id"`
}

// publishHook publishes each new entry once its transaction commits.
func publishHook(broker pubsub.Broker, log *slog.Logger) ent.Hook {
	return hook.On(func(next gen.Mutator) gen.Mutator {
		return hook.AuditEventFunc(func(ctx context.Context, m *ent.AuditEventMutation) (ent.Value, error) {
			v, err := next.Mutate(ctx, m)
			if err != nil {
				return v, err
			}
			ev := v.(*ent.AuditEvent)
			payload, _ := json.Marshal(event{Org: ev.OrganizationID, ID: ev.ID})
			publish := func() {
				if err := broker.Publish(context.WithoutCancel(ctx), Topic, payload); err != nil && log != nil {
					log.ErrorContext(ctx, "publish audit entry", "err", err)
				}
			}
			tx, err := m.Tx()
			if err != nil {
				publish()
				return v, nil
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
			return v, nil
		})
	}, gen.OpCreate)
}

// PurgeJob is the actor name of the purge job.
const PurgeJob = "purge"

// Purge deletes the entries older than retention, as the purge job (the
// only deletion of entries there is), and returns how many.
func Purge(ctx context.Context, c *ent.Client, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, nil
	}
	return c.AuditEvent.Delete().
		Where(auditevent.CreatedAtLT(time.Now().Add(-retention))).
		Exec(viewer.NewAuditPurgeContext(ctx))
}
