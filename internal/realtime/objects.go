package realtime

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	gen "entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"roster/ent"
	"roster/ent/channel"
	"roster/ent/division"
	"roster/ent/role"
	"roster/internal/auth"
	"roster/internal/pubsub"
	"roster/internal/viewer"
)

// The broker topics of the changes of divisions, roles and channels.
const (
	topicDivisionChanges = "division-changes"
	topicRoleChanges     = "role-changes"
	topicChannelChanges  = "channel-changes"
)

// ObjectChangeKind says what happened to a division, role or channel.
type ObjectChangeKind string

// The kinds of change of divisions, roles and channels. A change of a
// channel that turns it on or off, or connects or disconnects it, is of
// that kind rather than UPDATED.
const (
	ObjectCreated       ObjectChangeKind = "CREATED"
	ObjectUpdated       ObjectChangeKind = "UPDATED"
	ObjectDeleted       ObjectChangeKind = "DELETED"
	ChannelEnabled      ObjectChangeKind = "ENABLED"
	ChannelDisabled     ObjectChangeKind = "DISABLED"
	ChannelConnected    ObjectChangeKind = "CONNECTED"
	ChannelDisconnected ObjectChangeKind = "DISCONNECTED"
	// ObjectSnapshot: the object as the subscription found it when it
	// started (asked for with snapshot: true).
	ObjectSnapshot ObjectChangeKind = "SNAPSHOT"
	// ObjectSnapshotEnd ends the snapshot: sent once after its last
	// object, even when it had none, with no object.
	ObjectSnapshotEnd ObjectChangeKind = "SNAPSHOT_END"
)

// MarshalGQL writes the kind as a GraphQL enum value.
func (k ObjectChangeKind) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(k))) }

// UnmarshalGQL reads a GraphQL enum value.
func (k *ObjectChangeKind) UnmarshalGQL(v any) error {
	s, _ := v.(string)
	switch ObjectChangeKind(s) {
	case ObjectCreated, ObjectUpdated, ObjectDeleted, ChannelEnabled, ChannelDisabled, ChannelConnected, ChannelDisconnected, ObjectSnapshot, ObjectSnapshotEnd:
		*k = ObjectChangeKind(s)
		return nil
	}
	return fmt.Errorf("%v is not a valid change kind", v)
}

// DivisionChangedEvent is a division created, changed or deleted, a
// division in a snapshot, or the end of a snapshot.
type DivisionChangedEvent struct {
	Kind       ObjectChangeKind
	DivisionID int
	Division   *ent.Division
	Version    int
	At         time.Time
}

// RoleChangedEvent is a role created, changed or deleted, a role in a
// snapshot, or the end of a snapshot.
type RoleChangedEvent struct {
	Kind    ObjectChangeKind
	RoleID  int
	Role    *ent.Role
	Version int
	At      time.Time
}

// ChannelChangedEvent is a channel created, changed, enabled, disabled,
// connected, disconnected or deleted, a channel in a snapshot, or the end
// of a snapshot.
type ChannelChangedEvent struct {
	Kind      ObjectChangeKind
	ChannelID int
	Channel   *ent.Channel
	Version   int
	At        time.Time
}

// snapshotEnd reports whether k ends a snapshot: the event carries no
// object, and its ID and version are null.
func (k ObjectChangeKind) snapshotEnd() bool { return k == ObjectSnapshotEnd }

// orNull returns a pointer to v, or nil on the end of a snapshot.
func orNull(k ObjectChangeKind, v int) *int {
	if k.snapshotEnd() {
		return nil
	}
	return &v
}

// DivisionIDOrNull is the division's ID, null on the end-of-snapshot
// marker.
func (e *DivisionChangedEvent) DivisionIDOrNull() *int { return orNull(e.Kind, e.DivisionID) }

// VersionOrNull is the version, null on the end-of-snapshot marker.
func (e *DivisionChangedEvent) VersionOrNull() *int { return orNull(e.Kind, e.Version) }

// RoleIDOrNull is the role's ID, null on the end-of-snapshot marker.
func (e *RoleChangedEvent) RoleIDOrNull() *int { return orNull(e.Kind, e.RoleID) }

// VersionOrNull is the version, null on the end-of-snapshot marker.
func (e *RoleChangedEvent) VersionOrNull() *int { return orNull(e.Kind, e.Version) }

// ChannelIDOrNull is the channel's ID, null on the end-of-snapshot
// marker.
func (e *ChannelChangedEvent) ChannelIDOrNull() *int { return orNull(e.Kind, e.ChannelID) }

// VersionOrNull is the version, null on the end-of-snapshot marker.
func (e *ChannelChangedEvent) VersionOrNull() *int { return orNull(e.Kind, e.Version) }

// objectEvent is what travels through the broker when a division, role or
// channel changes: the object as the change left it, read in the change's
// transaction, so that an event never shows a later state than its
// version.
type objectEvent struct {
	Org  int              `json:"o"`
	ID   int              `json:"i"`
	Kind ObjectChangeKind `json:"k"`
	// Version is the version of the change: for a deletion, one more
	// than the object's last.
	Version int `json:"v"`
	// Row is the object as of Version (its JSON, without secrets); null
	// for a deletion, and when it did not fit in a message (Large).
	Row json.RawMessage `json:"r,omitempty"`
	// Large is set when the row did not fit: receivers read the object,
	// and use it only when it still is at Version (a newer change has an
	// event of its own).
	Large bool `json:"l,omitempty"`
	// At is when the change committed, in Unix milliseconds.
	At int64 `json:"t"`
}

// objectType describes an entity whose changes are published and
// subscribed to: divisions, roles and channels.
type objectType[T any] struct {
	topic string
	// load reads objects by ID, as they are in ctx's transaction.
	load func(ctx context.Context, c *ent.Client, ids []int) ([]*T, error)
	// lock locks objects by ID until the end of ctx's transaction, where
	// the database can (PostgreSQL), so that the state read next is the
	// last before a deletion.
	lock func(ctx context.Context, c *ent.Client, ids []int) error
	// meta returns an object's ID, organization and version.
	meta func(*T) (id, org, version int)
	// kind returns what a change that turned before into after was; nil
	// for divisions and roles, whose changes are all UPDATED.
	kind func(before, after *T) ObjectChangeKind
	// readable evaluates, for the viewer in ctx, the query policy of the
	// type: nil when they may read its objects.
	readable func(ctx context.Context, c *ent.Client) error
	// visible reads the objects the viewer in ctx may see (through the
	// privacy rules, as the type's queries do) among those changed since
	// a time or given by ID; since the zero time, all of them.
	visible func(ctx context.Context, c *ent.Client, since time.Time, ids []int) ([]*T, error)
	// bind returns a copy of an object that reads its edges through c,
	// with the empty values its JSON leaves out.
	bind func(c *ent.Client, v *T) *T
}

// forUpdate locks the rows a query selects, on PostgreSQL (SQLite
// serialises writers anyway).
func forUpdate(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}

var divisions = objectType[ent.Division]{
	topic: topicDivisionChanges,
	load: func(ctx context.Context, c *ent.Client, ids []int) ([]*ent.Division, error) {
		return c.Division.Query().Where(division.IDIn(ids...)).All(viewer.NewSystemContext(ctx))
	},
	lock: func(ctx context.Context, c *ent.Client, ids []int) error {
		_, err := c.Division.Query().Where(division.IDIn(ids...)).Select(division.FieldID).Modify(forUpdate).Ints(viewer.NewSystemContext(ctx))
		return err
	},
	meta: func(d *ent.Division) (int, int, int) { return d.ID, d.OrganizationID, d.Version },
	readable: func(ctx context.Context, c *ent.Client) error {
		return division.Policy.EvalQuery(ctx, c.Division.Query())
	},
	visible: func(ctx context.Context, c *ent.Client, since time.Time, ids []int) ([]*ent.Division, error) {
		q := c.Division.Query()
		if !since.IsZero() {
			q.Where(division.Or(division.UpdatedAtGTE(since), division.IDIn(ids...)))
		}
		return q.Order(ent.Asc(division.FieldID)).All(ctx)
	},
	bind: func(c *ent.Client, d *ent.Division) *ent.Division { return c.Division.Bind(d) },
}

var roles = objectType[ent.Role]{
	topic: topicRoleChanges,
	load: func(ctx context.Context, c *ent.Client, ids []int) ([]*ent.Role, error) {
		return c.Role.Query().Where(role.IDIn(ids...)).All(viewer.NewSystemContext(ctx))
	},
	lock: func(ctx context.Context, c *ent.Client, ids []int) error {
		_, err := c.Role.Query().Where(role.IDIn(ids...)).Select(role.FieldID).Modify(forUpdate).Ints(viewer.NewSystemContext(ctx))
		return err
	},
	meta: func(r *ent.Role) (int, int, int) { return r.ID, r.OrganizationID, r.Version },
	readable: func(ctx context.Context, c *ent.Client) error {
		return role.Policy.EvalQuery(ctx, c.Role.Query())
	},
	visible: func(ctx context.Context, c *ent.Client, since time.Time, ids []int) ([]*ent.Role, error) {
		q := c.Role.Query()
		if !since.IsZero() {
			q.Where(role.Or(role.UpdatedAtGTE(since), role.IDIn(ids...)))
		}
		return q.Order(ent.Asc(role.FieldID)).All(ctx)
	},
	bind: func(c *ent.Client, r *ent.Role) *ent.Role {
		r = c.Role.Bind(r)
		if r.Permissions == nil {
			r.Permissions = []viewer.Permission{} // none: left out of the event's JSON
		}
		return r
	},
}

var channels = objectType[ent.Channel]{
	topic: topicChannelChanges,
	load: func(ctx context.Context, c *ent.Client, ids []int) ([]*ent.Channel, error) {
		chs, err := c.Channel.Query().Where(channel.IDIn(ids...)).All(viewer.NewSystemContext(ctx))
		for _, ch := range chs {
			ch.Credentials = nil // write-only: never in an event
		}
		return chs, err
	},
	lock: func(ctx context.Context, c *ent.Client, ids []int) error {
		_, err := c.Channel.Query().Where(channel.IDIn(ids...)).Select(channel.FieldID).Modify(forUpdate).Ints(viewer.NewSystemContext(ctx))
		return err
	},
	meta: func(ch *ent.Channel) (int, int, int) { return ch.ID, ch.OrganizationID, ch.Version },
	kind: func(before, after *ent.Channel) ObjectChangeKind {
		switch {
		case before.ConnectionState != after.ConnectionState && after.ConnectionState == channel.ConnectionStateConnected:
			return ChannelConnected
		case before.ConnectionState != after.ConnectionState:
			return ChannelDisconnected
		case before.Enabled != after.Enabled && after.Enabled:
			return ChannelEnabled
		case before.Enabled != after.Enabled:
			return ChannelDisabled
		}
		return ObjectUpdated
	},
	readable: func(ctx context.Context, c *ent.Client) error {
		return channel.Policy.EvalQuery(ctx, c.Channel.Query())
	},
	visible: func(ctx context.Context, c *ent.Client, since time.Time, ids []int) ([]*ent.Channel, error) {
		q := c.Channel.Query()
		if !since.IsZero() {
			q.Where(channel.Or(channel.UpdatedAtGTE(since), channel.IDIn(ids...)))
		}
		return q.Order(ent.Asc(channel.FieldID)).All(ctx)
	},
	bind: func(c *ent.Client, ch *ent.Channel) *ent.Channel {
		ch = c.Channel.Bind(ch)
		ch.Credentials = nil
		if ch.Settings == nil {
			ch.Settings = map[string]any{} // none: left out of the event's JSON
		}
		return ch
	},
}

// objectMutation is what the publisher needs of a mutation of divisions,
// roles or channels.
type objectMutation interface {
	gen.Mutation
	IDs(context.Context) ([]int, error)
	Client() *ent.Client
	Tx() (*ent.Tx, error)
}

// objectHook publishes an event for every object of type t a mutation
// creates, changes or deletes, once its transaction commits, with the
// object as the change left it.
func objectHook[T any](p *publisher, t objectType[T]) ent.Hook {
	return func(next gen.Mutator) gen.Mutator {
		return gen.MutateFunc(func(ctx context.Context, m gen.Mutation) (gen.Value, error) {
			om, ok := m.(objectMutation)
			if !ok {
				return nil, fmt.Errorf("publish changes of %s: unexpected mutation %T", m.Type(), m)
			}
			deleting := m.Op().Is(gen.OpDelete | gen.OpDeleteOne)
			var ids []int
			before := map[int]*T{}
			if !m.Op().Is(gen.OpCreate) {
				var err error
				if ids, err = om.IDs(ctx); err != nil {
					return nil, err
				}
				if len(ids) == 0 {
					return next.Mutate(ctx, m)
				}
				if deleting {
					// A deletion's version must be newer than that of
					// any change before it: nothing changes the rows
					// between this read and the deletion.
					if err := t.lock(ctx, om.Client(), ids); err != nil {
						return nil, err
					}
				}
				if deleting || t.kind != nil {
					rows, err := t.load(ctx, om.Client(), ids)
					if err != nil {
						return nil, err
					}
					for _, r := range rows {
						id, _, _ := t.meta(r)
						before[id] = r
					}
				}
			}
			v, err := next.Mutate(ctx, m)
			if err != nil {
				return v, err
			}
			var events []any
			if deleting {
				for _, id := range ids {
					if r := before[id]; r != nil {
						_, org, version := t.meta(r)
						events = append(events, objectEvent{Org: org, ID: id, Kind: ObjectDeleted, Version: version + 1})
					}
				}
			} else {
				kind := ObjectUpdated
				if created, ok := v.(*T); ok && m.Op().Is(gen.OpCreate) {
					id, _, _ := t.meta(created)
					ids, kind = []int{id}, ObjectCreated
				}
				after, err := t.load(ctx, om.Client(), ids)
				if err != nil {
					return nil, err
				}
				for _, r := range after {
					id, org, version := t.meta(r)
					k := kind
					if b := before[id]; b != nil && t.kind != nil {
						k = t.kind(b, r)
					}
					row, err := json.Marshal(t.bind(om.Client(), r))
					if err != nil {
						return nil, err
					}
					events = append(events, objectEvent{Org: org, ID: id, Kind: k, Version: version, Row: row})
				}
			}
			p.afterCommit(ctx, om, t.topic, events)
			return v, nil
		})
	}
}

// encodeObjectEvent returns the payload of ev on topic: its JSON, or,
// when that is too large for a message, its JSON compressed, or else the
// event without its row (receivers read it).
func encodeObjectEvent(topic string, ev objectEvent) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	payload := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if len(topic)+len(payload) <= pubsub.MaxSize {
		return payload, nil
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	_, _ = w.Write(payload)
	if err := w.Close(); err != nil {
		return nil, err
	}
	// Compressed payloads are binary: base64 for PostgreSQL counts 4/3.
	if len(topic)+(z.Len()*4+2)/3 <= pubsub.MaxSize {
		return z.Bytes(), nil
	}
	ev.Row, ev.Large = nil, true
	return json.Marshal(ev)
}

// decodeObjectEvent reads a payload made by encodeObjectEvent.
func decodeObjectEvent(payload []byte) (objectEvent, error) {
	var ev objectEvent
	if len(payload) > 1 && payload[0] == 0x1f && payload[1] == 0x8b {
		r, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return ev, err
		}
		if payload, err = io.ReadAll(r); err != nil {
			return ev, err
		}
	}
	err := json.Unmarshal(payload, &ev)
	return ev, err
}

// dispatchObject hands an event of a division, role or channel to the
// subscriptions of its organization to that topic.
func (h *Hub) dispatchObject(ctx context.Context, topic string, payload []byte) {
	ev, err := decodeObjectEvent(payload)
	if err != nil {
		h.log.ErrorContext(ctx, "read object event", "topic", topic, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.objects[topic][ev.Org] {
		delivered := s.push(item[objectEvent]{event: ev})
		if h.meter != nil {
			if delivered {
				h.meter.EventDelivered()
			} else {
				h.meter.EventDropped()
			}
		}
	}
}

// DivisionChanges subscribes the viewer in ctx to the creation, change and
// deletion of the divisions they may see, until ctx is done. With
// snapshot, it first sends every division they may see (kind SNAPSHOT),
// then the end of the snapshot (kind SNAPSHOT_END).
func (h *Hub) DivisionChanges(ctx context.Context, snapshot bool) (<-chan *DivisionChangedEvent, error) {
	return subscribeObjects(h, ctx, divisions, snapshot, func(k ObjectChangeKind, id int, d *ent.Division, version int, at time.Time) *DivisionChangedEvent {
		return &DivisionChangedEvent{Kind: k, DivisionID: id, Division: d, Version: version, At: at}
	})
}

// RoleChanges subscribes the viewer in ctx to the creation, change
// (permissions included) and deletion of the roles they may see, until ctx
// is done. With snapshot, it first sends every role they may see (kind
// SNAPSHOT), then the end of the snapshot (kind SNAPSHOT_END).
func (h *Hub) RoleChanges(ctx context.Context, snapshot bool) (<-chan *RoleChangedEvent, error) {
	return subscribeObjects(h, ctx, roles, snapshot, func(k ObjectChangeKind, id int, r *ent.Role, version int, at time.Time) *RoleChangedEvent {
		return &RoleChangedEvent{Kind: k, RoleID: id, Role: r, Version: version, At: at}
	})
}

// ChannelChanges subscribes the viewer in ctx to the creation, change,
// enabling, disabling, connection, disconnection and deletion of the
// channels they may see, until ctx is done. Channels are sent without
// their credentials. With snapshot, it first sends every channel they may
// see (kind SNAPSHOT), then the end of the snapshot (kind SNAPSHOT_END).
func (h *Hub) ChannelChanges(ctx context.Context, snapshot bool) (<-chan *ChannelChangedEvent, error) {
	return subscribeObjects(h, ctx, channels, snapshot, func(k ObjectChangeKind, id int, ch *ent.Channel, version int, at time.Time) *ChannelChangedEvent {
		return &ChannelChangedEvent{Kind: k, ChannelID: id, Channel: ch, Version: version, At: at}
	})
}

// subscribeObjects subscribes the viewer in ctx to the changes of the
// objects of type t of their organization, sent as mk makes them, until
// ctx is done, after a snapshot of them if asked for. Who may follow them,
// and which of them, is what the type's query policy says: a viewer it
// refuses is refused as a query would be, each event is checked against
// it as the viewer stands, and the snapshot is read through it.
func subscribeObjects[T, E any](h *Hub, ctx context.Context, t objectType[T], snapshot bool, mk func(ObjectChangeKind, int, *T, int, time.Time) *E) (<-chan *E, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if err := t.readable(ctx, h.client); err != nil {
		return nil, err
	}
	out := make(chan *E, 1)
	f := &objectFeed[T, E]{hub: h, t: t, mk: mk, out: out, versions: map[int]int{}, since: time.Now()}
	q, org := newQueue[objectEvent](), v.OrganizationID
	follow(ctx, h, &q, snapshot, func(add bool) {
		switch {
		case add && h.objects[t.topic] == nil:
			h.objects[t.topic] = map[int]map[*queue[objectEvent]]struct{}{org: {&q: {}}}
		case add && h.objects[t.topic][org] == nil:
			h.objects[t.topic][org] = map[*queue[objectEvent]]struct{}{&q: {}}
		case add:
			h.objects[t.topic][org][&q] = struct{}{}
		default:
			delete(h.objects[t.topic][org], &q)
			if len(h.objects[t.topic][org]) == 0 {
				delete(h.objects[t.topic], org)
			}
		}
	}, func(it item[objectEvent]) { f.handle(ctx, it) }, func() { close(out) })
	return out, nil
}

// objectFeed turns the events of one subscription into what it sends.
type objectFeed[T, E any] struct {
	hub *Hub
	t   objectType[T]
	mk  func(ObjectChangeKind, int, *T, int, time.Time) *E
	out chan<- *E
	// versions is the version of each object the subscriber was last
	// told of; deleted, the objects it was told were deleted.
	versions map[int]int
	deleted  map[int]bool
	// since is when the subscription started: a client learnt the state
	// of objects unchanged since then from its own query.
	since time.Time
}

func (f *objectFeed[T, E]) handle(ctx context.Context, it item[objectEvent]) {
	if it.resync {
		f.resync(ctx, it.snapshot)
		return
	}
	ev := it.event
	if ev.Version <= f.versions[ev.ID] || f.t.readable(ctx, f.hub.client) != nil {
		return
	}
	var obj *T
	switch {
	case ev.Kind == ObjectDeleted:
	case ev.Large:
		// The row did not fit in the message: the object as it is now,
		// if it still is as of the event.
		rows, err := f.t.load(ctx, f.hub.client, []int{ev.ID})
		if err != nil && ctx.Err() == nil {
			f.hub.log.ErrorContext(ctx, "read object for an event", "topic", f.t.topic, "id", ev.ID, "err", err)
		}
		if len(rows) != 1 {
			return
		}
		if _, _, version := f.t.meta(rows[0]); version != ev.Version {
			return
		}
		obj = f.t.bind(f.hub.client, rows[0])
	default:
		var row T
		if err := json.Unmarshal(ev.Row, &row); err != nil {
			f.hub.log.ErrorContext(ctx, "read object event", "topic", f.t.topic, "err", err)
			return
		}
		obj = f.t.bind(f.hub.client, &row)
	}
	f.versions[ev.ID] = ev.Version
	if ev.Kind == ObjectDeleted {
		f.markDeleted(ev.ID)
	}
	send(ctx, f.out, f.mk(ev.Kind, ev.ID, obj, ev.Version, time.UnixMilli(ev.At)))
}

func (f *objectFeed[T, E]) markDeleted(id int) {
	if f.deleted == nil {
		f.deleted = map[int]bool{}
	}
	f.deleted[id] = true
}

// resync re-reads, after events may have been lost, the objects the
// subscriber may see that changed since it started or that it was told
// of, and sends those newer than what it was told; objects it was told of
// that are gone are sent as deleted. With snapshot, it reads every object
// the subscriber may see and sends them as a snapshot, then its end.
func (f *objectFeed[T, E]) resync(ctx context.Context, snapshot bool) {
	if f.t.readable(ctx, f.hub.client) != nil {
		return
	}
	known := make([]int, 0, len(f.versions))
	for id := range f.versions {
		if !f.deleted[id] {
			known = append(known, id)
		}
	}
	since, kind := f.since, ObjectUpdated
	if snapshot {
		since, kind = time.Time{}, ObjectSnapshot
	}
	objs, err := f.t.visible(ctx, f.hub.client, since, known)
	if err != nil {
		if ctx.Err() == nil {
			f.hub.log.ErrorContext(ctx, "re-read objects", "topic", f.t.topic, "err", err)
		}
		return
	}
	now := time.Now()
	present := map[int]bool{}
	for _, o := range objs {
		id, _, version := f.t.meta(o)
		present[id] = true
		if version > f.versions[id] {
			f.versions[id] = version
			send(ctx, f.out, f.mk(kind, id, f.t.bind(f.hub.client, o), version, now))
		}
	}
	for _, id := range known {
		if !present[id] {
			f.versions[id]++
			f.markDeleted(id)
			send(ctx, f.out, f.mk(ObjectDeleted, id, nil, f.versions[id], now))
		}
	}
	if snapshot {
		send(ctx, f.out, f.mk(ObjectSnapshotEnd, 0, nil, 0, now))
	}
}
