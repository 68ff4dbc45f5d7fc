package audit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/ent"
	"roster/ent/auditevent"
	"roster/ent/channel"
	"roster/ent/organization"
	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/audit"
	"roster/internal/auth"
	"roster/internal/fixture"
	"roster/internal/pubsub"
	"roster/internal/ratelimit"
	"roster/internal/store"
	"roster/internal/viewer"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// world is a fixture with the audit hook registered.
func world(t *testing.T, dbURL string) *fixture.World {
	t.Helper()
	w := fixture.New(t, dbURL, "Acme", "Globex")
	broker := pubsub.NewMemory()
	t.Cleanup(func() { broker.Close() })
	audit.Register(w.Client, broker, quiet)
	return w
}

// entries returns the entries of org after seq, oldest first.
func entries(t *testing.T, c *ent.Client, org int, after int64) []*ent.AuditEvent {
	t.Helper()
	evs, err := c.AuditEvent.Query().Where(auditevent.OrganizationID(org), auditevent.SeqGT(after)).Order(auditevent.BySeq()).All(fixture.System())
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func head(t *testing.T, c *ent.Client, org int) int64 {
	t.Helper()
	evs := entries(t, c, org, 0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// as runs fn as u in one transaction, like a mutation operation.
func as(u *fixture.User, c *ent.Client, fn func(ctx context.Context, c *ent.Client) error) error {
	ctx := audit.WithClient(u.Context(), audit.Client{Address: "203.0.113.7", UserAgent: "test-agent", RequestID: "req-1"})
	return store.Transact(ctx, c, func(ctx context.Context) error { return fn(ctx, ent.FromContext(ctx)) })
}

func TestEachChangeWritesOneEntry(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := world(t, dbURL)
		acme, globex := w.Orgs[0], w.Orgs[1]
		admin := acme.Admin
		secretCredential := "sk-live-very-secret-credential"
		newPassword := "another long password 42"
		var userID, divisionID, channelID int
		cases := []struct {
			name       string
			do         func(ctx context.Context, c *ent.Client) error
			action     string
			targetType string
			target     func() int
			check      func(t *testing.T, changes map[string]any)
		}{
			{"create user", func(ctx context.Context, c *ent.Client) error {
				u, err := c.User.Create().SetFirstName("Ana").SetLastName("Lee").SetEmail("ana@acme.test").
					SetRoleID(acme.Roles[role.BuiltinAgent]).SetPassword(newPassword).AddDivisionIDs(acme.Support).Save(ctx)
				if err == nil {
					userID = u.ID
				}
				return err
			}, "user.create", "User", func() int { return userID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "first_name", "after", "Ana")
				want(t, ch, "password_hash", "changed", true)
				want(t, ch, "divisions", "added", []any{float64(acme.Support)})
			}},
			{"update user", func(ctx context.Context, c *ent.Client) error {
				return c.User.UpdateOneID(userID).SetFirstName("Anna").SetBroadcast(true).Exec(ctx)
			}, "user.update", "User", func() int { return userID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "first_name", "before", "Ana")
				want(t, ch, "first_name", "after", "Anna")
				want(t, ch, "broadcast", "before", false)
				want(t, ch, "broadcast", "after", true)
				if _, ok := ch["last_name"]; ok {
					t.Errorf("an unchanged field is recorded: %v", ch)
				}
			}},
			{"archive user", func(ctx context.Context, c *ent.Client) error {
				return c.User.UpdateOneID(userID).SetStatus(user.StatusArchived).SetArchivedAt(time.Now()).Exec(ctx)
			}, "user.archive", "User", func() int { return userID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "status", "before", "ACTIVE")
				want(t, ch, "status", "after", "ARCHIVED")
			}},
			{"restore user", func(ctx context.Context, c *ent.Client) error {
				return c.User.UpdateOneID(userID).SetStatus(user.StatusActive).ClearArchivedAt().Exec(ctx)
			}, "user.restore", "User", func() int { return userID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "status", "before", "ARCHIVED")
			}},
			{"role permissions", func(ctx context.Context, c *ent.Client) error {
				return c.Role.UpdateOneID(acme.Roles[role.BuiltinAgent]).AppendPermissions([]viewer.Permission{viewer.ViewReports}).Exec(ctx)
			}, "role.update", "Role", func() int { return acme.Roles[role.BuiltinAgent] }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "permissions", "before", []any{})
				want(t, ch, "permissions", "after", []any{"VIEW_REPORTS"})
			}},
			{"create division", func(ctx context.Context, c *ent.Client) error {
				d, err := c.Division.Create().SetName("Sales").AddMemberIDs(userID).Save(ctx)
				if err == nil {
					divisionID = d.ID
				}
				return err
			}, "division.create", "Division", func() int { return divisionID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "name", "after", "Sales")
				want(t, ch, "members", "added", []any{float64(userID)})
			}},
			{"division members", func(ctx context.Context, c *ent.Client) error {
				return c.Division.UpdateOneID(divisionID).RemoveMemberIDs(userID).AddMemberIDs(acme.Agent.ID).Exec(ctx)
			}, "division.update", "Division", func() int { return divisionID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "members", "added", []any{float64(acme.Agent.ID)})
				want(t, ch, "members", "removed", []any{float64(userID)})
			}},
			{"create channel", func(ctx context.Context, c *ent.Client) error {
				ch, err := c.Channel.Create().SetType(channel.TypeWHATSAPP).SetName("Sales WhatsApp").
					SetSettings(map[string]any{"phoneNumber": "+6281234567890"}).
					SetCredentials(map[string]any{"accessToken": secretCredential}).Save(ctx)
				if err == nil {
					channelID = ch.ID
				}
				return err
			}, "channel.create", "Channel", func() int { return channelID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "credentials", "changed", true)
			}},
			{"channel settings and credentials", func(ctx context.Context, c *ent.Client) error {
				return c.Channel.UpdateOneID(channelID).SetSettings(map[string]any{"phoneNumber": "+6281234567891"}).
					SetCredentials(map[string]any{"accessToken": secretCredential + "2"}).Exec(ctx)
			}, "channel.update", "Channel", func() int { return channelID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "settings", "before", map[string]any{"phoneNumber": "+6281234567890"})
				want(t, ch, "settings", "after", map[string]any{"phoneNumber": "+6281234567891"})
				want(t, ch, "credentials", "changed", true)
			}},
			{"plan change", func(ctx context.Context, c *ent.Client) error {
				return c.Organization.UpdateOneID(acme.ID).SetPlan(organization.PlanPaid).Exec(ctx)
			}, "organization.plan_change", "Organization", func() int { return acme.ID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "plan", "before", "TRIAL")
				want(t, ch, "plan", "after", "PAID")
			}},
			{"revoke session", func(ctx context.Context, c *ent.Client) error {
				return c.Session.DeleteOneID(acme.Agent.SessionID).Exec(ctx)
			}, "session.revoke", "Session", func() int { return acme.Agent.SessionID }, nil},
			{"delete division", func(ctx context.Context, c *ent.Client) error {
				return c.Division.DeleteOneID(divisionID).Exec(ctx)
			}, "division.delete", "Division", func() int { return divisionID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "name", "before", "Sales")
			}},
			{"delete user", func(ctx context.Context, c *ent.Client) error {
				return c.User.DeleteOneID(userID).Exec(ctx)
			}, "user.delete", "User", func() int { return userID }, func(t *testing.T, ch map[string]any) {
				want(t, ch, "email", "before", "ana@acme.test")
			}},
		}
		for _, tc := range cases {
			before, otherBefore := head(t, w.Client, acme.ID), head(t, w.Client, globex.ID)
			if err := as(admin, w.Client, tc.do); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got := entries(t, w.Client, acme.ID, before)
			if len(got) != 1 {
				t.Fatalf("%s: %d entries, want 1: %v", tc.name, len(got), actions(got))
			}
			ev := got[0]
			if ev.Action != tc.action || ev.TargetType != tc.targetType || ev.TargetID == nil || *ev.TargetID != tc.target() {
				t.Errorf("%s: entry %s %s %v, want %s %s %d", tc.name, ev.Action, ev.TargetType, ev.TargetID, tc.action, tc.targetType, tc.target())
			}
			if ev.ActorType != auditevent.ActorTypeUser || ev.ActorID == nil || *ev.ActorID != admin.ID || ev.ActorLabel != admin.Email {
				t.Errorf("%s: actor %s %v %q, want the admin", tc.name, ev.ActorType, ev.ActorID, ev.ActorLabel)
			}
			if ev.ClientAddress != "203.0.113.7" || ev.UserAgent != "test-agent" || ev.RequestID != "req-1" {
				t.Errorf("%s: client %q %q %q", tc.name, ev.ClientAddress, ev.UserAgent, ev.RequestID)
			}
			for _, secret := range []string{newPassword, "$2a$", secretCredential, "token_hash"} {
				if strings.Contains(ev.Changes, secret) {
					t.Errorf("%s: the entry holds a secret (%q): %s", tc.name, secret, ev.Changes)
				}
			}
			if tc.check != nil {
				changes, err := audit.Changes(ev)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, changes)
			}
			if n := head(t, w.Client, globex.ID); n != otherBefore {
				t.Errorf("%s: the other organization's log grew", tc.name)
			}
		}
		for _, org := range []int{acme.ID, globex.ID} {
			v, err := audit.Verify(fixture.System(), w.Client, org)
			if err != nil || !v.Intact {
				t.Fatalf("organization %d: chain %+v, %v", org, v, err)
			}
		}
	})
}

func want(t *testing.T, changes map[string]any, field, key string, value any) {
	t.Helper()
	c, ok := changes[field].(map[string]any)
	if !ok {
		t.Errorf("no change of %s in %v", field, changes)
		return
	}
	if fmt.Sprint(c[key]) != fmt.Sprint(value) {
		t.Errorf("%s.%s = %v, want %v", field, key, c[key], value)
	}
}

func actions(evs []*ent.AuditEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action)
	}
	return out
}

func TestRolledBackChangeWritesNothing(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := world(t, dbURL)
		acme := w.Orgs[0]
		before := head(t, w.Client, acme.ID)
		failed := errors.New("a later field failed")
		err := as(acme.Admin, w.Client, func(ctx context.Context, c *ent.Client) error {
			if err := c.User.UpdateOneID(acme.Agent.ID).SetFirstName("Changed").Exec(ctx); err != nil {
				return err
			}
			return failed
		})
		if !errors.Is(err, failed) {
			t.Fatalf("err = %v", err)
		}
		if got := entries(t, w.Client, acme.ID, before); len(got) != 0 {
			t.Fatalf("a rolled-back change left %d entries: %v", len(got), actions(got))
		}
	})
}

func TestFailedLoginIsRecorded(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := world(t, dbURL)
		acme := w.Orgs[0]
		authn := auth.New(w.Client, auth.Options{SessionTTL: time.Hour, Limits: ratelimit.New(w.DB.Driver, nil)}, quiet)
		before := head(t, w.Client, acme.ID)
		// Inside an operation's transaction that then rolls back, as a
		// failed login operation does.
		_ = store.Transact(context.Background(), w.Client, func(ctx context.Context) error {
			_, _, err := authn.Login(ctx, acme.Agent.Email, "wrong password!", acme.ID, auth.Device{IP: "198.51.100.1"})
			return err
		})
		got := entries(t, w.Client, acme.ID, before)
		if len(got) != 1 || got[0].Action != "login.failed" || got[0].TargetID == nil || *got[0].TargetID != acme.Agent.ID {
			t.Fatalf("entries after a failed login: %v", actions(got))
		}
		if strings.Contains(got[0].Changes, "wrong password!") {
			t.Fatalf("the attempted password is recorded: %s", got[0].Changes)
		}
		before = got[0].Seq
		err := store.Transact(context.Background(), w.Client, func(ctx context.Context) error {
			_, _, err := authn.Login(ctx, acme.Agent.Email, fixture.Password, acme.ID, auth.Device{IP: "198.51.100.1"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got = entries(t, w.Client, acme.ID, before)
		if len(got) != 1 || got[0].Action != "login.succeeded" || *got[0].ActorID != acme.Agent.ID {
			t.Fatalf("entries after a login: %v", actions(got))
		}
	})
}

func TestVerifyFindsAnEditedEntry(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := world(t, dbURL)
		acme := w.Orgs[0]
		for i := range 3 {
			if err := as(acme.Admin, w.Client, func(ctx context.Context, c *ent.Client) error {
				return c.User.UpdateOneID(acme.Agent.ID).SetLastName(fmt.Sprint("Name ", i)).Exec(ctx)
			}); err != nil {
				t.Fatal(err)
			}
		}
		evs := entries(t, w.Client, acme.ID, 0)
		if v, err := audit.Verify(fixture.System(), w.Client, acme.ID); err != nil || !v.Intact || v.Checked != len(evs) {
			t.Fatalf("before the edit: %+v, %v", v, err)
		}
		// The API cannot change an entry: neither can the viewer, nor the
		// server outside the purge.
		victim := evs[len(evs)-2]
		if err := w.Client.AuditEvent.UpdateOneID(victim.ID).Exec(acme.Admin.Context()); err == nil {
			t.Fatal("an admin updated an audit entry")
		}
		if err := w.Client.AuditEvent.DeleteOneID(victim.ID).Exec(fixture.System()); err == nil {
			t.Fatal("the server deleted an audit entry outside the purge")
		}
		// An edit in the database itself is found.
		if _, err := w.DB.SQL.Exec(fmt.Sprintf("UPDATE audit_events SET changes = '{}' WHERE id = %d", victim.ID)); err != nil {
			t.Fatal(err)
		}
		v, err := audit.Verify(fixture.System(), w.Client, acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Intact || v.BrokenAtSeq == nil || int64(*v.BrokenAtSeq) != victim.Seq || *v.BrokenAtID != victim.ID {
			t.Fatalf("after editing entry %d: %+v", victim.Seq, v)
		}
		// So is a removed one.
		if _, err := w.DB.SQL.Exec(fmt.Sprintf("DELETE FROM audit_events WHERE id = %d", victim.ID)); err != nil {
			t.Fatal(err)
		}
		v, err = audit.Verify(fixture.System(), w.Client, acme.ID)
		if err != nil || v.Intact || int64(*v.BrokenAtSeq) != victim.Seq+1 {
			t.Fatalf("after deleting entry %d: %+v, %v", victim.Seq, v, err)
		}
	})
}

func TestOtherOrganizationsEntriesAreInvisible(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := world(t, dbURL)
		acme, globex := w.Orgs[0], w.Orgs[1]
		if err := as(acme.Admin, w.Client, func(ctx context.Context, c *ent.Client) error {
			return c.User.UpdateOneID(acme.Agent.ID).SetLastName("Changed").Exec(ctx)
		}); err != nil {
			t.Fatal(err)
		}
		acmeEntries := entries(t, w.Client, acme.ID, 0)
		for _, tc := range []struct {
			name string
			u    *fixture.User
			see  bool
		}{
			{"own admin", acme.Admin, true},
			{"other organization's admin", globex.Admin, false},
			{"agent without the permission", acme.Agent, false},
		} {
			evs, err := w.Client.AuditEvent.Query().All(tc.u.Context())
			n := 0
			for _, ev := range evs {
				if ev.OrganizationID == acme.ID {
					n++
				}
			}
			switch {
			case tc.see && (err != nil || n != len(acmeEntries)):
				t.Errorf("%s sees %d of %d entries (%v)", tc.name, n, len(acmeEntries), err)
			case !tc.see && n != 0:
				t.Errorf("%s sees %d of Acme's entries", tc.name, n)
			}
		}
	})
}

func TestConcurrentChangesKeepOneChain(t *testing.T) {
	t.Parallel()
	w := world(t, fixture.PostgresURL(t))
	acme := w.Orgs[0]
	const writers, each = 8, 5
	var users []int
	for range writers {
		users = append(users, acme.NewUser(t, fixture.Spec{}).ID)
	}
	before := head(t, w.Client, acme.ID)
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for i := range writers {
		wg.Go(func() {
			for j := range each {
				errs <- as(acme.Admin, w.Client, func(ctx context.Context, c *ent.Client) error {
					return c.User.UpdateOneID(users[i]).SetLastName(fmt.Sprintf("Writer %d %d", i, j)).Exec(ctx)
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := entries(t, w.Client, acme.ID, before)
	if len(got) != writers*each {
		t.Fatalf("%d entries, want %d", len(got), writers*each)
	}
	for i, ev := range got {
		if ev.Seq != before+int64(i)+1 {
			t.Fatalf("entry %d has seq %d", i, ev.Seq)
		}
	}
	if v, err := audit.Verify(fixture.System(), w.Client, acme.ID); err != nil || !v.Intact {
		t.Fatalf("chain after concurrent changes: %+v, %v", v, err)
	}
}

func TestPurgeKeepsRecentEntries(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := world(t, dbURL)
		acme := w.Orgs[0]
		all := entries(t, w.Client, acme.ID, 0)
		if len(all) == 0 {
			t.Fatal("no entries to purge")
		}
		if _, err := w.DB.SQL.Exec(fmt.Sprintf("UPDATE audit_events SET created_at = created_at - interval '2 days' WHERE id = %d", all[0].ID)); err != nil {
			// SQLite has no interval: store an old time instead.
			if _, err := w.DB.SQL.Exec(fmt.Sprintf("UPDATE audit_events SET created_at = '2000-01-01 00:00:00+00:00' WHERE id = %d", all[0].ID)); err != nil {
				t.Fatal(err)
			}
		}
		n, err := audit.Purge(context.Background(), w.Client, 24*time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("purged %d, %v; want 1", n, err)
		}
		if got := entries(t, w.Client, acme.ID, 0); len(got) != len(all)-1 {
			t.Fatalf("%d entries left, want %d", len(got), len(all)-1)
		}
		// The chain starts at the oldest entry kept.
		if v, err := audit.Verify(fixture.System(), w.Client, acme.ID); err != nil || !v.Intact {
			t.Fatalf("chain after the purge: %+v, %v", v, err)
		}
	})
}
