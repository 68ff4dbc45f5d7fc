package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/ent"
	"roster/ent/channel"
	"roster/ent/division"
	"roster/ent/invitation"
	"roster/ent/organization"
	"roster/ent/role"
	"roster/ent/session"
	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/viewer"
)

// lcRows are rows of every kind a field can name, in an organization the
// viewer does not belong to.
type lcRows struct {
	admin, agent, invited, archived int
	adminRole, customRole           int
	division, channel, session      int
}

// lcForeignRows makes them in o, beside the fixture's users.
func lcForeignRows(t *testing.T, w *fixture.World, o *fixture.Org) lcRows {
	t.Helper()
	sys := fixture.System()
	r := lcRows{admin: o.Admin.ID, agent: o.Agent.ID, session: o.Agent.SessionID, adminRole: o.Roles[role.BuiltinAdmin], division: o.Support}
	invited := o.NewUser(t, fixture.Spec{Status: user.StatusInvited})
	r.invited = invited.ID
	r.archived = o.NewUser(t, fixture.Spec{Status: user.StatusArchived}).ID
	r.customRole = w.Client.Role.Create().SetOrganizationID(o.ID).SetName("Custom").SetPermissions([]viewer.Permission{}).SaveX(sys).ID
	w.Client.User.Create().SetOrganizationID(o.ID).SetRoleID(r.customRole).SetFirstName("Custom").SetLastName("Role").
		SetEmail("custom@" + o.Domain).SetPassword(fixture.Password).ExecX(sys)
	r.channel = w.Client.Channel.Create().SetOrganizationID(o.ID).SetType(channel.TypeLIVECHAT).SetName("Chat").AddDivisionIDs(o.Support).SaveX(sys).ID
	token := make([]byte, 32)
	_, _ = rand.Read(token)
	w.Client.Invitation.Create().SetOrganizationID(o.ID).SetUserID(invited.ID).SetTokenHash(token).
		SetCreatedAt(time.Now()).SetExpiresAt(time.Now().Add(time.Hour)).ExecX(sys)
	return r
}

// lcSnapshot describes everything of organization org that a field could
// change.
func lcSnapshot(t *testing.T, w *fixture.World, org int) string {
	t.Helper()
	sys, c := fixture.System(), w.Client
	type row = map[string]any
	var out []row
	for _, u := range c.User.Query().Where(user.OrganizationID(org)).WithDivisions().Order(ent.Asc(user.FieldID)).AllX(sys) {
		var divs []int
		for _, d := range u.Edges.Divisions {
			divs = append(divs, d.ID)
		}
		out = append(out, row{"user": u.ID, "first": u.FirstName, "email": u.Email, "status": u.Status, "role": u.RoleID,
			"availability": u.Availability, "version": u.Version, "archivedAt": u.ArchivedAt, "divisions": divs, "updated": u.UpdatedAt})
	}
	for _, r := range c.Role.Query().Where(role.OrganizationID(org)).Order(ent.Asc(role.FieldID)).AllX(sys) {
		out = append(out, row{"role": r.ID, "name": r.Name, "permissions": r.Permissions})
	}
	for _, d := range c.Division.Query().Where(division.OrganizationID(org)).WithMembers().Order(ent.Asc(division.FieldID)).AllX(sys) {
		out = append(out, row{"division": d.ID, "name": d.Name, "description": d.Description, "members": len(d.Edges.Members)})
	}
	for _, ch := range c.Channel.Query().Where(channel.OrganizationID(org)).Order(ent.Asc(channel.FieldID)).AllX(sys) {
		out = append(out, row{"channel": ch.ID, "name": ch.Name, "enabled": ch.Enabled, "state": ch.ConnectionState})
	}
	out = append(out,
		row{"sessions": c.Session.Query().Where(session.OrganizationID(org)).IDsX(sys)},
		row{"invitations": c.Invitation.Query().Where(invitation.OrganizationID(org)).IDsX(sys)},
		row{"plan": c.Organization.Query().Where(organization.ID(org)).OnlyX(sys).Plan},
	)
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lcMissing is an ID of the same type as id that names nothing.
func lcMissing(id int) int { return id + 1_000_000 }

// TestForeignIDsLookMissing runs every query and mutation that takes an ID
// with another organization's IDs and with IDs that name nothing: both must
// answer the same NOT_FOUND (code, field and message), and the other
// organization must be left as it was.
func TestForeignIDsLookMissing(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		o := lcForeignRows(t, w, globex)
		admin := srv.as(acme.Admin)
		ownDivision, ownUser := strconv.Itoa(acme.Support), strconv.Itoa(acme.Agent.ID)
		agentRole := strconv.Itoa(acme.Roles[role.BuiltinAgent])

		// Each case names the other organization's row by id; the
		// same operation then names lcMissing(id).
		cases := []struct {
			name, query string
			id          int
			vars        func(id string) vars
			// wsOnly is set for subscriptions, which HTTP does not
			// carry.
			wsOnly bool
		}{
			{name: "userStatusChanged by division", query: `subscription($id: ID!) { userStatusChanged(divisionID: $id) { at } }`, id: o.division, wsOnly: true},
			{name: "userChanged by role", query: `subscription($id: ID!) { userChanged(roleID: $id) { at } }`, id: o.customRole, wsOnly: true},
			{name: "presenceSummaryChanged by division", query: `subscription($id: ID!) { presenceSummaryChanged(divisionID: $id) { total } }`, id: o.division, wsOnly: true},
			{"presenceSummary", `query($id: ID!) { presenceSummary(divisionID: $id) { total } }`, o.division, nil, false},
			{"node", `query($id: ID!) { node(id: $id) { id } }`, o.agent, nil, false},
			{"nodes", `query($id: ID!) { nodes(ids: [$id]) { id } }`, o.division, nil, false},
			{"userSessions", `query($id: ID!) { userSessions(userID: $id) { id } }`, o.agent, nil, false},
			{"updateUser", `mutation($id: ID!) { updateUser(id: $id, input: {firstName: "Hacked"}) { id } }`, o.agent, nil, false},
			{"updateUser email", `mutation($id: ID!) { updateUser(id: $id, input: {email: "admin@globex.test"}) { id } }`, o.agent, nil, false},
			{"updateUser password", `mutation($id: ID!) { updateUser(id: $id, input: {password: "another long password"}) { id } }`, o.agent, nil, false},
			{"updateUser demotes the last admin", `mutation($id: ID!, $r: ID!) { updateUser(id: $id, input: {roleID: $r}) { id } }`, o.admin,
				func(id string) vars { return vars{"id": id, "r": agentRole} }, false},
			{"updateUser divisions", `mutation($id: ID!, $d: ID!) { updateUser(id: $id, input: {addDivisionIDs: [$d]}) { id } }`, o.agent,
				func(id string) vars { return vars{"id": id, "d": ownDivision} }, false},
			{"archiveUser the last admin", `mutation($id: ID!) { archiveUser(id: $id) { id } }`, o.admin, nil, false},
			{"archiveUser", `mutation($id: ID!) { archiveUser(id: $id) { id } }`, o.agent, nil, false},
			{"archiveUser archived", `mutation($id: ID!) { archiveUser(id: $id) { id } }`, o.archived, nil, false},
			{"deleteUser the last admin", `mutation($id: ID!) { deleteUser(id: $id) }`, o.admin, nil, false},
			{"deleteUser", `mutation($id: ID!) { deleteUser(id: $id) }`, o.agent, nil, false},
			{"restoreUser", `mutation($id: ID!) { restoreUser(id: $id) { id } }`, o.archived, nil, false},
			{"restoreUser active", `mutation($id: ID!) { restoreUser(id: $id) { id } }`, o.agent, nil, false},
			{"resendInvitation", `mutation($id: ID!) { resendInvitation(id: $id) { id } }`, o.invited, nil, false},
			{"resendInvitation active", `mutation($id: ID!) { resendInvitation(id: $id) { id } }`, o.agent, nil, false},
			{"revokeInvitation", `mutation($id: ID!) { revokeInvitation(id: $id) { id } }`, o.invited, nil, false},
			{"revokeUserSessions", `mutation($id: ID!) { revokeUserSessions(userID: $id) }`, o.agent, nil, false},
			{"revokeSession", `mutation($id: ID!) { revokeSession(id: $id) }`, o.session, nil, false},
			{"setUserAvailability", `mutation($id: ID!) { setUserAvailability(id: $id, availability: BUSY) { id } }`, o.agent, nil, false},
			{"updateRole built-in rename", `mutation($id: ID!) { updateRole(id: $id, input: {name: "Boss"}) { id } }`, o.adminRole, nil, false},
			{"updateRole built-in permissions", `mutation($id: ID!) { updateRole(id: $id, input: {permissions: []}) { id } }`, o.adminRole, nil, false},
			{"updateRole", `mutation($id: ID!) { updateRole(id: $id, input: {name: "Renamed"}) { id } }`, o.customRole, nil, false},
			{"deleteRole built-in", `mutation($id: ID!) { deleteRole(id: $id) }`, o.adminRole, nil, false},
			{"deleteRole given to users", `mutation($id: ID!) { deleteRole(id: $id) }`, o.customRole, nil, false},
			{"updateDivision", `mutation($id: ID!) { updateDivision(id: $id, input: {name: "Renamed"}) { id } }`, o.division, nil, false},
			{"deleteDivision", `mutation($id: ID!) { deleteDivision(id: $id) }`, o.division, nil, false},
			{"addDivisionMembers", `mutation($id: ID!, $u: ID!) { addDivisionMembers(id: $id, userIDs: [$u]) { id } }`, o.division,
				func(id string) vars { return vars{"id": id, "u": ownUser} }, false},
			{"removeDivisionMembers", `mutation($id: ID!, $u: ID!) { removeDivisionMembers(id: $id, userIDs: [$u]) { id } }`, o.division,
				func(id string) vars { return vars{"id": id, "u": strconv.Itoa(o.agent)} }, false},
			{"addDivisionMembers of another organization's user", `mutation($d: ID!, $id: ID!) { addDivisionMembers(id: $d, userIDs: [$id]) { id } }`, o.agent,
				func(id string) vars { return vars{"id": id, "d": ownDivision} }, false},
			{"createUser with another organization's role", `mutation($id: ID!) { createUser(input: {firstName: "N", lastName: "N", email: "n@acme.test", roleID: $id}) { id } }`, o.customRole, nil, false},
			{"updateChannel", `mutation($id: ID!) { updateChannel(id: $id, input: {name: "Renamed"}) { id } }`, o.channel, nil, false},
			{"deleteChannel", `mutation($id: ID!) { deleteChannel(id: $id) }`, o.channel, nil, false},
			{"setChannelEnabled", `mutation($id: ID!) { setChannelEnabled(id: $id, enabled: false) { id } }`, o.channel, nil, false},
			{"connectChannel", `mutation($id: ID!) { connectChannel(id: $id) { id } }`, o.channel, nil, false},
			{"disconnectChannel", `mutation($id: ID!) { disconnectChannel(id: $id) { id } }`, o.channel, nil, false},
		}
		// Globex's admin watches its users: nothing the cases do may
		// reach them. A sentinel change shows the subscription has
		// started, and, at the end, that no event came before it.
		watch := dialWS(t, srv.url, globex.Admin.Token)
		// mxReader reads without a deadline: the test may last longer
		// than the one dialWS left for the acknowledgement.
		_ = watch.conn.SetReadDeadline(time.Time{})
		watch.subscribe("watch", `subscription { userChanged { userID user { lastName } } }`)
		events := mxReader(watch.conn)
		globexAdmin, sentinels := srv.as(globex.Admin), 0
		sentinel := func(t *testing.T, timeout time.Duration) (others []string, heard bool) {
			t.Helper()
			sentinels++
			name := fmt.Sprintf("Sentinel%d", sentinels)
			globexAdmin.do(t, `mutation($id: ID!, $n: String!) { updateUser(id: $id, input: {lastName: $n}) { id } }`,
				vars{"id": strconv.Itoa(globex.Supervisor.ID), "n": name}).decode(t, new(any))
			deadline := time.After(timeout)
			for {
				select {
				case m, open := <-events:
					if !open {
						t.Fatal("Globex's socket closed")
					}
					if m.Type != "next" {
						continue
					}
					var p struct {
						Data struct {
							UserChanged struct {
								UserID string
								User   *struct{ LastName string }
							}
						}
					}
					_ = json.Unmarshal(m.Payload, &p)
					if ev := p.Data.UserChanged; ev.UserID == strconv.Itoa(globex.Supervisor.ID) && ev.User != nil && ev.User.LastName == name {
						return others, true
					}
					others = append(others, string(m.Payload))
				case <-deadline:
					return others, false
				}
			}
		}
		for deadline := time.Now().Add(30 * time.Second); ; {
			if _, heard := sentinel(t, 500*time.Millisecond); heard {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Globex's subscription did not start")
			}
		}
		// The watching socket turns Globex's admin online, which changes
		// their row: wait for it before the organization is described.
		globexAdmin.awaitOnline(t)

		before := lcSnapshot(t, w, globex.ID)
		ws := dialWS(t, srv.url, acme.Admin.Token)
		for _, c := range cases {
			mk := c.vars
			if mk == nil {
				mk = func(id string) vars { return vars{"id": id} }
			}
			transports := []struct {
				name string
				do   func(vs vars) *response
			}{
				{"http", func(vs vars) *response { return admin.do(t, c.query, vs) }},
				{"websocket", func(vs vars) *response { r, _ := ws.do(c.query, vs); return r }},
			}
			for _, tr := range transports {
				if c.wsOnly && tr.name == "http" {
					continue
				}
				foreign := tr.do(mk(strconv.Itoa(c.id)))
				missing := tr.do(mk(strconv.Itoa(lcMissing(c.id))))
				if len(foreign.Errors) == 0 || len(missing.Errors) == 0 {
					t.Errorf("%s over %s: foreign ID answered %s %+v, missing ID %s %+v", c.name, tr.name, foreign.Data, foreign.Errors, missing.Data, missing.Errors)
					continue
				}
				f, m := foreign.Errors[0], missing.Errors[0]
				// A message may quote the ID it was given (node does):
				// the same words around it are the same answer.
				fm := strings.ReplaceAll(f.Message, strconv.Itoa(c.id), "<id>")
				mm := strings.ReplaceAll(m.Message, strconv.Itoa(lcMissing(c.id)), "<id>")
				if f.Extensions.Code != "NOT_FOUND" || f.Extensions != m.Extensions || fm != mm {
					t.Errorf("%s over %s: foreign ID answered %s %q (field %q), missing ID %s %q (field %q)", c.name, tr.name,
						f.Extensions.Code, f.Message, f.Extensions.Field, m.Extensions.Code, m.Message, m.Extensions.Field)
				}
			}
		}
		if after := lcSnapshot(t, w, globex.ID); after != before {
			t.Errorf("the other organization changed:\nbefore %s\nafter  %s", before, after)
		}
		others, heard := sentinel(t, 15*time.Second)
		if !heard || len(others) > 0 {
			t.Errorf("Globex's admin heard %q before the sentinel (heard: %v)", others, heard)
		}
	})
}

// TestInvitationsEnd checks that the link of an invitation stops working
// when the invited user's email changes, or they are archived or deleted.
func TestInvitationsEnd(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, nil)
		acme := w.Orgs[0]
		admin := srv.as(acme.Admin)
		agentRole := strconv.Itoa(acme.Roles[role.BuiltinAgent])
		box := &outbox{client: w.Client}
		anon := srv.client("")
		accept := `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { user { status } } }`
		invite := func(t *testing.T, email string) (id, token string) {
			t.Helper()
			id = admin.createUser(t, vars{"firstName": "Ivy", "lastName": "Invited", "email": email, "roleID": agentRole})
			token, err := url.QueryUnescape(box.last(t, email, invitationLink))
			if err != nil {
				t.Fatal(err)
			}
			return id, token
		}
		cases := []struct {
			name   string
			change func(t *testing.T, id string)
			// resend is whether a new invitation can still be sent.
			resend bool
		}{
			{"email changed", func(t *testing.T, id string) {
				admin.do(t, `mutation($id: ID!) { updateUser(id: $id, input: {email: "ivy.new@acme.test"}) { id } }`, vars{"id": id}).decode(t, new(any))
			}, true},
			{"archived", func(t *testing.T, id string) {
				admin.do(t, `mutation($id: ID!) { archiveUser(id: $id) { id } }`, vars{"id": id}).decode(t, new(any))
				admin.do(t, `mutation($id: ID!) { restoreUser(id: $id) { status } }`, vars{"id": id}).decode(t, new(any))
			}, true},
			{"deleted", func(t *testing.T, id string) {
				admin.do(t, `mutation($id: ID!) { deleteUser(id: $id) }`, vars{"id": id}).decode(t, new(any))
			}, false},
			{"nothing changed", func(t *testing.T, id string) {
				admin.do(t, `mutation($id: ID!) { updateUser(id: $id, input: {firstName: "Ivy"}) { id } }`, vars{"id": id}).decode(t, new(any))
			}, true},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				email := fmt.Sprintf("ivy%d@acme.test", i)
				id, token := invite(t, email)
				c.change(t, id)
				res := anon.do(t, accept, vars{"t": token, "p": "ivy's long password"})
				if c.name == "nothing changed" {
					res.decode(t, new(any))
					return
				}
				res.wantError(t, "BAD_USER_INPUT", "token")
				if !c.resend {
					return
				}
				// A new link goes to the address the user has now,
				// and works.
				var u struct{ ResendInvitation struct{ Email string } }
				admin.do(t, `mutation($id: ID!) { resendInvitation(id: $id) { email } }`, vars{"id": id}).decode(t, &u)
				fresh := token
				for fresh == token {
					var err error
					if fresh, err = url.QueryUnescape(box.last(t, u.ResendInvitation.Email, invitationLink)); err != nil {
						t.Fatal(err)
					}
				}
				anon.do(t, accept, vars{"t": fresh, "p": "ivy's long password"}).decode(t, new(any))
			})
		}
	})
}

// lcAdmins are the active admins of an organization and their clients.
type lcAdmins struct {
	srv     *server
	db      *ent.Client
	org     *fixture.Org
	clients map[int]*client // by user ID, of every admin made so far
}

// fill makes admins of the organization until it has n active ones, and
// returns their IDs.
func (a *lcAdmins) fill(t *testing.T, n int) []int {
	t.Helper()
	ids := a.active(t)
	for range n - len(ids) {
		u := a.org.NewUser(t, fixture.Spec{Role: role.BuiltinAdmin})
		a.clients[u.ID] = a.srv.as(u)
	}
	return a.active(t)
}

// active returns the IDs of the organization's active admins.
func (a *lcAdmins) active(t *testing.T) []int {
	t.Helper()
	return a.db.User.Query().Where(user.OrganizationID(a.org.ID), user.StatusEQ(user.StatusActive),
		user.HasRoleWith(role.BuiltinEQ(role.BuiltinAdmin))).Order(ent.Asc(user.FieldID)).IDsX(fixture.System())
}

// TestLastAdminUnderConcurrency has every admin of an organization leave at
// the same moment (demoted, archived or deleted, by themselves or by each
// other), on PostgreSQL and SQLite: one active admin must remain, and those
// refused get CONFLICT with a message.
func TestLastAdminUnderConcurrency(t *testing.T) {
	t.Parallel()
	const n = 6
	leave := []string{
		`mutation($id: ID!, $r: ID!) { updateUser(id: $id, input: {roleID: $r}) { id } }`,
		`mutation($id: ID!) { archiveUser(id: $id) { id } }`,
		`mutation($id: ID!) { deleteUser(id: $id) }`,
	}
	for _, mode := range []string{"themselves", "each other"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
				srv, w := startWorld(t, dbURL, nil)
				acme := w.Orgs[0]
				agentRole := strconv.Itoa(acme.Roles[role.BuiltinAgent])
				admins := &lcAdmins{srv: srv, db: w.Client, org: acme, clients: map[int]*client{acme.Admin.ID: srv.as(acme.Admin)}}
				for round := range 3 {
					ids := admins.fill(t, n)
					start := make(chan struct{})
					results := make([]*response, len(ids))
					var wg sync.WaitGroup
					for i, id := range ids {
						target := id
						if mode == "each other" {
							target = ids[(i+1)%len(ids)]
						}
						q, c := leave[(i+round)%len(leave)], admins.clients[id]
						wg.Go(func() {
							<-start
							results[i] = c.do(t, q, vars{"id": strconv.Itoa(target), "r": agentRole})
						})
					}
					close(start)
					wg.Wait()
					left := len(admins.active(t))
					if left < 1 {
						t.Fatalf("round %d: %d active admins left", round, left)
					}
					var refused int
					for i, r := range results {
						if len(r.Errors) == 0 {
							continue
						}
						e := r.Errors[0]
						switch {
						case e.Extensions.Code == "CONFLICT" && strings.Contains(e.Message, "last active admin"):
							refused++
						case mode == "each other" && slices.Contains([]string{"UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"}, e.Extensions.Code):
							// Archived, deleted or demoted by another before acting,
							// or acting on one already gone.
						default:
							t.Errorf("round %d: admin %d got %s %q", round, i, e.Extensions.Code, e.Message)
						}
					}
					if mode == "themselves" && (refused != 1 || left != 1) {
						t.Errorf("round %d: %d refused and %d active admins left, want 1 and 1", round, refused, left)
					}
				}
			})
		})
	}
}

// TestDuplicateEmailRace creates the same email at the same moment, on
// PostgreSQL and SQLite: one create succeeds, the others get CONFLICT on
// email.
func TestDuplicateEmailRace(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, nil)
		acme := w.Orgs[0]
		admin := srv.as(acme.Admin)
		const n = 8
		for round := range 3 {
			email := fmt.Sprintf("twin%d@acme.test", round)
			start := make(chan struct{})
			results := make([]*response, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					results[i] = admin.do(t, `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`,
						vars{"i": vars{"firstName": "Twin", "lastName": strconv.Itoa(i), "email": email, "roleID": strconv.Itoa(acme.Roles[role.BuiltinAgent])}})
				})
			}
			close(start)
			wg.Wait()
			created := 0
			for _, r := range results {
				if len(r.Errors) == 0 {
					created++
					continue
				}
				if e := r.Errors[0]; e.Extensions.Code != "CONFLICT" || e.Extensions.Field != "email" {
					t.Errorf("round %d: the loser got %s (field %q) %q", round, e.Extensions.Code, e.Extensions.Field, e.Message)
				}
			}
			if created != 1 {
				t.Errorf("round %d: %d users created with %s", round, created, email)
			}
			if got := w.Client.User.Query().Where(user.Email(email)).CountX(fixture.System()); got != 1 {
				t.Errorf("round %d: %d users have %s", round, got, email)
			}
		}
	})
}
