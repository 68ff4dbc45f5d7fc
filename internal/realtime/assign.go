package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"

	"roster/ent"
	"roster/ent/conversation"
	"roster/internal/auth"
	"roster/internal/pubsub"
	"roster/internal/viewer"
)

// topicAssignments carries the assignments of conversations.
const topicAssignments = "assignments"

// assignmentEvent is what travels through the broker when a conversation
// is assigned: the conversation as the assignment left it.
type assignmentEvent struct {
	Org      int               `json:"o"`
	Assignee int               `json:"a"`
	Division int               `json:"d"`
	Row      *ent.Conversation `json:"r"`
}

// PublishAssignment publishes that conversation row (as the assignment
// left it) of organization org was assigned to user assignee; call it once
// the assignment committed.
func PublishAssignment(ctx context.Context, broker pubsub.Broker, log *slog.Logger, org, assignee, divisionID int, row *ent.Conversation) {
	if row == nil {
		return
	}
	r := *row
	r.Edges = ent.ConversationEdges{}
	payload, err := json.Marshal(assignmentEvent{Org: org, Assignee: assignee, Division: divisionID, Row: &r})
	if err == nil {
		err = broker.Publish(context.WithoutCancel(ctx), topicAssignments, payload)
	}
	if err != nil {
		log.ErrorContext(ctx, "publish event", "topic", topicAssignments, "err", err)
	}
}

func (h *Hub) dispatchAssignment(ctx context.Context, payload []byte) {
	var ev assignmentEvent
	if err := json.Unmarshal(payload, &ev); err != nil || ev.Row == nil {
		h.log.ErrorContext(ctx, "read assignment event", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for q := range h.assigns[ev.Org] {
		select {
		case q <- ev:
			if h.meter != nil {
				h.meter.EventDelivered()
			}
		default:
			if h.meter != nil {
				h.meter.EventDropped()
			}
		}
	}
}

// ConversationAssigned subscribes the viewer in ctx to the assignments of
// conversations, until ctx is done: those assigned to the viewer, and those
// the viewer may see (access.FilterConversations: supervisors confined to
// their divisions see the conversations of those). With divisionID, only
// the conversations of that division. Each conversation is sent as the
// assignment left it.
func (h *Hub) ConversationAssigned(ctx context.Context, divisionID *int) (<-chan *ent.Conversation, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if err := (Filter{DivisionID: divisionID}).check(ctx, h.client); err != nil {
		return nil, err
	}
	q := make(chan assignmentEvent, queueSize)
	h.mu.Lock()
	if h.assigns[v.OrganizationID] == nil {
		h.assigns[v.OrganizationID] = map[chan assignmentEvent]struct{}{}
	}
	h.assigns[v.OrganizationID][q] = struct{}{}
	h.mu.Unlock()
	out := make(chan *ent.Conversation, 1)
	go func() {
		defer close(out)
		defer func() {
			h.mu.Lock()
			delete(h.assigns[v.OrganizationID], q)
			if len(h.assigns[v.OrganizationID]) == 0 {
				delete(h.assigns, v.OrganizationID)
			}
			h.mu.Unlock()
		}()
		defer func() {
			if p := recover(); p != nil {
				h.log.ErrorContext(ctx, "subscription failed", "panic", fmt.Sprint(p))
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-q:
				if c := h.assignedFor(ctx, v, divisionID, ev); c != nil {
					send(ctx, out, c)
				}
			}
		}
	}()
	return out, nil
}

// assignedFor returns the conversation of ev as the subscriber may be told
// of it, or nil when they follow no such conversation.
func (h *Hub) assignedFor(ctx context.Context, v *viewer.Viewer, divisionID *int, ev assignmentEvent) *ent.Conversation {
	if divisionID != nil && ev.Division != *divisionID {
		return nil
	}
	if ev.Assignee != v.UserID {
		// The same rule as any read of conversations.
		seen, err := h.client.Conversation.Query().Where(conversation.ID(ev.Row.ID)).Exist(ctx)
		if err != nil && ctx.Err() == nil {
			h.log.ErrorContext(ctx, "read conversation for an event", "conversation", ev.Row.ID, "err", err)
		}
		if !seen {
			return nil
		}
	}
	// A conversation read through the hub's client carries the
	// configuration its edges (assignee, division, channel) are read
	// through, as the subscriber may see them.
	carrier, err := h.client.Conversation.Get(viewer.NewSystemContext(ctx), ev.Row.ID)
	if err != nil {
		if ctx.Err() == nil && !ent.IsNotFound(err) {
			h.log.ErrorContext(ctx, "read conversation for an event", "conversation", ev.Row.ID, "err", err)
		}
		return nil
	}
	c := *carrier
	src, dst := reflect.ValueOf(ev.Row).Elem(), reflect.ValueOf(&c).Elem()
	for i := range dst.NumField() {
		if f := dst.Type().Field(i); f.IsExported() && f.Name != "Edges" {
			dst.Field(i).Set(src.Field(i))
		}
	}
	c.Edges = ent.ConversationEdges{}
	return &c
}
