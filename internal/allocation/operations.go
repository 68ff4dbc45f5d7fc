package allocation

import (
	"context"
	"fmt"
	"time"

	"roster/ent"
	"roster/ent/allocationsettings"
	"roster/ent/channel"
	"roster/ent/conversation"
	"roster/ent/division"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/viewer"
)

// EnqueueInput is a conversation the messaging platform hands over.
type EnqueueInput struct {
	ExternalID string
	ChannelID  *int
	DivisionID *int
}

// Enqueue records a conversation of the messaging platform and, in AUTO
// mode, assigns it at once to the best eligible agent; otherwise, or when
// nobody is eligible, it waits in the queue. Enqueueing an external ID
// again returns the conversation recorded the first time. Needs
// MANAGE_CONVERSATIONS.
func (s *Service) Enqueue(ctx context.Context, in EnqueueInput) (*ent.Conversation, error) {
	v, err := requireCan(ctx, viewer.ManageConversations)
	if err != nil {
		return nil, err
	}
	if in.ExternalID == "" || len(in.ExternalID) > 200 {
		return nil, apierr.Input("externalID", "must be 1 to 200 characters")
	}
	db := s.db(ctx)
	// References are read as the caller: another organization's IDs are
	// not found.
	if in.ChannelID != nil {
		if ok, err := db.Channel.Query().Where(channel.ID(*in.ChannelID)).Exist(ctx); err != nil {
			return nil, fmt.Errorf("find channel: %w", err)
		} else if !ok {
			return nil, &apierr.Error{Code: apierr.NotFound, Field: "channelID", Message: "channel not found"}
		}
	}
	if in.DivisionID != nil {
		if ok, err := db.Division.Query().Where(division.ID(*in.DivisionID)).Exist(ctx); err != nil {
			return nil, fmt.Errorf("find division: %w", err)
		} else if !ok {
			return nil, &apierr.Error{Code: apierr.NotFound, Field: "divisionID", Message: "division not found"}
		}
	}
	sys := system(ctx)
	err = db.Conversation.Create().
		SetOrganizationID(v.OrganizationID).
		SetExternalID(in.ExternalID).
		SetNillableChannelID(in.ChannelID).
		SetNillableDivisionID(in.DivisionID).
		SetEnqueuedAt(s.now()).
		OnConflictColumns(conversation.FieldOrganizationID, conversation.FieldExternalID).
		DoNothing().
		Exec(sys)
	if err != nil && !isNoRows(err) {
		return nil, fmt.Errorf("record conversation: %w", err)
	}
	c, err := db.Conversation.Query().
		Where(conversation.OrganizationID(v.OrganizationID), conversation.ExternalID(in.ExternalID)).
		Modify(forUpdate(false)).
		Only(sys)
	if err != nil {
		return nil, fmt.Errorf("read conversation: %w", err)
	}
	if c.State != conversation.StateQueued || c.AssigneeID != nil {
		return c, nil
	}
	set, err := s.SettingsFor(ctx, v.OrganizationID, conversationDivision(c))
	if err != nil {
		return nil, err
	}
	if set.Mode != allocationsettings.ModeAuto {
		return c, nil
	}
	got, err := s.autoAssign(ctx, c, set, 0)
	if err != nil || got == nil {
		return c, err
	}
	return got, nil
}

func isNoRows(err error) bool {
	// ent reports an upsert that did nothing on PostgreSQL as no rows.
	return err != nil && (err.Error() == "sql: no rows in result set" || ent.IsNotFound(err))
}

// find returns conversation id, locked, when the caller may see it.
func (s *Service) find(ctx context.Context, id int) (*ent.Conversation, error) {
	db := s.db(ctx)
	if ok, err := db.Conversation.Query().Where(conversation.ID(id)).Exist(ctx); err != nil {
		return nil, fmt.Errorf("find conversation: %w", err)
	} else if !ok {
		return nil, errNotFound("conversation")
	}
	c, err := db.Conversation.Query().Where(conversation.ID(id)).Modify(forUpdate(false)).Only(system(ctx))
	if err != nil {
		return nil, fmt.Errorf("lock conversation: %w", err)
	}
	return c, nil
}

// RecordAgentReply records that the assignee of conversation id replied,
// which restarts the idle rule's clock. Needs MANAGE_CONVERSATIONS.
func (s *Service) RecordAgentReply(ctx context.Context, id int) (*ent.Conversation, error) {
	if _, err := requireCan(ctx, viewer.ManageConversations); err != nil {
		return nil, err
	}
	c, err := s.find(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != conversation.StateAssigned {
		return nil, apierr.New(apierr.Conflict, "the conversation is %s: only an assigned conversation has replies", c.State)
	}
	return s.db(ctx).Conversation.UpdateOne(c).SetLastAgentReplyAt(s.now()).Save(system(ctx))
}

// Resolve marks conversation id resolved, which frees its assignee's
// capacity; the queue then moves (after commit). Needs
// MANAGE_CONVERSATIONS.
func (s *Service) Resolve(ctx context.Context, id int) (*ent.Conversation, error) {
	if _, err := requireCan(ctx, viewer.ManageConversations); err != nil {
		return nil, err
	}
	c, err := s.find(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State == conversation.StateResolved {
		return c, nil
	}
	out, err := s.db(ctx).Conversation.UpdateOne(c).SetState(conversation.StateResolved).SetResolvedAt(s.now()).Save(system(ctx))
	if err != nil {
		return nil, fmt.Errorf("resolve conversation: %w", err)
	}
	s.drainAfterCommit(ctx, c.OrganizationID)
	return out, nil
}

// Assign gives conversation id to user userID. Supervisors (who may assign
// conversations) assign those they see to users they see; agents assign to
// themselves when the settings let agents take conversations, and to
// others when they let agents assign others. The user must be eligible:
// present, available, active, a member, and under capacity.
func (s *Service) Assign(ctx context.Context, id, userID int) (*ent.Conversation, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, apierr.New(apierr.Unauthenticated, "authentication required")
	}
	c, err := s.find(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State == conversation.StateResolved {
		return nil, apierr.New(apierr.Conflict, "the conversation is resolved")
	}
	set, err := s.SettingsFor(ctx, c.OrganizationID, conversationDivision(c))
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.AssignConversations) && !v.Can(viewer.ManageConversations) {
		switch {
		case userID == v.UserID && !set.AgentsMayTake:
			return nil, apierr.New(apierr.Forbidden, "agents may not take conversations here")
		case userID != v.UserID && !set.AgentsMayAssignOthers:
			return nil, apierr.New(apierr.Forbidden, "agents may not assign conversations to others here")
		}
	}
	db := s.db(ctx)
	// The user is read as the caller: one they cannot see is not found.
	u, err := db.User.Query().Where(user.ID(userID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, &apierr.Error{Code: apierr.NotFound, Field: "userID", Message: "user not found"}
	}
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	if c.AssigneeID != nil && *c.AssigneeID == userID {
		return c, nil
	}
	member, err := db.User.Query().Where(user.ID(u.ID), members(c)).Exist(system(ctx))
	if err != nil {
		return nil, fmt.Errorf("check membership: %w", err)
	}
	if !member {
		return nil, ineligible(NotMember)
	}
	cands, err := s.judge(ctx, c.OrganizationID, []*ent.User{u}, set, false)
	if err != nil {
		return nil, err
	}
	if !cands[0].Eligible {
		return nil, ineligible(cands[0].Why)
	}
	got, err := s.tryAssign(ctx, c, cands[0], false)
	if err != nil {
		return nil, err
	}
	if got == nil {
		return nil, ineligible(AtCapacity)
	}
	if c.AssigneeID != nil {
		// The previous assignee's capacity is free.
		s.drainAfterCommit(ctx, c.OrganizationID)
	}
	return got, nil
}

func ineligible(r Reason) error {
	return &apierr.Error{Code: apierr.Conflict, Field: "userID", Message: "the user may not be given the conversation: " + string(r)}
}

// TakeNext gives the caller the longest-waiting queued conversation they
// may take, or returns nil when there is none (or they are not eligible).
func (s *Service) TakeNext(ctx context.Context) (*ent.Conversation, error) {
	v := viewer.FromContext(ctx)
	if v == nil || v.UserID == 0 {
		return nil, apierr.New(apierr.Unauthenticated, "a user must take conversations")
	}
	db := s.db(ctx)
	me, err := db.User.Query().Where(user.ID(v.UserID)).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	// The queue is read as the caller: what they may see of it, oldest
	// first, skipping what concurrent decisions hold.
	queued, err := db.Conversation.Query().
		Where(conversation.StateEQ(conversation.StateQueued)).
		Order(ent.Asc(conversation.FieldEnqueuedAt), ent.Asc(conversation.FieldID)).
		Limit(50).
		Modify(forUpdate(true)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read queue: %w", err)
	}
	for _, c := range queued {
		ok, err := db.User.Query().Where(user.ID(me.ID), members(c)).Exist(system(ctx))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		set, err := s.SettingsFor(ctx, c.OrganizationID, conversationDivision(c))
		if err != nil {
			return nil, err
		}
		if !set.AgentsMayTake && !v.Can(viewer.AssignConversations) {
			continue
		}
		cands, err := s.judge(ctx, c.OrganizationID, []*ent.User{me}, set, false)
		if err != nil {
			return nil, err
		}
		if !cands[0].Eligible {
			continue
		}
		got, err := s.tryAssign(ctx, c, cands[0], false)
		if err != nil || got != nil {
			return got, err
		}
	}
	return nil, nil
}

// Candidates lists every member of division divisionID with whether the
// allocator may give them a conversation of the division now, and why
// not, best first. Needs ASSIGN_CONVERSATIONS, MANAGE_CONVERSATIONS or
// MANAGE_ALLOCATION, and a division the caller sees.
func (s *Service) Candidates(ctx context.Context, divisionID int) ([]*Candidate, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, apierr.New(apierr.Unauthenticated, "authentication required")
	}
	if !v.Can(viewer.AssignConversations) && !v.Can(viewer.ManageConversations) && !v.Can(viewer.ManageAllocation) {
		return nil, apierr.New(apierr.Forbidden, "needs ASSIGN_CONVERSATIONS")
	}
	if ok, err := s.db(ctx).Division.Query().Where(division.ID(divisionID)).Exist(ctx); err != nil {
		return nil, fmt.Errorf("find division: %w", err)
	} else if !ok {
		return nil, &apierr.Error{Code: apierr.NotFound, Field: "divisionID", Message: "division not found"}
	}
	set, err := s.SettingsFor(ctx, v.OrganizationID, divisionID)
	if err != nil {
		return nil, err
	}
	return s.candidates(ctx, &ent.Conversation{OrganizationID: v.OrganizationID, DivisionID: &divisionID}, set, false)
}

// drainAfterCommit moves organization org's queue once the transaction
// commits (capacity was freed or an agent became eligible).
func (s *Service) drainAfterCommit(ctx context.Context, org int) {
	tx := ent.TxFromContext(ctx)
	if tx == nil {
		go s.drainLogged(context.WithoutCancel(ctx), org)
		return
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(cctx context.Context, tx *ent.Tx) error {
			err := next.Commit(cctx, tx)
			if err == nil {
				go s.drainLogged(context.WithoutCancel(ctx), org)
			}
			return err
		})
	})
}

func (s *Service) drainLogged(ctx context.Context, org int) {
	if _, err := s.Drain(ctx, org); err != nil {
		s.log.WarnContext(ctx, "move allocation queue", "organization", org, "err", err)
	}
}

// Drain assigns organization org's queued conversations, longest waiting
// first, to eligible agents, where the settings are AUTO; it returns how
// many it assigned. It runs as the server, in its own transaction (each
// of several instances takes different conversations: SKIP LOCKED).
func (s *Service) Drain(ctx context.Context, org int) (int, error) {
	ctx = system(ent.NewContext(context.WithoutCancel(ctx), nil))
	ctx = ent.NewTxContext(ctx, nil)
	// Most events find no queue: look before opening a transaction.
	if waiting, err := s.client.Conversation.Query().
		Where(conversation.OrganizationID(org), conversation.StateEQ(conversation.StateQueued)).
		Exist(ctx); err != nil || !waiting {
		return 0, err
	}
	n := 0
	err := s.transact(ctx, func(ctx context.Context) error {
		n = 0
		db := s.db(ctx)
		queued, err := db.Conversation.Query().
			Where(conversation.OrganizationID(org), conversation.StateEQ(conversation.StateQueued)).
			Order(ent.Asc(conversation.FieldEnqueuedAt), ent.Asc(conversation.FieldID)).
			Limit(200).
			Modify(forUpdate(true)).
			All(ctx)
		if err != nil {
			return fmt.Errorf("read queue: %w", err)
		}
		settings := map[int]Settings{}
		for _, c := range queued {
			div := conversationDivision(c)
			set, ok := settings[div]
			if !ok {
				if set, err = s.SettingsFor(ctx, org, div); err != nil {
					return err
				}
				settings[div] = set
			}
			if set.Mode != allocationsettings.ModeAuto {
				continue
			}
			got, err := s.autoAssign(ctx, c, set, 0)
			if err != nil {
				return err
			}
			if got != nil {
				n++
			}
		}
		return nil
	})
	return n, err
}

// Requeue returns conversation c to the queue (keeping its place: its
// enqueued time) and assigns it again, to someone other than its assignee,
// when the settings are AUTO.
func (s *Service) requeue(ctx context.Context, c *ent.Conversation, set Settings) error {
	prev := 0
	if c.AssigneeID != nil {
		prev = *c.AssigneeID
	}
	c, err := s.db(ctx).Conversation.UpdateOne(c).SetState(conversation.StateQueued).ClearAssigneeID().ClearAssignedAt().ClearLastAgentReplyAt().Save(ctx)
	if err != nil {
		return fmt.Errorf("requeue conversation: %w", err)
	}
	if set.Mode == allocationsettings.ModeAuto {
		_, err = s.autoAssign(ctx, c, set, prev)
	}
	return err
}

// Sweep applies the idle and offline rules of every organization once: a
// conversation whose assignee has not replied within the idle time goes
// to someone else, and, under REQUEUE, the open conversations of agents
// who went offline return to allocation. Several instances may sweep at
// once: each conversation is handled by one (SKIP LOCKED).
func (s *Service) Sweep(ctx context.Context) (int, error) {
	ctx = system(ent.NewContext(context.WithoutCancel(ctx), nil))
	ctx = ent.NewTxContext(ctx, nil)
	n := 0
	err := s.transact(ctx, func(ctx context.Context) error {
		n = 0
		db := s.db(ctx)
		rules, err := db.AllocationSettings.Query().Where(allocationsettings.Or(
			allocationsettings.IdleReassignMinutesGT(0), allocationsettings.OnOfflineEQ(allocationsettings.OnOfflineRequeue),
		)).All(ctx)
		if err != nil || len(rules) == 0 {
			return err
		}
		orgs := map[int]bool{}
		for _, r := range rules {
			orgs[r.OrganizationID] = true
		}
		for org := range orgs {
			open, err := db.Conversation.Query().
				Where(conversation.OrganizationID(org), conversation.StateEQ(conversation.StateAssigned)).
				WithAssignee().
				Order(ent.Asc(conversation.FieldID)).
				Limit(500).
				Modify(forUpdate(true)).
				All(ctx)
			if err != nil {
				return fmt.Errorf("read open conversations: %w", err)
			}
			now := s.now()
			for _, c := range open {
				set, err := s.SettingsFor(ctx, org, conversationDivision(c))
				if err != nil {
					return err
				}
				since := c.AssignedAt
				if c.LastAgentReplyAt != nil {
					since = c.LastAgentReplyAt
				}
				idle := set.IdleReassignMinutes > 0 && since != nil && now.Sub(*since) >= time.Duration(set.IdleReassignMinutes)*time.Minute
				gone := set.OnOffline == allocationsettings.OnOfflineRequeue && c.Edges.Assignee != nil && !c.Edges.Assignee.Online
				if !idle && !gone {
					continue
				}
				if err := s.requeue(ctx, c, set); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// Run sweeps every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Sweep(ctx); err != nil {
				s.log.WarnContext(ctx, "sweep allocation rules", "err", err)
			}
			// Queues an event did not move (a capacity or membership
			// change) move now.
			orgs, err := s.client.Conversation.Query().
				Where(conversation.StateEQ(conversation.StateQueued)).
				Unique(true).
				Select(conversation.FieldOrganizationID).
				Ints(system(ctx))
			if err != nil {
				s.log.WarnContext(ctx, "find queues", "err", err)
			}
			for _, org := range orgs {
				s.drainLogged(ctx, org)
			}
		}
	}
}
