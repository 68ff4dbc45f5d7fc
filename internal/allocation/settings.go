package allocation

import (
	"context"
	"fmt"
	"time"

	"roster/ent"
	"roster/ent/allocationsettings"
	"roster/ent/conversation"
	"roster/ent/division"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/viewer"
)

// SettingsChange is a change of allocation settings; nil fields stay.
type SettingsChange struct {
	Mode                  *allocationsettings.Mode
	Strategy              *allocationsettings.Strategy
	DefaultCapacity       *int
	ReceiveWhenBusy       *bool
	AgentsMayTake         *bool
	AgentsMayAssignOthers *bool
	IdleReassignMinutes   *int
	OnOffline             *allocationsettings.OnOffline
}

// Settings returns the settings in force for division divisionID (nil:
// the organization's), the division read as the caller.
func (s *Service) Settings(ctx context.Context, divisionID *int) (Settings, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return Settings{}, apierr.New(apierr.Unauthenticated, "authentication required")
	}
	div, err := s.division(ctx, divisionID)
	if err != nil {
		return Settings{}, err
	}
	return s.SettingsFor(ctx, v.OrganizationID, div)
}

func (s *Service) division(ctx context.Context, divisionID *int) (int, error) {
	if divisionID == nil {
		return 0, nil
	}
	if ok, err := s.db(ctx).Division.Query().Where(division.ID(*divisionID)).Exist(ctx); err != nil {
		return 0, fmt.Errorf("find division: %w", err)
	} else if !ok {
		return 0, &apierr.Error{Code: apierr.NotFound, Field: "divisionID", Message: "division not found"}
	}
	return *divisionID, nil
}

// UpdateSettings changes the settings of division divisionID (nil: the
// organization's). A division's first change starts from the settings it
// had (the organization's). The change applies to the next decision.
// Needs MANAGE_ALLOCATION (checked by the privacy rules of the write).
func (s *Service) UpdateSettings(ctx context.Context, divisionID *int, ch SettingsChange) (Settings, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return Settings{}, apierr.New(apierr.Unauthenticated, "authentication required")
	}
	if !v.Can(viewer.ManageAllocation) {
		return Settings{}, apierr.New(apierr.Forbidden, "needs MANAGE_ALLOCATION")
	}
	div, err := s.division(ctx, divisionID)
	if err != nil {
		return Settings{}, err
	}
	if ch.DefaultCapacity != nil && (*ch.DefaultCapacity < 0 || *ch.DefaultCapacity > 1000) {
		return Settings{}, apierr.Input("defaultCapacity", "must be 0 to 1000")
	}
	if ch.IdleReassignMinutes != nil && (*ch.IdleReassignMinutes < 0 || *ch.IdleReassignMinutes > 10080) {
		return Settings{}, apierr.Input("idleReassignMinutes", "must be 0 (off) to 10080")
	}
	cur, err := s.SettingsFor(ctx, v.OrganizationID, div)
	if err != nil {
		return Settings{}, err
	}
	if ch.Mode != nil {
		cur.Mode = *ch.Mode
	}
	if ch.Strategy != nil {
		cur.Strategy = *ch.Strategy
	}
	if ch.DefaultCapacity != nil {
		cur.DefaultCapacity = *ch.DefaultCapacity
	}
	if ch.ReceiveWhenBusy != nil {
		cur.ReceiveWhenBusy = *ch.ReceiveWhenBusy
	}
	if ch.AgentsMayTake != nil {
		cur.AgentsMayTake = *ch.AgentsMayTake
	}
	if ch.AgentsMayAssignOthers != nil {
		cur.AgentsMayAssignOthers = *ch.AgentsMayAssignOthers
	}
	if ch.IdleReassignMinutes != nil {
		cur.IdleReassignMinutes = *ch.IdleReassignMinutes
	}
	if ch.OnOffline != nil {
		cur.OnOffline = *ch.OnOffline
	}
	err = s.db(ctx).AllocationSettings.Create().
		SetOrganizationID(v.OrganizationID).
		SetDivisionID(div).
		SetMode(cur.Mode).
		SetStrategy(cur.Strategy).
		SetDefaultCapacity(cur.DefaultCapacity).
		SetReceiveWhenBusy(cur.ReceiveWhenBusy).
		SetAgentsMayTake(cur.AgentsMayTake).
		SetAgentsMayAssignOthers(cur.AgentsMayAssignOthers).
		SetIdleReassignMinutes(cur.IdleReassignMinutes).
		SetOnOffline(cur.OnOffline).
		OnConflictColumns(allocationsettings.FieldOrganizationID, allocationsettings.FieldDivisionID).
		UpdateNewValues().
		Exec(ctx)
	if err != nil {
		return Settings{}, fmt.Errorf("save allocation settings: %w", err)
	}
	// More agents may be eligible now (capacity, BUSY, mode).
	s.drainAfterCommit(ctx, v.OrganizationID)
	cur.DivisionID, cur.Stored = div, true
	return cur, nil
}

// ResetSettings removes the override of division divisionID: the
// organization's settings apply to it again. Needs MANAGE_ALLOCATION.
func (s *Service) ResetSettings(ctx context.Context, divisionID int) (Settings, error) {
	v, err := requireCan(ctx, viewer.ManageAllocation)
	if err != nil {
		return Settings{}, err
	}
	if _, err := s.division(ctx, &divisionID); err != nil {
		return Settings{}, err
	}
	if _, err := s.db(ctx).AllocationSettings.Delete().Where(allocationsettings.DivisionID(divisionID)).Exec(ctx); err != nil {
		return Settings{}, fmt.Errorf("remove allocation settings: %w", err)
	}
	s.drainAfterCommit(ctx, v.OrganizationID)
	return s.SettingsFor(ctx, v.OrganizationID, 0)
}

// AgentWorkload is an agent's open conversations and headroom.
type AgentWorkload struct {
	User     *ent.User
	Open     int
	Capacity int
	Headroom int
}

// DivisionWorkload is a division's open conversations and queue.
type DivisionWorkload struct {
	Division    *ent.Division
	Open        int
	Queued      int
	LongestWait time.Duration
}

// LongestWaitSeconds is LongestWait in whole seconds.
func (w *DivisionWorkload) LongestWaitSeconds() int { return int(w.LongestWait / time.Second) }

// Workload returns the open conversations and headroom of the agents the
// caller sees, and the open conversations, queue length and longest wait
// of the divisions they see.
func (s *Service) Workload(ctx context.Context) ([]*AgentWorkload, []*DivisionWorkload, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, nil, apierr.New(apierr.Unauthenticated, "authentication required")
	}
	db, sys := s.db(ctx), system(ctx)
	users, err := db.User.Query().Where(user.StatusEQ(user.StatusActive)).Order(ent.Asc(user.FieldID)).All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read users: %w", err)
	}
	set, err := s.SettingsFor(ctx, v.OrganizationID, 0)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	open, err := openCounts(sys, db, ids)
	if err != nil {
		return nil, nil, err
	}
	var agents []*AgentWorkload
	for _, u := range users {
		c := set.DefaultCapacity
		if u.Capacity != nil {
			c = *u.Capacity
		}
		agents = append(agents, &AgentWorkload{User: u, Open: open[u.ID], Capacity: c, Headroom: max(0, c-open[u.ID])})
	}
	divs, err := db.Division.Query().Order(ent.Asc(division.FieldID)).All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read divisions: %w", err)
	}
	now := s.now()
	var out []*DivisionWorkload
	for _, d := range divs {
		convs, err := db.Conversation.Query().
			Where(conversation.DivisionID(d.ID), conversation.StateIn(conversation.StateQueued, conversation.StateAssigned)).
			Select(conversation.FieldState, conversation.FieldEnqueuedAt).
			All(sys)
		if err != nil {
			return nil, nil, fmt.Errorf("read division queue: %w", err)
		}
		w := &DivisionWorkload{Division: d}
		for _, c := range convs {
			if c.State == conversation.StateAssigned {
				w.Open++
				continue
			}
			w.Queued++
			w.LongestWait = max(w.LongestWait, now.Sub(c.EnqueuedAt))
		}
		out = append(out, w)
	}
	return agents, out, nil
}
