package audit

import (
	"context"
	"encoding/json"
	"time"

	"entgo.io/contrib/entgql"

	"roster/ent"
	"roster/ent/auditevent"
	"roster/ent/predicate"
	"roster/internal/apierr"
	"roster/internal/pubsub"
	"roster/internal/viewer"
)

// Filter selects audit entries: every condition given must hold.
type Filter struct {
	Actor      *int
	TargetType *string
	TargetID   *int
	Action     *string
	From       *time.Time
	To         *time.Time
}

// Predicates returns the conditions of f.
func (f *Filter) Predicates() []predicate.AuditEvent {
	if f == nil {
		return nil
	}
	var ps []predicate.AuditEvent
	if f.Actor != nil {
		ps = append(ps, auditevent.ActorID(*f.Actor))
	}
	if f.TargetType != nil {
		ps = append(ps, auditevent.TargetType(*f.TargetType))
	}
	if f.TargetID != nil {
		ps = append(ps, auditevent.TargetID(*f.TargetID))
	}
	if f.Action != nil {
		ps = append(ps, auditevent.Action(*f.Action))
	}
	if f.From != nil {
		ps = append(ps, auditevent.CreatedAtGTE(*f.From))
	}
	if f.To != nil {
		ps = append(ps, auditevent.CreatedAtLT(*f.To))
	}
	return ps
}

// NewestFirst is the order of the log: newest entries first.
var NewestFirst = &ent.AuditEventOrder{Direction: entgql.OrderDirectionDesc, Field: ent.AuditEventOrderFieldCreatedAt}

// Allowed refuses a viewer who may not view the audit log.
func Allowed(v *viewer.Viewer) error {
	if !v.Can(viewer.ViewAuditLog) {
		return apierr.New(apierr.Forbidden, "viewing the audit log needs the %s permission", viewer.ViewAuditLog)
	}
	return nil
}

// Changes returns the changes of ev as a JSON object.
func Changes(ev *ent.AuditEvent) (map[string]any, error) {
	out := map[string]any{}
	if ev.Changes == "" {
		return out, nil
	}
	err := json.Unmarshal([]byte(ev.Changes), &out)
	return out, err
}

// Subscribe sends the new entries of the viewer's organization, read as
// the viewer v (the viewer of ctx), until ctx is done. The viewer must be
// allowed to view the log.
func Subscribe(ctx context.Context, v *viewer.Viewer, client *ent.Client, broker pubsub.Broker) (<-chan *ent.AuditEvent, error) {
	if err := Allowed(v); err != nil {
		return nil, err
	}
	msgs, cancel := broker.Subscribe(Topic)
	out := make(chan *ent.AuditEvent, 16)
	go func() {
		defer cancel()
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				var e event
				if m.Resync || json.Unmarshal(m.Payload, &e) != nil || e.Org != v.OrganizationID {
					continue
				}
				// Read as the viewer: privacy confines it to their
				// organization and permission.
				ev, err := client.AuditEvent.Get(ctx, e.ID)
				if err != nil {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
