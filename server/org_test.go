package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"roster/ent"
	"roster/ent/organization"
	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/password"
	"roster/internal/store"
	"roster/internal/store/storetest"
	"roster/internal/viewer"
)

var shownOnce = regexp.MustCompile(`(?m)^The admin's password is shown only this once: (\S+)$`)

// runCommand runs the program with args against the database at dbURL, with
// passwords hashed at the lowest cost, and returns its error and what it
// wrote to stdout.
func runCommand(t *testing.T, dbURL string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := map[string]string{"ROSTER_DATABASE_URL": dbURL, "ROSTER_LOG_FORMAT": "json"}
	// A command that serves instead of failing is stopped after a while.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := runWith(ctx, fixture.Hasher, args, func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String(), err
}

// organizations returns the organizations of the database at dbURL, with
// their roles and users.
func organizations(t *testing.T, dbURL string) []*ent.Organization {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	orgs, err := db.Client.Organization.Query().Order(organization.ByID()).
		WithRoles(func(q *ent.RoleQuery) { q.Order(role.ByName()) }).
		WithUsers(func(q *ent.UserQuery) { q.WithRole() }).
		All(viewer.NewSystemContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	return orgs
}

// TestOrgCreate: operators create organizations with "roster org create";
// the generated password is printed once, the organization has its
// built-in roles and its admin, a second organization of the same name is
// refused, and the server then serves them without creating its own.
func TestOrgCreate(t *testing.T) {
	t.Parallel()
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			url := target.URL(t)
			out, err := runCommand(t, url, "org", "create", "-name", " Globex ", "-admin-email", "Boss@Globex.test")
			if err != nil {
				t.Fatalf("org create: %v", err)
			}
			m := shownOnce.FindAllStringSubmatch(out, -1)
			if len(m) != 1 {
				t.Fatalf("want the password shown once, got:\n%s", out)
			}
			generated := m[0][1]
			if strings.Count(out, generated) != 1 {
				t.Errorf("the password appears %d times", strings.Count(out, generated))
			}

			out, err = runCommand(t, url, "org", "create", "-name", "Initech", "-admin-email", "peter@initech.test", "-admin-password", "a chosen password 123")
			if err != nil {
				t.Fatalf("org create with a password: %v", err)
			}
			if shownOnce.MatchString(out) || strings.Contains(out, "a chosen password 123") {
				t.Errorf("a given password is printed:\n%s", out)
			}

			for _, tc := range []struct {
				name string
				args []string
				want string
			}{
				{"same name, other case", []string{"-name", "globex", "-admin-email", "other@globex.test"}, "already named"},
				{"no name", []string{"-admin-email", "x@x.test"}, "required"},
				{"no email", []string{"-name", "Hooli"}, "required"},
				{"bad email", []string{"-name", "Hooli", "-admin-email", "not an email"}, "email"},
				{"weak password", []string{"-name", "Hooli", "-admin-email", "g@hooli.test", "-admin-password", "short"}, "password"},
				{"unknown flag", []string{"-name", "Hooli", "-admin-email", "g@hooli.test", "-plan", "PAID"}, "not defined"},
			} {
				out, err := runCommand(t, url, append([]string{"org", "create"}, tc.args...)...)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: err = %v, want one about %q", tc.name, err, tc.want)
				}
				if out != "" {
					t.Errorf("%s: printed %q", tc.name, out)
				}
			}

			orgs := organizations(t, url)
			if len(orgs) != 2 || orgs[0].Name != "Globex" || orgs[1].Name != "Initech" {
				t.Fatalf("organizations = %v", orgs)
			}
			for _, o := range orgs {
				var roles []string
				for _, r := range o.Edges.Roles {
					if r.Builtin != nil {
						roles = append(roles, string(*r.Builtin))
					}
				}
				if strings.Join(roles, ",") != "ADMIN,AGENT,SUPERVISOR" {
					t.Errorf("%s: built-in roles %v", o.Name, roles)
				}
				if len(o.Edges.Users) != 1 || o.Edges.Users[0].Edges.Role.Builtin == nil || *o.Edges.Users[0].Edges.Role.Builtin != role.BuiltinAdmin || o.Edges.Users[0].Status != user.StatusActive {
					t.Fatalf("%s: users %v", o.Name, o.Edges.Users)
				}
			}
			boss := orgs[0].Edges.Users[0]
			if boss.Email != "boss@globex.test" || !(password.Hasher{}).Verify(boss.Password, generated) {
				t.Errorf("the admin %s does not have the printed password", boss.Email)
			}
			// The command hashes with the hasher it is given: run gives it
			// productionPasswords (see TestRun), runCommand the cheapest.
			if cost := bcryptCost(t, boss.Password); cost != fixture.Hasher.Cost {
				t.Errorf("hashed at cost %d, want the command's, %d", cost, fixture.Hasher.Cost)
			}

			// The server finds organizations and creates none of its own;
			// the printed password logs in.
			srv := startServer(t, url)
			var me struct{ Me struct{ Email string } }
			srv.login(t, "boss@globex.test", generated).do(t, `{ me { email } }`, nil).decode(t, &me)
			if me.Me.Email != "boss@globex.test" {
				t.Errorf("me = %+v", me.Me)
			}
			if n := len(organizations(t, url)); n != 2 {
				t.Errorf("%d organizations after the server started, want 2", n)
			}
		})
	}
}

// TestFailedStartCreatesNothing: a start that fails, on a setting or on a
// taken port, has created no organization and printed no password.
func TestFailedStartCreatesNothing(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"port taken", []string{"-addr", taken.Addr().String()}, "listen"},
		{"SMTP URL of another scheme", []string{"-addr", "127.0.0.1:0", "-smtp-url", "http://mail.example.com"}, "ROSTER_SMTP_URL"},
		{"SMTP URL without a sender", []string{"-addr", "127.0.0.1:0", "-smtp-url", "smtp://user:pw@mail.example.com:587"}, "ROSTER_SMTP_URL"},
		{"origin with a path", []string{"-addr", "127.0.0.1:0", "-allowed-origins", "https://app.example.com/login"}, "ROSTER_ALLOWED_ORIGINS"},
		{"origin without a scheme", []string{"-addr", "127.0.0.1:0", "-allowed-origins", "app.example.com"}, "ROSTER_ALLOWED_ORIGINS"},
		{"bad duration", []string{"-addr", "127.0.0.1:0", "-session-ttl", "forever"}, "ROSTER_SESSION_TTL"},
		{"bad public URL", []string{"-addr", "127.0.0.1:0", "-public-url", "ftp://x"}, "ROSTER_PUBLIC_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := t.TempDir() + "/roster.db"
			out, err := runCommand(t, "sqlite://"+path, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one about %s", err, tc.want)
			}
			if out != "" {
				t.Errorf("printed %q", out)
			}
			if _, err := os.Stat(path); err == nil {
				if orgs := organizations(t, "sqlite://"+path); len(orgs) != 0 {
					t.Errorf("created %d organizations", len(orgs))
				}
			}
		})
	}
}

func bcryptCost(t *testing.T, hash string) int {
	t.Helper()
	// $2a$12$…
	parts := strings.Split(hash, "$")
	if len(parts) < 3 {
		t.Fatalf("not a bcrypt hash")
	}
	return atoi(parts[2])
}
