package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"roster/ent"
	"roster/ent/apikey"
	"roster/ent/auditevent"
	"roster/ent/organization"
	"roster/ent/user"
	"roster/internal/viewer"
)

// Entry is what an audit entry says, before it is chained.
type Entry struct {
	Organization int
	Action       string
	TargetType   string
	TargetID     int // 0 when the target has no ID (an unknown email)
	TargetLabel  string
	// Changes maps each changed field or edge to {"before": …, "after": …}
	// (or {"changed": true} for a secret, {"added": […], "removed": […]}
	// for an edge).
	Changes map[string]any
	// Actor, when set, is who acted; otherwise it is taken from the
	// context (see WithActor).
	Actor *Actor
}

// Append writes e as the next entry of its organization's log, through c
// (the client of the change's transaction, so that the entry commits or
// rolls back with the change). The organization stays locked until the
// transaction ends.
func Append(ctx context.Context, c *ent.Client, e Entry) (*ent.AuditEvent, error) {
	sys := viewer.NewSystemContext(ctx)
	if err := lockOrganizations(sys, c, []int{e.Organization}); err != nil {
		return nil, err
	}
	return appendLocked(ctx, c, e)
}

// appendLocked appends e once its organization is locked.
func appendLocked(ctx context.Context, c *ent.Client, e Entry) (*ent.AuditEvent, error) {
	sys := viewer.NewSystemContext(ctx)
	actor := actorOf(ctx, c, e.Actor)
	changes := e.Changes
	if changes == nil {
		changes = map[string]any{}
	}
	changesJSON, err := json.Marshal(changes) // map keys sorted: canonical
	if err != nil {
		return nil, fmt.Errorf("audit changes: %w", err)
	}
	head, err := c.AuditEvent.Query().
		Where(auditevent.OrganizationID(e.Organization)).
		Order(auditevent.BySeq(entsql.OrderDesc())).
		Select(auditevent.FieldSeq, auditevent.FieldHash).
		First(sys)
	if err != nil && !ent.IsNotFound(err) {
		return nil, fmt.Errorf("read audit head: %w", err)
	}
	rec := record{Organization: e.Organization, Seq: 1}
	if head != nil {
		rec.Seq, rec.PrevHash = head.Seq+1, head.Hash
	}
	cl := ClientFrom(ctx)
	rec.ActorType, rec.ActorLabel = string(actor.Type), actor.Label
	if actor.ID != 0 {
		rec.ActorID = strconv.Itoa(actor.ID)
	}
	rec.Action, rec.TargetType, rec.TargetLabel = e.Action, e.TargetType, e.TargetLabel
	if e.TargetID != 0 {
		rec.TargetID = strconv.Itoa(e.TargetID)
	}
	rec.Changes = string(changesJSON)
	rec.ClientAddress, rec.UserAgent, rec.RequestID = truncate(cl.Address, 64), truncate(cl.UserAgent, 512), truncate(cl.RequestID, 64)
	at := time.Now().UTC().Truncate(time.Microsecond)
	rec.At = at.Format(time.RFC3339Nano)
	create := c.AuditEvent.Create().
		SetOrganizationID(e.Organization).
		SetSeq(rec.Seq).
		SetActorType(actor.Type).
		SetActorLabel(rec.ActorLabel).
		SetAction(rec.Action).
		SetTargetType(rec.TargetType).
		SetTargetLabel(truncate(rec.TargetLabel, 200)).
		SetChanges(rec.Changes).
		SetClientAddress(rec.ClientAddress).
		SetUserAgent(rec.UserAgent).
		SetRequestID(rec.RequestID).
		SetCreatedAt(at).
		SetPrevHash(rec.PrevHash)
	rec.TargetLabel = truncate(rec.TargetLabel, 200)
	if actor.ID != 0 {
		create.SetActorID(actor.ID)
	}
	if e.TargetID != 0 {
		create.SetTargetID(e.TargetID)
	}
	create.SetHash(rec.hash())
	ev, err := create.Save(sys)
	if err != nil {
		return nil, fmt.Errorf("append audit entry: %w", err)
	}
	return ev, nil
}

// lockOrganizations locks the rows of orgs, in ascending order, until the
// transaction ends (SELECT … FOR NO KEY UPDATE on PostgreSQL, the lock the
// rules about a whole organization take; SQLite runs one writer at a
// time), so that the entries of an organization are appended one after
// the other.
func lockOrganizations(ctx context.Context, c *ent.Client, orgs []int) error {
	orgs = slices.Compact(slices.Sorted(slices.Values(orgs)))
	for _, org := range orgs {
		_, err := c.Organization.Query().
			Where(organization.ID(org)).
			Unique(false).
			Modify(func(s *entsql.Selector) {
				if s.Dialect() == dialect.Postgres {
					s.For(entsql.LockNoKeyUpdate)
				}
			}).
			OnlyID(ctx)
		if err != nil {
			return fmt.Errorf("lock organization %d for its audit log: %w", org, err)
		}
	}
	return nil
}

// actorOf returns who acts in ctx: a, the actor of WithActor, the viewer,
// or the server.
func actorOf(ctx context.Context, c *ent.Client, a *Actor) Actor {
	if a != nil {
		return *a
	}
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	if v := viewer.FromContext(ctx); v != nil && v.APIKeyID != 0 {
		label := ""
		if k, err := c.ApiKey.Query().Where(apikey.ID(v.APIKeyID)).Select(apikey.FieldName).Only(viewer.NewSystemContext(ctx)); err == nil {
			label = k.Name
		}
		return APIKey(v.APIKeyID, label)
	}
	if v := viewer.FromContext(ctx); v != nil {
		label := ""
		if u, err := c.User.Query().Where(user.ID(v.UserID)).Select(user.FieldEmail).Only(viewer.NewSystemContext(ctx)); err == nil {
			label = u.Email
		}
		return Actor{Type: auditevent.ActorTypeUser, ID: v.UserID, Label: label}
	}
	return Job("server")
}

// record is what an entry's hash covers, in a fixed order.
type record struct {
	Organization  int    `json:"o"`
	Seq           int64  `json:"s"`
	ActorType     string `json:"at"`
	ActorID       string `json:"ai"`
	ActorLabel    string `json:"al"`
	Action        string `json:"a"`
	TargetType    string `json:"tt"`
	TargetID      string `json:"ti"`
	TargetLabel   string `json:"tl"`
	Changes       string `json:"c"`
	ClientAddress string `json:"ca"`
	UserAgent     string `json:"ua"`
	RequestID     string `json:"r"`
	At            string `json:"t"`
	PrevHash      string `json:"p"`
}

func (r record) hash() string {
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func recordOf(ev *ent.AuditEvent) record {
	r := record{
		Organization: ev.OrganizationID, Seq: ev.Seq,
		ActorType: string(ev.ActorType), ActorLabel: ev.ActorLabel,
		Action: ev.Action, TargetType: ev.TargetType, TargetLabel: ev.TargetLabel,
		Changes: ev.Changes, ClientAddress: ev.ClientAddress, UserAgent: ev.UserAgent, RequestID: ev.RequestID,
		At:       ev.CreatedAt.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano),
		PrevHash: ev.PrevHash,
	}
	if ev.ActorID != nil {
		r.ActorID = strconv.Itoa(*ev.ActorID)
	}
	if ev.TargetID != nil {
		r.TargetID = strconv.Itoa(*ev.TargetID)
	}
	return r
}

// Verification is what Verify found.
type Verification struct {
	Intact      bool
	Checked     int
	BrokenAtSeq *int
	BrokenAtID  *int
	Reason      *string
}

// Verify checks the log of organization org: each entry's hash is
// recomputed, and each entry must link to the one before it with the next
// position. The oldest entry kept (older ones may have been purged) is
// where the check starts.
func Verify(ctx context.Context, c *ent.Client, org int) (*Verification, error) {
	const batch = 500
	res := &Verification{Intact: true}
	var prev *ent.AuditEvent
	for {
		q := c.AuditEvent.Query().Where(auditevent.OrganizationID(org)).Order(auditevent.BySeq()).Limit(batch)
		if prev != nil {
			q.Where(auditevent.SeqGT(prev.Seq))
		}
		evs, err := q.All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		for _, ev := range evs {
			reason := ""
			switch {
			case recordOf(ev).hash() != ev.Hash:
				reason = "the entry does not match its hash: it was changed"
			case prev != nil && ev.Seq != prev.Seq+1:
				reason = fmt.Sprintf("entries %d to %d are missing", prev.Seq+1, ev.Seq-1)
			case prev != nil && ev.PrevHash != prev.Hash:
				reason = "the entry does not link to the previous one"
			}
			if reason != "" {
				seq, id := int(ev.Seq), ev.ID
				res.Intact, res.BrokenAtSeq, res.BrokenAtID, res.Reason = false, &seq, &id, &reason
				return res, nil
			}
			res.Checked++
			prev = ev
		}
		if len(evs) < batch {
			return res, nil
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
