// Package status keeps the history of users' availability and online state:
// every change of either closes the user's open interval and opens the next,
// in the transaction of the change, so that one user's intervals never
// overlap and leave no gap. It also reads that history back, for one user
// or as a report over an organization.
package status

import (
	"context"
	"fmt"
	"time"

	gen "entgo.io/ent"

	"roster/ent"
	"roster/ent/hook"
	"roster/ent/privacy"
	"roster/ent/statusinterval"
	"roster/ent/user"
	"roster/internal/viewer"
)

// Source tells what started an interval.
type Source = statusinterval.Source

// The sources of a change that callers name; a change made through the API
// is SET_BY_USER or SET_BY_ADMIN by who made it.
const (
	Connected    = statusinterval.SourceCONNECTED
	Disconnected = statusinterval.SourceDISCONNECTED
	GraceExpired = statusinterval.SourceGRACE_EXPIRED
	InstanceLost = statusinterval.SourceINSTANCE_LOST
)

type changeKey struct{}

type change struct {
	source Source
	at     time.Time
}

// WithChange returns a context in which the changes of availability or
// online state are recorded as made by source at time at (now, when zero).
func WithChange(ctx context.Context, source Source, at time.Time) context.Context {
	return context.WithValue(ctx, changeKey{}, change{source: source, at: at})
}

type clockKey struct{}

// WithClock returns a context whose changes are stamped by now instead of
// the system clock.
func WithClock(ctx context.Context, now func() time.Time) context.Context {
	return context.WithValue(ctx, clockKey{}, now)
}

// nowOf returns the time by the clock of ctx.
func nowOf(ctx context.Context) time.Time {
	if now, ok := ctx.Value(clockKey{}).(func() time.Time); ok {
		return now()
	}
	return time.Now()
}

func changeOf(ctx context.Context, userID int) change {
	c, _ := ctx.Value(changeKey{}).(change)
	if c.at.IsZero() {
		c.at = nowOf(ctx)
	}
	if c.source == "" {
		c.source = statusinterval.SourceSET_BY_ADMIN
		if v := viewer.FromContext(ctx); v != nil && v.UserID == userID {
			c.source = statusinterval.SourceSET_BY_USER
		}
	}
	return c
}

// Record is the user hook that keeps the history: a new user opens their
// first interval, and a change of availability or online state closes the
// open interval and opens the next. The update of the user row comes first,
// so the row is locked (on PostgreSQL) until the transaction ends: two
// changes of one user's state are recorded one after the other, whatever
// the instance.
func Record(next gen.Mutator) gen.Mutator {
	return hook.UserFunc(func(ctx context.Context, m *ent.UserMutation) (ent.Value, error) {
		_, setAvailability := m.Availability()
		_, setOnline := m.Online()
		if !m.Op().Is(ent.OpCreate) && !setAvailability && !setOnline {
			return next.Mutate(ctx, m)
		}
		var ids []int
		if m.Op().Is(ent.OpUpdate) {
			var err error
			if ids, err = m.IDs(ctx); err != nil {
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
		for _, id := range ids {
			if err := transition(ctx, m.Client(), id, m.Op().Is(ent.OpCreate)); err != nil {
				return nil, err
			}
		}
		return v, nil
	})
}

// transition records the state user id is in now, after a change: when it
// differs from their open interval (or they have none), that interval ends
// and the next starts.
func transition(ctx context.Context, client *ent.Client, id int, created bool) error {
	c := changeOf(ctx, id)
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	u, err := client.User.Query().Where(user.ID(id)).
		Select(user.FieldOrganizationID, user.FieldAvailability, user.FieldOnline).Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read user state: %w", err)
	}
	open, err := client.StatusInterval.Query().
		Where(statusinterval.UserID(id), statusinterval.EndedAtIsNil()).
		Order(ent.Desc(statusinterval.FieldStartedAt)).
		All(ctx)
	if err != nil {
		return fmt.Errorf("read open status interval: %w", err)
	}
	source := c.source
	if len(open) > 0 {
		cur := open[0]
		if cur.Online == u.Online && string(cur.Availability) == string(u.Availability) {
			return nil
		}
		// The clock of another instance may lag: an interval never ends
		// before it starts.
		if c.at.Before(cur.StartedAt) {
			c.at = cur.StartedAt
		}
		if _, err := client.StatusInterval.Update().
			Where(statusinterval.UserID(id), statusinterval.EndedAtIsNil()).
			SetEndedAt(c.at).Save(ctx); err != nil {
			return fmt.Errorf("close status interval: %w", err)
		}
	} else if created {
		source = statusinterval.SourceCREATED
	}
	return client.StatusInterval.Create().
		SetOrganizationID(u.OrganizationID).
		SetUserID(id).
		SetAvailability(statusinterval.Availability(u.Availability)).
		SetOnline(u.Online).
		SetStartedAt(c.at).
		SetSource(source).
		Exec(ctx)
}
