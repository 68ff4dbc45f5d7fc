// Package allocation owns routing conversations to agents: who is eligible
// for a conversation and why not, which eligible agent gets it (ROUND_ROBIN
// or BALANCED), the queue of conversations waiting for one, and the
// settings that govern all of it. Every decision runs in the operation's
// transaction; on PostgreSQL, row locks keep concurrent decisions (of one
// or several server instances) from assigning a conversation twice or
// giving an agent more than their capacity.
package allocation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"roster/ent"
	"roster/ent/agentload"
	"roster/ent/allocationsettings"
	"roster/ent/channel"
	"roster/ent/conversation"
	"roster/ent/division"
	"roster/ent/predicate"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/store"
	"roster/internal/viewer"
)

// Reason says why a user is not eligible for a conversation.
type Reason string

// The reasons a user is not eligible.
const (
	// Offline: the user has no live connection.
	Offline Reason = "OFFLINE"
	// Unavailable: the user's availability does not receive conversations.
	Unavailable Reason = "AVAILABILITY"
	// AtCapacity: the user has as many open conversations as they may.
	AtCapacity Reason = "AT_CAPACITY"
	// Inactive: the user is invited or archived.
	Inactive Reason = "INACTIVE"
	// NotMember: the user is not a member of the conversation's division
	// (or of its channel's divisions).
	NotMember Reason = "NOT_MEMBER"
)

// Candidate is a user considered for a conversation.
type Candidate struct {
	User *ent.User
	// Eligible is true when the allocator may give the user the
	// conversation; otherwise Reason says why not.
	Eligible bool
	Why      Reason
	// Open is how many conversations the user has assigned now.
	Open int
	// Capacity is the most they may have.
	Capacity int
	// LastAssignedAt is when they were last given a conversation.
	LastAssignedAt *time.Time
}

// Reason is why the candidate is not eligible, or nil when they are.
func (c *Candidate) Reason() *Reason {
	if c.Eligible {
		return nil
	}
	return &c.Why
}

// Headroom is how many more conversations the candidate may take.
func (c *Candidate) Headroom() int { return max(0, c.Capacity-c.Open) }

// Settings are the allocation settings in force for a division (or the
// organization's when the division has no override).
type Settings struct {
	Mode                  allocationsettings.Mode
	Strategy              allocationsettings.Strategy
	DefaultCapacity       int
	ReceiveWhenBusy       bool
	AgentsMayTake         bool
	AgentsMayAssignOthers bool
	IdleReassignMinutes   int
	OnOffline             allocationsettings.OnOffline
	// DivisionID is the division whose override these are, 0 for the
	// organization's settings, and Stored false for the defaults nobody
	// changed.
	DivisionID int
	Stored     bool
	// ID is the stored row's.
	ID int
}

// Entity returns the settings as the entity the API shows, for
// organization org.
func (s Settings) Entity(org int) *ent.AllocationSettings {
	return &ent.AllocationSettings{
		ID: s.ID, OrganizationID: org, DivisionID: s.DivisionID, Mode: s.Mode, Strategy: s.Strategy,
		DefaultCapacity: s.DefaultCapacity, ReceiveWhenBusy: s.ReceiveWhenBusy, AgentsMayTake: s.AgentsMayTake,
		AgentsMayAssignOthers: s.AgentsMayAssignOthers, IdleReassignMinutes: s.IdleReassignMinutes, OnOffline: s.OnOffline,
	}
}

// Defaults are the settings of an organization that changed none.
var Defaults = Settings{
	Mode:            allocationsettings.ModeAuto,
	Strategy:        allocationsettings.StrategyRoundRobin,
	DefaultCapacity: 5,
	AgentsMayTake:   true,
	OnOffline:       allocationsettings.OnOfflineLeave,
}

func settingsOf(s *ent.AllocationSettings) Settings {
	return Settings{
		Mode: s.Mode, Strategy: s.Strategy, DefaultCapacity: s.DefaultCapacity, ReceiveWhenBusy: s.ReceiveWhenBusy,
		AgentsMayTake: s.AgentsMayTake, AgentsMayAssignOthers: s.AgentsMayAssignOthers,
		IdleReassignMinutes: s.IdleReassignMinutes, OnOffline: s.OnOffline, DivisionID: s.DivisionID, Stored: true, ID: s.ID,
	}
}

// Event tells that a conversation was assigned; it is published after the
// transaction that assigned it commits.
type Event struct {
	OrganizationID int
	ConversationID int
	AssigneeID     int
	DivisionID     int
	At             time.Time
	// Conversation is the conversation as the assignment left it.
	Conversation *ent.Conversation
}

// Service allocates conversations.
type Service struct {
	client *ent.Client
	log    *slog.Logger
	now    func() time.Time
	// Assigned, when set, is told of every assignment after commit.
	Assigned func(Event)
}

// New returns the allocation service of client.
func New(client *ent.Client, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{client: client, log: log, now: time.Now}
}

func (s *Service) db(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return s.client
}

func system(ctx context.Context) context.Context { return viewer.NewSystemContext(ctx) }

// transact runs fn in the operation's transaction, or a new one.
func (s *Service) transact(ctx context.Context, fn func(ctx context.Context) error) error {
	return store.Transact(ctx, s.client, fn)
}

// forUpdate locks the rows a query selects, on PostgreSQL; skip skips the
// rows another transaction holds. SQLite serialises writers anyway.
func forUpdate(skip bool) func(*entsql.Selector) {
	return func(s *entsql.Selector) {
		if s.Dialect() != dialect.Postgres {
			return
		}
		if skip {
			s.ForUpdate(entsql.WithLockAction(entsql.SkipLocked))
		} else {
			s.ForUpdate()
		}
	}
}

// SettingsFor returns the settings in force for division (0: the
// organization's) of organization org.
func (s *Service) SettingsFor(ctx context.Context, org, div int) (Settings, error) {
	rows, err := s.db(ctx).AllocationSettings.Query().
		Where(allocationsettings.OrganizationID(org), allocationsettings.DivisionIDIn(0, div)).
		All(system(ctx))
	if err != nil {
		return Settings{}, fmt.Errorf("read allocation settings: %w", err)
	}
	out := Defaults
	for _, r := range rows {
		if r.DivisionID == div || !out.Stored {
			out = settingsOf(r)
		}
	}
	return out, nil
}

// conversationDivision returns the division whose settings govern c: its
// own, or 0 (the organization's).
func conversationDivision(c *ent.Conversation) int {
	if c.DivisionID != nil {
		return *c.DivisionID
	}
	return 0
}

// members returns the predicate of the users who may be given c: the
// members of its division, or of its channel's divisions when it has none,
// or everyone in the organization when it has neither.
func members(c *ent.Conversation) predicate.User {
	switch {
	case c.DivisionID != nil:
		return user.HasDivisionsWith(division.ID(*c.DivisionID))
	case c.ChannelID != nil:
		return user.HasDivisionsWith(division.HasChannelsWith(channel.ID(*c.ChannelID)))
	default:
		return user.IDNEQ(0)
	}
}

// candidates returns the users who may be given c with eligibility and
// reason, best first by strategy. onlyEligible leaves the others out (and
// lets the database drop the offline ones). The reads are the system's:
// the caller's right to act on c was checked before.
func (s *Service) candidates(ctx context.Context, c *ent.Conversation, set Settings, onlyEligible bool) ([]*Candidate, error) {
	db, sys := s.db(ctx), system(ctx)
	q := db.User.Query().Where(user.OrganizationID(c.OrganizationID), members(c))
	if onlyEligible {
		avail := []user.Availability{user.AvailabilityOnline}
		if set.ReceiveWhenBusy {
			avail = append(avail, user.AvailabilityBusy)
		}
		q.Where(user.Online(true), user.StatusEQ(user.StatusActive), user.AvailabilityIn(avail...))
	}
	users, err := q.Order(ent.Asc(user.FieldID)).All(sys)
	if err != nil {
		return nil, fmt.Errorf("read candidates: %w", err)
	}
	return s.judge(ctx, c.OrganizationID, users, set, onlyEligible)
}

// judge decides the eligibility of users under set, and orders them best
// first.
func (s *Service) judge(ctx context.Context, org int, users []*ent.User, set Settings, onlyEligible bool) ([]*Candidate, error) {
	if len(users) == 0 {
		return nil, nil
	}
	db, sys := s.db(ctx), system(ctx)
	ids := make([]int, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	open, err := openCounts(sys, db, ids)
	if err != nil {
		return nil, err
	}
	loads, err := db.AgentLoad.Query().Where(agentload.UserIDIn(ids...)).All(sys)
	if err != nil {
		return nil, fmt.Errorf("read agent loads: %w", err)
	}
	last := make(map[int]*time.Time, len(loads))
	for _, l := range loads {
		last[l.UserID] = l.LastAssignedAt
	}
	out := make([]*Candidate, 0, len(users))
	for _, u := range users {
		c := &Candidate{User: u, Open: open[u.ID], Capacity: set.DefaultCapacity, LastAssignedAt: last[u.ID]}
		if u.Capacity != nil {
			c.Capacity = *u.Capacity
		}
		c.Why = reason(u, set, c.Open, c.Capacity)
		c.Eligible = c.Why == ""
		if onlyEligible && !c.Eligible {
			continue
		}
		out = append(out, c)
	}
	order(out, set.Strategy)
	return out, nil
}

// reason returns why u may not be given a conversation under set, or "".
func reason(u *ent.User, set Settings, open, capacity int) Reason {
	switch {
	case u.Status != user.StatusActive:
		return Inactive
	case !u.Online:
		return Offline
	case u.Availability != user.AvailabilityOnline && (u.Availability != user.AvailabilityBusy || !set.ReceiveWhenBusy):
		return Unavailable
	case open >= capacity:
		return AtCapacity
	}
	return ""
}

// order sorts candidates best first: eligible before the others; then,
// ROUND_ROBIN, whoever has waited longest since their last assignment (never
// assigned first); BALANCED, the fewest open conversations, ties to whoever
// has waited longest. Equal candidates keep the order of their IDs.
func order(cs []*Candidate, strategy allocationsettings.Strategy) {
	waited := func(a, b *Candidate) int {
		switch {
		case a.LastAssignedAt == nil && b.LastAssignedAt == nil:
			return 0
		case a.LastAssignedAt == nil:
			return -1
		case b.LastAssignedAt == nil:
			return 1
		}
		return a.LastAssignedAt.Compare(*b.LastAssignedAt)
	}
	slices.SortStableFunc(cs, func(a, b *Candidate) int {
		if a.Eligible != b.Eligible {
			if a.Eligible {
				return -1
			}
			return 1
		}
		if strategy == allocationsettings.StrategyBalanced && a.Open != b.Open {
			return a.Open - b.Open
		}
		if w := waited(a, b); w != 0 {
			return w
		}
		return a.User.ID - b.User.ID
	})
}

// openCounts returns how many conversations each of ids has assigned.
func openCounts(ctx context.Context, db *ent.Client, ids []int) (map[int]int, error) {
	var rows []struct {
		AssigneeID int `json:"assignee_id"`
		Count      int `json:"count"`
	}
	err := db.Conversation.Query().
		Where(conversation.AssigneeIDIn(ids...), conversation.StateEQ(conversation.StateAssigned)).
		GroupBy(conversation.FieldAssigneeID).
		Aggregate(ent.Count()).
		Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("count open conversations: %w", err)
	}
	out := make(map[int]int, len(rows))
	for _, r := range rows {
		out[r.AssigneeID] = r.Count
	}
	return out, nil
}

// errRetry is returned inside assign when every eligible agent was locked
// by a concurrent decision.
var errRetry = errors.New("every eligible agent is being assigned")

// autoAssign gives queued conversation c (locked by the caller, or new in
// this transaction) to the best eligible agent, except exclude, and reports
// whether it did. When concurrent decisions hold every eligible agent, it
// waits for them briefly and decides again.
func (s *Service) autoAssign(ctx context.Context, c *ent.Conversation, set Settings, exclude int) (*ent.Conversation, error) {
	for attempt := 0; ; attempt++ {
		cands, err := s.candidates(ctx, c, set, true)
		if err != nil {
			return nil, err
		}
		cands = slices.DeleteFunc(cands, func(x *Candidate) bool { return x.User.ID == exclude })
		if len(cands) == 0 {
			return nil, nil
		}
		skipped := false
		for _, cand := range cands {
			got, err := s.tryAssign(ctx, c, cand, true)
			if errors.Is(err, errRetry) {
				skipped = true
				continue
			}
			if err != nil || got != nil {
				return got, err
			}
		}
		if !skipped || attempt >= 100 {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(1+attempt%5) * time.Millisecond):
		}
	}
}

// ensureLoads creates the load rows of users that have none.
func ensureLoads(ctx context.Context, db *ent.Client, org int, users ...int) error {
	bulk := make([]*ent.AgentLoadCreate, len(users))
	for i, u := range users {
		bulk[i] = db.AgentLoad.Create().SetOrganizationID(org).SetUserID(u)
	}
	if err := db.AgentLoad.CreateBulk(bulk...).OnConflictColumns(agentload.FieldUserID).DoNothing().Exec(ctx); err != nil {
		return fmt.Errorf("create agent loads: %w", err)
	}
	return nil
}

// tryAssign locks the load row of cand and, when cand is still under
// capacity, gives them c. skip makes a row another decision holds an
// errRetry instead of a wait. It returns the updated conversation, or nil
// when cand is at capacity.
func (s *Service) tryAssign(ctx context.Context, c *ent.Conversation, cand *Candidate, skip bool) (*ent.Conversation, error) {
	db, sys := s.db(ctx), system(ctx)
	uid := cand.User.ID
	if cand.LastAssignedAt == nil {
		if err := ensureLoads(sys, db, c.OrganizationID, uid); err != nil {
			return nil, err
		}
	}
	load, err := db.AgentLoad.Query().Where(agentload.UserID(uid)).Modify(forUpdate(skip)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, errRetry // held by another decision (SKIP LOCKED)
	}
	if err != nil {
		return nil, fmt.Errorf("lock agent load: %w", err)
	}
	// With the row locked, the count includes every assignment committed
	// to this agent: none can be in flight.
	n, err := db.Conversation.Query().Where(conversation.AssigneeID(uid), conversation.StateEQ(conversation.StateAssigned)).Count(sys)
	if err != nil {
		return nil, fmt.Errorf("count open conversations: %w", err)
	}
	if n >= cand.Capacity {
		return nil, nil
	}
	now := s.now()
	updated, err := db.Conversation.UpdateOneID(c.ID).
		Where(conversation.StateNEQ(conversation.StateResolved)).
		SetState(conversation.StateAssigned).
		SetAssigneeID(uid).
		SetAssignedAt(now).
		ClearLastAgentReplyAt().
		Save(sys)
	if err != nil {
		return nil, fmt.Errorf("assign conversation: %w", err)
	}
	if err := db.AgentLoad.UpdateOne(load).SetLastAssignedAt(now).Exec(sys); err != nil {
		return nil, fmt.Errorf("record assignment: %w", err)
	}
	s.afterCommit(ctx, Event{OrganizationID: c.OrganizationID, ConversationID: c.ID, AssigneeID: uid, DivisionID: conversationDivision(c), At: now, Conversation: updated})
	return updated, nil
}

// afterCommit tells Assigned of ev once the transaction commits.
func (s *Service) afterCommit(ctx context.Context, ev Event) {
	if s.Assigned == nil {
		return
	}
	if tx := ent.TxFromContext(ctx); tx != nil {
		tx.OnCommit(func(next ent.Committer) ent.Committer {
			return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
				err := next.Commit(ctx, tx)
				if err == nil {
					s.Assigned(ev)
				}
				return err
			})
		})
		return
	}
	s.Assigned(ev)
}

// errNotFound is the answer about a conversation the caller cannot see.
func errNotFound(what string) error {
	return apierr.New(apierr.NotFound, "%s not found", what)
}

func requireCan(ctx context.Context, p viewer.Permission) (*viewer.Viewer, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, apierr.New(apierr.Unauthenticated, "authentication required")
	}
	if !v.Can(p) {
		return nil, apierr.New(apierr.Forbidden, "needs %s", p)
	}
	return v, nil
}

// MarshalGQL writes the reason as a GraphQL enum value.
func (r Reason) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }

// UnmarshalGQL reads a GraphQL enum value into the reason.
func (r *Reason) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("reason must be a string, got %T", v)
	}
	*r = Reason(s)
	return nil
}
