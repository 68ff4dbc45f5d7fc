package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

	"roster/ent"
	"roster/ent/division"
	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/access"
	"roster/internal/auth"
	"roster/internal/pubsub"
	"roster/internal/viewer"
)

// queueSize bounds the events waiting for one subscription. A
// subscription that falls further behind catches up by re-reading the
// state instead.
const queueSize = 256

// Hub hands the events of the broker to this instance's subscriptions and
// closes the live connections of revoked sessions, and of viewers whose
// authority shrank.
type Hub struct {
	client  *ent.Client
	viewers Viewers
	log     *slog.Logger
	meter   Meter

	mu      sync.Mutex
	subs    map[int]*orgSubs                                    // by organization
	sockets map[int]*session                                    // by session
	assigns map[int]map[chan assignmentEvent]struct{}           // by organization
	feeds   map[int]map[summaryKey]*summaryFeed                 // by organization
	objects map[string]map[int]map[*queue[objectEvent]]struct{} // by topic, then organization
	broker  pubsub.Broker
}

// Viewers returns the viewers of sessions as they are now, by session,
// leaving out the sessions that ended.
type Viewers func(ctx context.Context, sessions []int) (map[int]*viewer.Viewer, error)

// NewHub returns a hub reading through client; viewers tells it the
// current authority of live connections (nil: it is never checked).
func NewHub(client *ent.Client, viewers Viewers, log *slog.Logger) *Hub {
	return &Hub{
		client:  client,
		viewers: viewers,
		log:     log,
		subs:    map[int]*orgSubs{},
		sockets: map[int]*session{},
		assigns: map[int]map[chan assignmentEvent]struct{}{},
		feeds:   map[int]map[summaryKey]*summaryFeed{},
		objects: map[string]map[int]map[*queue[objectEvent]]struct{}{},
	}
}

// Meter is told of the events the hub hands out, for metrics.
type Meter interface {
	// EventDelivered is called when an event is queued for a
	// subscription.
	EventDelivered()
	// EventDropped is called when a subscription is too far behind to
	// queue an event (it re-reads the state once it catches up).
	EventDropped()
}

// Measure makes the hub tell m of the events it hands out. Call it before
// Start.
func (h *Hub) Measure(m Meter) { h.meter = m }

// Broker returns the broker the hub was started with (nil before Start),
// for the subscriptions that follow a topic of their own.
func (h *Hub) Broker() pubsub.Broker {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.broker
}

// Start subscribes to the broker's events, at once, and hands them to the
// subscriptions until ctx is done: no event published after Start returns
// is missed.
func (h *Hub) Start(ctx context.Context, broker pubsub.Broker) {
	h.mu.Lock()
	h.broker = broker
	h.mu.Unlock()
	msgs, cancel := broker.Subscribe(topicUsers, topicSessions, topicRoles, topicAssignments,
		topicDivisionChanges, topicRoleChanges, topicChannelChanges)
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				h.dispatch(ctx, m)
			}
		}
	}()
}

func (h *Hub) dispatch(ctx context.Context, m pubsub.Message) {
	if m.Resync {
		h.log.InfoContext(ctx, "events may have been lost: subscriptions re-read the state")
		h.mu.Lock()
		for _, o := range h.subs {
			for s := range o.all {
				s.push(item[userEvent]{resync: true})
			}
			for _, subs := range o.byDivision {
				for s := range subs {
					s.push(item[userEvent]{resync: true})
				}
			}
		}
		h.touchSummaries(0)
		for _, byOrg := range h.objects {
			for _, subs := range byOrg {
				for s := range subs {
					s.push(item[objectEvent]{resync: true})
				}
			}
		}
		h.mu.Unlock()
		// Authority may have changed unheard of too.
		h.recheck(ctx, func(*Socket) bool { return true })
		return
	}
	switch m.Topic {
	case topicUsers:
		var ev userEvent
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			h.log.ErrorContext(ctx, "read user event", "err", err)
			return
		}
		h.mu.Lock()
		if o := h.subs[ev.Org]; o != nil {
			o.each(ev, func(s *subscription) {
				delivered := s.push(item[userEvent]{event: ev})
				if h.meter != nil {
					if delivered {
						h.meter.EventDelivered()
					} else {
						h.meter.EventDropped()
					}
				}
			})
		}
		h.touchSummaries(ev.Org)
		h.mu.Unlock()
		switch ev.Change {
		case Archived, Deleted:
			h.revoke(func(s *Socket) bool { return s.userID == ev.User }, "session ended")
		case Updated:
			// The role, chat access or broadcast flag may have changed.
			h.recheck(ctx, func(s *Socket) bool { return s.userID == ev.User })
		}
	case topicSessions:
		var ev sessionEvent
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			h.log.ErrorContext(ctx, "read session event", "err", err)
			return
		}
		h.revokeSessions(ev.Sessions)
	case topicAssignments:
		h.dispatchAssignment(ctx, m.Payload)
	case topicDivisionChanges, topicRoleChanges, topicChannelChanges:
		h.dispatchObject(ctx, m.Topic, m.Payload)
	case topicRoles:
		var ev roleEvent
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			h.log.ErrorContext(ctx, "read role event", "err", err)
			return
		}
		// Whoever has the role now, or had it when their operations
		// started: the organization's sockets.
		h.recheck(ctx, func(s *Socket) bool { return s.orgID == ev.Org })
		h.mu.Lock()
		h.touchSummaries(ev.Org)
		h.mu.Unlock()
	}
}

// Filter narrows a subscription to the users of one division or role.
type Filter struct {
	DivisionID, RoleID *int
	// Reads is what a status subscription reads of a status (zero: all of
	// it): a change of none of that is not sent.
	Reads StatusFields
}

// StatusFields are parts of a user's status a subscriber reads.
type StatusFields uint8

const (
	ReadsAvailability StatusFields = 1 << iota
	ReadsOnline
	ReadsDevices
	// ReadsUser: the user's own fields, which every newer version
	// changes (their version, the time of their last change), even one
	// that leaves the status as it was.
	ReadsUser
)

// changed reports whether a subscriber reading r (all when zero) sees a
// change from status a to b, a newer version of it.
func (r StatusFields) changed(a, b status) bool {
	if r&ReadsUser != 0 {
		return true
	}
	if r == 0 {
		return a != b
	}
	return r&ReadsAvailability != 0 && a.availability != b.availability ||
		r&ReadsOnline != 0 && a.online != b.online ||
		r&ReadsDevices != 0 && a.devices != b.devices
}

// check answers a filter naming a division or role the viewer in ctx
// cannot see with NOT_FOUND, as any ID that names nothing.
func (f Filter) check(ctx context.Context, client *ent.Client) error {
	if f.DivisionID != nil {
		if _, err := client.Division.Query().Where(division.ID(*f.DivisionID)).OnlyID(ctx); err != nil {
			return err
		}
	}
	if f.RoleID != nil {
		if _, err := client.Role.Query().Where(role.ID(*f.RoleID)).OnlyID(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (f Filter) apply(q *ent.UserQuery) *ent.UserQuery {
	if f.DivisionID != nil {
		q.Where(user.HasDivisionsWith(division.ID(*f.DivisionID)))
	}
	if f.RoleID != nil {
		q.Where(user.HasRoleWith(role.ID(*f.RoleID)))
	}
	return q
}

// UserStatus subscribes the viewer in ctx to the availability, presence
// and device count changes of the users they may see, until ctx is done.
// With snapshot, it first sends the status of every user they may see
// (kind SNAPSHOT), then the end of the snapshot (kind SNAPSHOT_END).
func (h *Hub) UserStatus(ctx context.Context, f Filter, snapshot bool) (<-chan *UserStatusEvent, error) {
	out := make(chan *UserStatusEvent, 1)
	err := h.subscribe(ctx, f, snapshot, func(ctx context.Context, s *subscription, it item[userEvent]) {
		if it.resync {
			if s.statusResync(ctx, out, it.snapshot) && it.snapshot {
				send(ctx, out, &UserStatusEvent{Kind: StatusSnapshotEnd, At: time.Now()})
			}
			return
		}
		ev := it.event
		if !ev.Status || ev.Row == nil || !s.matches(ctx, ev.User, ev.Scope) {
			return
		}
		s.sendStatus(ctx, out, StatusChanged, s.asOf(ev.Row), time.UnixMilli(ev.At))
	}, func() { close(out) })
	return out, err
}

// UserChanges subscribes the viewer in ctx to the creation, change,
// archiving and deletion of the users they may see, until ctx is done, and
// tells them of users that leave what they follow (the division or role
// they filter on, or their own divisions). With snapshot, it first sends
// every user they may see (kind SNAPSHOT), then the end of the snapshot
// (kind SNAPSHOT_END).
func (h *Hub) UserChanges(ctx context.Context, f Filter, snapshot bool) (<-chan *UserChangedEvent, error) {
	out := make(chan *UserChangedEvent, 1)
	err := h.subscribe(ctx, f, snapshot, func(ctx context.Context, s *subscription, it item[userEvent]) {
		if it.resync {
			if s.changeResync(ctx, out, it.snapshot) && it.snapshot {
				send(ctx, out, &UserChangedEvent{Kind: SnapshotEnd, DivisionIDs: []int{}, At: time.Now()})
			}
			return
		}
		ev := it.event
		if ev.Change == "" || ev.Row == nil || ev.Version <= s.versions[ev.User] {
			return
		}
		at := time.UnixMilli(ev.At)
		now := s.matches(ctx, ev.User, ev.Scope)
		was := now
		if ev.Was != nil {
			was = s.matches(ctx, ev.User, *ev.Was)
		}
		switch {
		case ev.Change == Deleted && now:
			s.versions[ev.User] = ev.Version
			send(ctx, out, &UserChangedEvent{Kind: Deleted, UserID: ev.User, DisplayName: ev.Row.DisplayName, DivisionIDs: ev.Scope.Divisions, Version: ev.Version, At: at})
		case ev.Change == Deleted:
		case now:
			s.versions[ev.User] = ev.Version
			send(ctx, out, &UserChangedEvent{Kind: ev.Change, UserID: ev.User, User: s.asOf(ev.Row), DisplayName: ev.Row.DisplayName, DivisionIDs: ev.Scope.Divisions, Version: ev.Version, At: at})
		case was:
			s.versions[ev.User] = ev.Version
			send(ctx, out, &UserChangedEvent{Kind: Removed, UserID: ev.User, DisplayName: ev.Row.DisplayName, DivisionIDs: ev.Scope.Divisions, Version: ev.Version, At: at})
		}
	}, func() { close(out) })
	return out, err
}

// matches reports whether the subscriber follows a user with this scope:
// it passes the filter and, for a viewer confined to their divisions, is
// the viewer or shares a division with them (as they are now).
func (s *subscription) matches(ctx context.Context, id int, sc userScope) bool {
	f := s.filter
	if f.DivisionID != nil && !slices.Contains(sc.Divisions, *f.DivisionID) || f.RoleID != nil && sc.Role != *f.RoleID {
		return false
	}
	v := viewer.FromContext(ctx)
	if v == nil || !v.DivisionScoped || id == v.UserID {
		return v != nil
	}
	if s.mine == nil {
		// The version first, then the divisions: they are as new as the
		// version says, or newer, so an event of a later version is
		// never older than them.
		me, err := s.hub.client.User.Query().Where(user.ID(v.UserID)).Select(user.FieldVersion).
			WithDivisions(func(q *ent.DivisionQuery) { q.Select(division.FieldID) }).
			Only(viewer.NewSystemContext(ctx))
		if err != nil {
			if ctx.Err() == nil && !ent.IsNotFound(err) {
				s.hub.log.ErrorContext(ctx, "read the divisions of a subscriber", "err", err)
			}
			return false
		}
		s.mine, s.mineVersion = scopeOf(me).Divisions, me.Version
	}
	return slices.ContainsFunc(s.mine, func(d int) bool { return slices.Contains(sc.Divisions, d) })
}

// track keeps mine current from the events the subscription handles: every
// change of a user's divisions is an event of that user, carrying their
// divisions as of it, and after a resync they are read again. Events are
// published once their transactions commit, and two may be published in
// the other order than they committed in: only a newer version than the
// one mine is as of replaces it.
func (s *subscription) track(it item[userEvent]) {
	switch {
	case it.resync:
		s.mine, s.mineVersion = nil, 0
	case it.event.User == s.viewerID && it.event.Row != nil && it.event.Change != Deleted && it.event.Version > s.mineVersion:
		s.mine, s.mineVersion = append([]int{}, it.event.Scope.Divisions...), it.event.Version
	}
}

// asOf returns the user of row, as of an event: its fields are the row's,
// its edges (role, divisions...) are read when asked for, as the
// subscriber may see them.
func (s *subscription) asOf(row *ent.User) *ent.User {
	u := *s.carrier // the client's configuration, to read edges through
	src, dst := reflect.ValueOf(row).Elem(), reflect.ValueOf(&u).Elem()
	for i := range dst.NumField() {
		if f := dst.Type().Field(i); f.IsExported() && f.Name != "Edges" {
			dst.Field(i).Set(src.Field(i))
		}
	}
	u.Edges = ent.UserEdges{}
	return &u
}

// subscription is one subscriber's view of the events of its organization.
type subscription struct {
	queue[userEvent]
	hub    *Hub
	filter Filter
	// last is what the subscriber was last told of each user's status;
	// versions, of each user's version.
	last     map[int]status
	versions map[int]int
	// since is when the subscription started: a client learnt the state
	// of users unchanged since then from its own query.
	since time.Time
	// carrier is a user read through the hub's client: the users of
	// events are copies of it, to read their edges through.
	carrier *ent.User
	// viewerID is the subscriber's user; mine, the divisions they are a
	// member of, for a division-scoped subscriber (nil: not read yet).
	// Reading them at every event, for every such subscription, made an
	// event cost a query per subscriber.
	viewerID    int
	mine        []int
	mineVersion int // the viewer's version mine is as of
}

type status struct {
	availability user.Availability
	online       bool
	devices      int
	version      int
}

func (h *Hub) subscribe(ctx context.Context, f Filter, snapshot bool, handle func(context.Context, *subscription, item[userEvent]), done func()) error {
	v, err := auth.Require(ctx)
	if err != nil {
		return err
	}
	if err := f.check(ctx, h.client); err != nil {
		return err
	}
	carrier, err := h.client.User.Get(viewer.NewSystemContext(ctx), v.UserID)
	if err != nil {
		return err
	}
	s := &subscription{queue: newQueue[userEvent](), hub: h, filter: f, last: map[int]status{}, versions: map[int]int{}, since: time.Now(), carrier: carrier, viewerID: v.UserID}
	org := v.OrganizationID
	scoped := v.DivisionScoped
	follow(ctx, h, &s.queue, snapshot, func(add bool) {
		o := h.subs[org]
		if add {
			if o == nil {
				o = &orgSubs{all: map[*subscription]struct{}{}, byDivision: map[int]map[*subscription]struct{}{}, selves: map[int]map[*subscription]struct{}{}}
				h.subs[org] = o
			}
			o.add(s, scoped)
			return
		}
		if o.remove(s, scoped) {
			delete(h.subs, org)
		}
	}, func(it item[userEvent]) {
		s.track(it)
		handle(ctx, s, it)
	}, done)
	return nil
}

// orgSubs are the user subscriptions of an organization, indexed so that
// an event reaches only those it may concern: a subscription filtered on a
// division hears only of the users who are or were in it, and, when its
// viewer sees only their own divisions' users, of its viewer (whose
// divisions it keeps, see track). Handing every event to every subscription
// made an organization's events cost the square of its subscribers: each
// of 10,000 agents coming online woke 10,000 subscriptions.
type orgSubs struct {
	all        map[*subscription]struct{}         // not filtered on a division
	byDivision map[int]map[*subscription]struct{} // by the division filtered on
	selves     map[int]map[*subscription]struct{} // division-scoped ones of byDivision, by viewer
}

func (o *orgSubs) add(s *subscription, scoped bool) {
	if s.filter.DivisionID == nil {
		o.all[s] = struct{}{}
		return
	}
	addTo(o.byDivision, *s.filter.DivisionID, s)
	if scoped {
		addTo(o.selves, s.viewerID, s)
	}
}

// remove removes s and reports whether none is left.
func (o *orgSubs) remove(s *subscription, scoped bool) (empty bool) {
	if s.filter.DivisionID == nil {
		delete(o.all, s)
	} else {
		removeFrom(o.byDivision, *s.filter.DivisionID, s)
		if scoped {
			removeFrom(o.selves, s.viewerID, s)
		}
	}
	return len(o.all) == 0 && len(o.byDivision) == 0
}

// each calls fn once for every subscription ev may concern.
func (o *orgSubs) each(ev userEvent, fn func(*subscription)) {
	for s := range o.all {
		fn(s)
	}
	divisions := ev.Scope.Divisions
	if ev.Was != nil {
		divisions = slices.Concat(divisions, ev.Was.Divisions)
		slices.Sort(divisions)
		divisions = slices.Compact(divisions)
	}
	for _, d := range divisions {
		for s := range o.byDivision[d] {
			fn(s)
		}
	}
	for s := range o.selves[ev.User] {
		if !slices.Contains(divisions, *s.filter.DivisionID) {
			fn(s)
		}
	}
}

func addTo(m map[int]map[*subscription]struct{}, k int, s *subscription) {
	if m[k] == nil {
		m[k] = map[*subscription]struct{}{}
	}
	m[k][s] = struct{}{}
}

func removeFrom(m map[int]map[*subscription]struct{}, k int, s *subscription) {
	delete(m[k], s)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// visible returns user id as the subscriber may see it, or nil.
func (s *subscription) visible(ctx context.Context, id int) (*ent.User, error) {
	u, err := s.filter.apply(s.hub.client.User.Query().Where(user.ID(id))).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil && ctx.Err() == nil {
		s.hub.log.ErrorContext(ctx, "read user for an event", "user", id, "err", err)
	}
	return u, err
}

// sendStatus tells the subscriber of the status of user u, unless they
// already know it, or know newer.
func (s *subscription) sendStatus(ctx context.Context, out chan<- *UserStatusEvent, kind StatusKind, u *ent.User, at time.Time) {
	st := status{availability: u.Availability, online: u.Online, devices: u.Connections, version: u.Version}
	last, known := s.last[u.ID]
	// What the subscriber was told, as of this version: the change is
	// sent if it shows in what they read.
	told := last
	told.version = st.version
	if known && (st.version <= last.version || !s.filter.Reads.changed(told, st)) {
		if st.version > last.version {
			last.version = st.version
			s.last[u.ID] = last
		}
		return
	}
	s.last[u.ID] = st
	send(ctx, out, &UserStatusEvent{Kind: kind, User: u, Availability: st.availability, Online: st.online, Devices: st.devices, Version: st.version, At: at})
}

// statusResync re-reads the users the subscriber may see and sends the
// statuses it was not told of: of users it knows, the ones that differ; of
// the others, the ones changed since the subscription started. With all,
// it sends every user they may see, as a snapshot. It reports whether the
// users could be read.
func (s *subscription) statusResync(ctx context.Context, out chan<- *UserStatusEvent, all bool) bool {
	q := s.filter.apply(s.hub.client.User.Query())
	kind := StatusChanged
	if all {
		kind = StatusSnapshot
	} else {
		q.Where(user.Or(user.UpdatedAtGTE(s.since), user.IDIn(keys(s.last)...)))
	}
	users, err := q.Order(ent.Asc(user.FieldID)).All(ctx)
	if err != nil {
		s.hub.log.ErrorContext(ctx, "re-read users", "err", err)
		return false
	}
	now := time.Now()
	for _, u := range users {
		s.sendStatus(ctx, out, kind, u, now)
	}
	return true
}

// changeResync re-reads the users the subscriber may see and reports the
// ones changed since it last heard of them, or since it started; with all,
// every one, as a snapshot. It reports whether the users could be read.
func (s *subscription) changeResync(ctx context.Context, out chan<- *UserChangedEvent, all bool) bool {
	q := s.filter.apply(s.hub.client.User.Query())
	kind := Updated
	if all {
		kind = Snapshot
	} else {
		q.Where(user.Or(user.UpdatedAtGTE(s.since), user.IDIn(keys(s.versions)...)))
	}
	users, err := q.WithDivisions(func(q *ent.DivisionQuery) { q.Select(division.FieldID) }).Order(ent.Asc(user.FieldID)).All(ctx)
	if err != nil {
		s.hub.log.ErrorContext(ctx, "re-read users", "err", err)
		return false
	}
	now := time.Now()
	for _, u := range users {
		if known := s.versions[u.ID]; u.Version > known {
			s.versions[u.ID] = u.Version
			sc := scopeOf(u)
			send(ctx, out, &UserChangedEvent{Kind: kind, UserID: u.ID, User: u, DisplayName: u.DisplayName, DivisionIDs: sc.Divisions, Version: u.Version, At: now})
		}
	}
	return true
}

func send[T any](ctx context.Context, out chan<- T, v T) {
	select {
	case out <- v:
	case <-ctx.Done():
	}
}

// Socket is a live connection the hub closes when its session ends or its
// viewer's authority shrinks below what its operations were given.
type Socket struct {
	hub                      *Hub
	sessionID, userID, orgID int
	onClose                  func(reason string)
	closeOnce                sync.Once
	// granted holds the authorities the connection's operations run with,
	// none covering another; guarded by hub.mu.
	granted []*viewer.Viewer
}

// session is the live connections of one session, and the timer that
// closes them when it expires.
type session struct {
	sockets map[*Socket]struct{}
	expires time.Time
	expiry  *time.Timer
	expired bool // the timer has fired
}

// close calls the socket's close function, the first time only.
func (s *Socket) close(reason string) { s.closeOnce.Do(func() { s.onClose(reason) }) }

// Watch registers the live connection of v; close is called (once) with
// the reason when v's session is revoked, v's user archived or deleted,
// the authority of v's session shrinks below one the connection was
// granted (v's, and those given to Grant), on any instance, or the session
// expires (at v.ExpiresAt, "session expired"). Unwatch unregisters it.
func (h *Hub) Watch(v *viewer.Viewer, close func(reason string)) *Socket {
	s := &Socket{hub: h, sessionID: v.SessionID, userID: v.UserID, orgID: v.OrganizationID, granted: []*viewer.Viewer{v}, onClose: close}
	h.mu.Lock()
	ss := h.sockets[v.SessionID]
	if ss == nil {
		ss = &session{sockets: map[*Socket]struct{}{}}
		h.sockets[v.SessionID] = ss
	}
	ss.sockets[s] = struct{}{}
	// One timer per session, not per connection: a session's sockets
	// expire together.
	if !v.ExpiresAt.IsZero() && (ss.expires.IsZero() || v.ExpiresAt.Before(ss.expires)) {
		if ss.expiry != nil {
			ss.expiry.Stop()
		}
		id := v.SessionID
		ss.expires = v.ExpiresAt
		ss.expiry = time.AfterFunc(time.Until(v.ExpiresAt), func() { h.expire(id, ss) })
	}
	expired := ss.expired
	h.mu.Unlock()
	if expired {
		s.close("session expired")
	}
	return s
}

// expire closes the sockets of session ss, which expired.
func (h *Hub) expire(id int, ss *session) {
	var closing []*Socket
	h.mu.Lock()
	ss.expired = true
	if h.sockets[id] == ss {
		for s := range ss.sockets {
			closing = append(closing, s)
		}
	}
	h.mu.Unlock()
	for _, s := range closing {
		s.close("session expired")
	}
}

// Grant records that an operation of the connection runs with the
// authority of v, so that the connection closes once that authority
// shrinks.
func (s *Socket) Grant(v *viewer.Viewer) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if slices.ContainsFunc(s.granted, func(g *viewer.Viewer) bool { return covers(g, v) }) {
		return // an authority held already covers v's
	}
	s.granted = slices.DeleteFunc(s.granted, func(g *viewer.Viewer) bool { return covers(v, g) })
	s.granted = append(s.granted, v)
}

// covers reports whether authority a includes all of b's.
func covers(a, b *viewer.Viewer) bool { return !access.Narrowed(b, a) }

// Unwatch unregisters the connection.
func (s *Socket) Unwatch() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	ss := h.sockets[s.sessionID]
	if ss == nil {
		return
	}
	delete(ss.sockets, s)
	if len(ss.sockets) == 0 {
		if ss.expiry != nil {
			ss.expiry.Stop()
		}
		delete(h.sockets, s.sessionID)
	}
}

// revokeSessions closes the sockets of the given sessions.
func (h *Hub) revokeSessions(ids []int) {
	var closing []*Socket
	h.mu.Lock()
	for _, id := range ids {
		if ss := h.sockets[id]; ss != nil {
			for s := range ss.sockets {
				closing = append(closing, s)
			}
		}
	}
	h.mu.Unlock()
	for _, s := range closing {
		s.close("session ended")
	}
}

// revoke closes the sockets match selects.
func (h *Hub) revoke(match func(*Socket) bool, reason string) {
	for _, s := range h.matching(match) {
		s.close(reason)
	}
}

// matching returns the sockets match selects (called with hub.mu held).
func (h *Hub) matching(match func(*Socket) bool) []*Socket {
	var out []*Socket
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ss := range h.sockets {
		for s := range ss.sockets {
			if match(s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// recheck reads, in the background, the current authority of the sockets
// match selects, and closes those whose session ended or whose authority
// shrank below one they were granted.
func (h *Hub) recheck(ctx context.Context, match func(*Socket) bool) {
	if h.viewers == nil {
		return
	}
	sockets := h.matching(match)
	if len(sockets) == 0 {
		return
	}
	go func() {
		ids := make([]int, 0, len(sockets))
		for _, s := range sockets {
			ids = append(ids, s.sessionID)
		}
		slices.Sort(ids)
		current, err := h.viewers(ctx, slices.Compact(ids))
		if err != nil {
			h.log.ErrorContext(ctx, "read the authority of live connections", "err", err)
			return
		}
		for _, s := range sockets {
			now := current[s.sessionID]
			h.mu.Lock()
			narrowed := slices.ContainsFunc(s.granted, func(g *viewer.Viewer) bool { return access.Narrowed(g, now) })
			h.mu.Unlock()
			switch {
			case now == nil:
				s.close("session ended")
			case narrowed:
				s.close("permissions changed")
			}
		}
	}()
}

func keys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
