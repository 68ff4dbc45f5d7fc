package access_test

import (
	"context"
	"errors"
	"testing"

	"roster/ent"
	"roster/ent/channel"
	"roster/ent/privacy"
	"roster/ent/role"
	_ "roster/ent/runtime" // registers hooks and policies
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/fixture"
	"roster/internal/viewer"
)

// world is two organizations from the fixture, each with an admin, a
// supervisor, a scoped supervisor, an agent and an invited user, a division
// and a channel.
type world struct {
	client *ent.Client
	orgs   [2]org
}

type org struct {
	id                       int
	users                    int // how many users the organization has
	admin, supervisor, agent *viewer.Viewer
	invited                  int // a user without a password yet
	roles                    map[role.Builtin]int
	division, channel        int
}

func setup(t *testing.T, dbURL string) *world {
	t.Helper()
	w := fixture.New(t, dbURL, "Acme", "Globex")
	f := &world{client: w.Client}
	for i, o := range w.Orgs {
		ch := w.Client.Channel.Create().SetOrganizationID(o.ID).SetType(channel.TypeLIVECHAT).SetName("Chat").AddDivisionIDs(o.Support).SaveX(fixture.System())
		invited := o.NewUser(t, fixture.Spec{Name: "invited", Status: user.StatusInvited})
		f.orgs[i] = org{id: o.ID, users: len(o.Users()) + 1, admin: o.Admin.Viewer, supervisor: o.Supervisor.Viewer, agent: o.Agent.Viewer, invited: invited.ID,
			roles: o.Roles, division: o.Support, channel: ch.ID}
	}
	return f
}

func as(v *viewer.Viewer) context.Context { return viewer.NewContext(context.Background(), v) }

func TestAccess(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		f := setup(t, dbURL)
		t.Run("queries see only the viewer's organization", func(t *testing.T) { testQueries(t, f) })
		t.Run("mutations need the permission", func(t *testing.T) { testPermissions(t, f) })
		t.Run("references must be in the organization", func(t *testing.T) { testReferences(t, f) })
		t.Run("rules of users, roles, divisions and channels", func(t *testing.T) { testRules(t, f) })
	})
}

func testQueries(t *testing.T, f *world) {
	c := f.client
	for i, o := range f.orgs {
		for _, v := range []*viewer.Viewer{o.admin, o.supervisor, o.agent} {
			ctx := as(v)
			users := c.User.Query().AllX(ctx)
			if len(users) != o.users {
				t.Errorf("org %d viewer %d sees %d users, want %d", i, v.UserID, len(users), o.users)
			}
			for _, u := range users {
				if u.OrganizationID != o.id {
					t.Errorf("viewer of org %d sees user %d of org %d", o.id, u.ID, u.OrganizationID)
				}
			}
			if n := c.Role.Query().CountX(ctx); n != 3 {
				t.Errorf("sees %d roles, want 3", n)
			}
			if n := c.Division.Query().CountX(ctx); n != 1 {
				t.Errorf("sees %d divisions, want 1", n)
			}
			if n := c.Channel.Query().CountX(ctx); n != 1 {
				t.Errorf("sees %d channels, want 1", n)
			}
			if orgs := c.Organization.Query().AllX(ctx); len(orgs) != 1 || orgs[0].ID != o.id {
				t.Errorf("sees organizations %v", orgs)
			}
			// Edges are confined too: the other organization's division
			// cannot be reached through a user.
			other := f.orgs[1-i]
			if n := c.Division.Query().QueryMembers().Where(user.ID(other.agent.UserID)).CountX(ctx); n != 0 {
				t.Errorf("reaches another organization's user through an edge")
			}
			if _, err := c.Noder(ctx, other.agent.UserID); !ent.IsNotFound(err) {
				t.Errorf("Noder of another organization's user: %v, want not found", err)
			}
		}
	}
	if _, err := c.User.Query().All(context.Background()); !errors.Is(err, privacy.Deny) {
		t.Errorf("anonymous query: %v, want denied", err)
	}
}

func testPermissions(t *testing.T, f *world) {
	c := f.client
	o := f.orgs[0]
	type op struct {
		name string
		run  func(ctx context.Context) error
	}
	n := 0
	unique := func() string { n++; return string(rune('a'+n%26)) + string(rune('a'+n/26)) }
	ops := []op{
		{"create user", func(ctx context.Context) error {
			return c.User.Create().SetRoleID(o.roles[role.BuiltinAgent]).SetFirstName("N").SetLastName("U").SetEmail("new" + unique() + "@acme.test").Exec(ctx)
		}},
		{"update user", func(ctx context.Context) error {
			return c.User.UpdateOneID(o.admin.UserID).SetPhone("+6281234567890").Exec(ctx)
		}},
		{"create role", func(ctx context.Context) error {
			return c.Role.Create().SetName("Custom " + unique()).Exec(ctx)
		}},
		{"create division", func(ctx context.Context) error {
			return c.Division.Create().SetName("Division " + unique()).Exec(ctx)
		}},
		{"update division", func(ctx context.Context) error {
			return c.Division.UpdateOneID(o.division).SetDescription(unique()).Exec(ctx)
		}},
		{"create channel", func(ctx context.Context) error {
			return c.Channel.Create().SetType(channel.TypeLIVECHAT).SetName("Chat " + unique()).Exec(ctx)
		}},
		{"update channel", func(ctx context.Context) error {
			return c.Channel.UpdateOneID(o.channel).SetEnabled(n%2 == 0).Exec(ctx)
		}},
	}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		allowed bool
	}{
		{"admin", as(o.admin), true},
		{"supervisor", as(o.supervisor), false},
		{"agent", as(o.agent), false},
		{"anonymous", context.Background(), false},
	} {
		for _, op := range ops {
			err := op.run(tc.ctx)
			switch {
			case tc.allowed && err != nil:
				t.Errorf("%s: %s: %v", tc.name, op.name, err)
			case !tc.allowed && !errors.Is(err, privacy.Deny):
				t.Errorf("%s: %s: %v, want denied", tc.name, op.name, err)
			}
		}
	}
	// An agent given MANAGE_CHANNELS through a custom role may manage
	// channels, and nothing else.
	custom := c.Role.Create().SetName("Channel keeper").SetPermissions([]viewer.Permission{viewer.ManageChannels}).SaveX(as(o.admin))
	keeper := *o.agent
	keeper.Permissions = custom.Permissions
	if err := c.Channel.UpdateOneID(o.channel).SetName("Renamed").Exec(as(&keeper)); err != nil {
		t.Errorf("channel keeper: %v", err)
	}
	if err := c.Division.UpdateOneID(o.division).SetName("Renamed").Exec(as(&keeper)); !errors.Is(err, privacy.Deny) {
		t.Errorf("channel keeper changing a division: %v, want denied", err)
	}
}

func testReferences(t *testing.T, f *world) {
	c := f.client
	mine, theirs := f.orgs[0], f.orgs[1]
	ctx := as(mine.admin)
	wantNotFound := func(what, field string, err error) {
		t.Helper()
		var e *apierr.Error
		if !errors.As(err, &e) || e.Code != apierr.NotFound || e.Field != field {
			t.Errorf("%s: %v, want NOT_FOUND on %s", what, err, field)
		}
	}
	wantNotFound("user with another organization's role", "roleID",
		c.User.Create().SetRoleID(theirs.roles[role.BuiltinAgent]).SetFirstName("X").SetLastName("Y").SetEmail("x@acme.test").Exec(ctx))
	wantNotFound("user in another organization's division", "divisionIDs",
		c.User.Create().SetRoleID(mine.roles[role.BuiltinAgent]).SetFirstName("X").SetLastName("Y").SetEmail("x@acme.test").AddDivisionIDs(theirs.division).Exec(ctx))
	wantNotFound("division with another organization's member", "addMemberIDs",
		c.Division.UpdateOneID(mine.division).AddMemberIDs(theirs.agent.UserID).Exec(ctx))
	wantNotFound("division with another organization's channel", "addChannelIDs",
		c.Division.UpdateOneID(mine.division).AddChannelIDs(theirs.channel).Exec(ctx))
	wantNotFound("channel feeding another organization's division", "divisionIDs",
		c.Channel.Create().SetType(channel.TypeLIVECHAT).SetName("X").AddDivisionIDs(theirs.division).Exec(ctx))
	wantNotFound("a division ID given as a role", "roleID",
		c.User.UpdateOneID(mine.agent.UserID).SetRoleID(mine.division).Exec(ctx))
	if err := c.User.UpdateOneID(theirs.agent.UserID).SetFirstName("Hacked").Exec(ctx); !ent.IsNotFound(err) {
		t.Errorf("update in another organization: %v, want not found", err)
	}
	if err := c.Channel.DeleteOneID(theirs.channel).Exec(ctx); !ent.IsNotFound(err) {
		t.Errorf("delete in another organization: %v, want not found", err)
	}
	if err := c.Division.Create().SetOrganizationID(theirs.id).SetName("Planted").Exec(ctx); !errors.Is(err, privacy.Deny) {
		t.Errorf("create in another organization: %v, want denied", err)
	}
}

func testRules(t *testing.T, f *world) {
	c := f.client
	o := f.orgs[0]
	ctx := as(o.admin)
	wantCode := func(what string, err error, code apierr.Code, field string) {
		t.Helper()
		var e *apierr.Error
		if !errors.As(err, &e) || e.Code != code || e.Field != field {
			t.Errorf("%s: %v, want %s on %q", what, err, code, field)
		}
	}

	// Display names follow the full name until set explicitly.
	u := c.User.UpdateOneID(o.invited).SetFirstName("Agatha").SaveX(ctx)
	if u.DisplayName != "Agatha Acme" {
		t.Errorf("display name after rename = %q", u.DisplayName)
	}
	u = c.User.UpdateOneID(o.invited).SetDisplayName("Aggie").SaveX(ctx)
	u = c.User.UpdateOneID(o.invited).SetLastName("Smith").SaveX(ctx)
	if u.DisplayName != "Aggie" {
		t.Errorf("a chosen display name was replaced by %q", u.DisplayName)
	}
	u = c.User.UpdateOneID(o.invited).SetDisplayName(" ").SaveX(ctx)
	if u.DisplayName != "Agatha Smith" {
		t.Errorf("an emptied display name = %q", u.DisplayName)
	}

	// A password activates an invited user; the policy applies.
	if u.Status != user.StatusInvited {
		t.Fatalf("a user created without a password is %s", u.Status)
	}
	wantCode("weak password", c.User.UpdateOneID(o.invited).SetPassword("password123").Exec(ctx), apierr.BadUserInput, "password")
	u = c.User.UpdateOneID(o.invited).SetPassword("a good long passphrase").SaveX(ctx)
	if u.Status != user.StatusActive || u.Password == "a good long passphrase" {
		t.Errorf("after setting a password: status %s, stored in clear: %v", u.Status, u.Password == "a good long passphrase")
	}

	// Built-in roles.
	admin := o.roles[role.BuiltinAdmin]
	wantCode("rename Admin", c.Role.UpdateOneID(admin).SetName("Boss").Exec(ctx), apierr.BadUserInput, "name")
	wantCode("strip Admin", c.Role.UpdateOneID(admin).SetPermissions([]viewer.Permission{viewer.ViewReports}).Exec(ctx), apierr.BadUserInput, "permissions")
	wantCode("delete Agent", c.Role.DeleteOneID(o.roles[role.BuiltinAgent]).Exec(ctx), apierr.Forbidden, "")
	if err := c.Role.UpdateOneID(o.roles[role.BuiltinAgent]).SetPermissions([]viewer.Permission{viewer.Broadcast, viewer.Broadcast}).Exec(ctx); err != nil {
		t.Errorf("give agents broadcast: %v", err)
	}
	if r := c.Role.GetX(ctx, o.roles[role.BuiltinAgent]); len(r.Permissions) != 1 {
		t.Errorf("permissions not deduplicated: %v", r.Permissions)
	}
	wantCode("duplicate role name", c.Role.Create().SetName(" AGENT ").Exec(ctx), apierr.Conflict, "name")
	custom := c.Role.Create().SetName("Temp").SaveX(ctx)
	c.User.UpdateOneID(o.supervisor.UserID).SetRoleID(custom.ID).ExecX(ctx)
	wantCode("delete a role in use", c.Role.DeleteOneID(custom.ID).Exec(ctx), apierr.Conflict, "")

	// The last admin stays.
	wantCode("demote the last admin", c.User.UpdateOneID(o.admin.UserID).SetRoleID(o.roles[role.BuiltinAgent]).Exec(ctx), apierr.Conflict, "")
	wantCode("archive the last admin", c.User.UpdateOneID(o.admin.UserID).SetStatus(user.StatusArchived).Exec(ctx), apierr.Conflict, "")
	c.User.UpdateOneID(o.agent.UserID).SetRoleID(admin).ExecX(ctx)
	if err := c.User.UpdateOneID(o.admin.UserID).SetStatus(user.StatusArchived).Exec(ctx); err != nil {
		t.Errorf("archive an admin while another is active: %v", err)
	}

	// Divisions: names are unique whatever their case.
	wantCode("duplicate division", c.Division.Create().SetName("support").Exec(ctx), apierr.Conflict, "name")

	// Channels: credentials gate the connection; removing them disconnects.
	ch := c.Channel.Create().SetType(channel.TypeTELEGRAM).SetName("Bot").SetSettings(map[string]any{"botUsername": "acme_bot"}).SaveX(ctx)
	wantCode("connect without credentials", c.Channel.UpdateOneID(ch.ID).SetConnectionState(channel.ConnectionStateConnected).Exec(ctx), apierr.BadUserInput, "credentials")
	ch = c.Channel.UpdateOneID(ch.ID).SetCredentials(map[string]any{"botToken": "t"}).SetConnectionState(channel.ConnectionStateConnected).SaveX(ctx)
	if ch.ConnectionState != channel.ConnectionStateConnected {
		t.Errorf("not connected: %s", ch.ConnectionState)
	}
	ch = c.Channel.UpdateOneID(ch.ID).ClearCredentials().SaveX(ctx)
	if ch.ConnectionState != channel.ConnectionStateDisconnected {
		t.Errorf("still connected without credentials")
	}
	wantCode("settings of another type", c.Channel.UpdateOneID(ch.ID).SetSettings(map[string]any{"botUsername": "acme_bot", "address": "a@b.test"}).Exec(ctx), apierr.BadUserInput, "settings.address")
}
