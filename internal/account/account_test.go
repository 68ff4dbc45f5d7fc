package account_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"roster/ent"
	"roster/ent/role"
	_ "roster/ent/runtime" // registers hooks and policies
	"roster/ent/user"
	"roster/internal/account"
	"roster/internal/apierr"
	"roster/internal/fixture"
)

// clock is a time tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRestoreAndPurge(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		w := fixture.New(t, dbURL)
		c := w.Client
		sys := fixture.System()
		agent := w.Orgs[0].Roles[role.BuiltinAgent]
		as := w.Orgs[0].Admin.Context()

		clk := &clock{t: time.Now()}
		svc := account.New(c, nil, account.Options{Retention: 30 * 24 * time.Hour, Now: clk.now}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		mk := func(email string) *ent.User {
			u := c.User.Create().SetRoleID(agent).SetFirstName("U").SetLastName("X").SetEmail(email).SaveX(as)
			return c.User.UpdateOneID(u.ID).SetStatus(user.StatusArchived).SetArchivedAt(clk.t).SaveX(as)
		}
		early, late := mk("early@acme.test"), mk("late@acme.test")

		// Within the retention period, a user comes back (as invited:
		// they have no password).
		clk.t = clk.t.Add(29 * 24 * time.Hour)
		u, err := svc.Restore(as, early.ID)
		if err != nil || u.Status != user.StatusInvited || u.ArchivedAt != nil {
			t.Fatalf("restore within retention: %v %+v", err, u)
		}
		if n, err := svc.Purge(ctx); err != nil || n != 0 {
			t.Fatalf("purge before the end of retention: %d, %v", n, err)
		}
		// After it, the user cannot be restored, and the purge deletes
		// them.
		clk.t = clk.t.Add(2 * 24 * time.Hour)
		var e *apierr.Error
		if _, err := svc.Restore(as, late.ID); !errors.As(err, &e) || e.Code != apierr.Conflict {
			t.Fatalf("restore after retention: %v", err)
		}
		if n, err := svc.Purge(ctx); err != nil || n != 1 {
			t.Fatalf("purge: %d, %v", n, err)
		}
		if _, err := c.User.Get(sys, late.ID); !ent.IsNotFound(err) {
			t.Errorf("the purged user is still there: %v", err)
		}
		if _, err := c.User.Get(sys, early.ID); err != nil {
			t.Errorf("the restored user is gone: %v", err)
		}
	})
}
