package main

import (
	"context"
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

	"golang.org/x/crypto/bcrypt"

	"roster/ent"
	"roster/ent/channel"
	"roster/ent/division"
	"roster/ent/invitation"
	"roster/ent/organization"
	"roster/ent/role"
	"roster/ent/session"
	"roster/ent/user"
	"roster/internal/account"
	"roster/internal/password"
	"roster/internal/store"
	"roster/internal/store/storetest"
	"roster/internal/viewer"
)

// lcOrg is an organization made beside the server's, straight in its
// database, with one row of every kind a mutation can name.
type lcOrg struct {
	id                                        int
	admin, agent, invited, archived, roleUser int
	adminRole, customRole                     int
	division, channel, session, invitation    int
}

// lcWorld is a running server with its first organization (Acme, whose
// admin the tests act as) and a second one made beside it.
type lcWorld struct {
	srv   *server
	url   string
	db    *ent.Client
	sys   context.Context
	hash  string // a bcrypt hash of lcPassword at the lowest cost
	acme  int
	admin *client
	agent int // Acme's Agent role
	seq   int
}

const lcPassword = "a long enough password"

func newLcWorld(t *testing.T, dbURL string) *lcWorld {
	t.Helper()
	srv := startServer(t, dbURL)
	db, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h, err := bcrypt.GenerateFromPassword([]byte(lcPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	w := &lcWorld{srv: srv, url: dbURL, db: db.Client, hash: string(h)}
	w.sys = password.WithPrehashed(viewer.NewSystemContext(context.Background()), w.hash)
	w.acme = w.db.Organization.Query().OnlyIDX(w.sys)
	w.agent = w.db.Role.Query().Where(role.OrganizationID(w.acme), role.BuiltinEQ(role.BuiltinAgent)).OnlyIDX(w.sys)
	w.admin = srv.login(t, "admin@acme.test", adminPassword)
	return w
}

// user makes a user of organization org with the built-in role b.
func (w *lcWorld) user(t *testing.T, org int, b role.Builtin, status user.Status) int {
	t.Helper()
	w.seq++
	r := w.db.Role.Query().Where(role.OrganizationID(org), role.BuiltinEQ(b)).OnlyIDX(w.sys)
	c := w.db.User.Create().SetOrganizationID(org).SetRoleID(r).SetFirstName("U").SetLastName(strconv.Itoa(w.seq)).
		SetEmail(fmt.Sprintf("u%d@org%d.test", w.seq, org))
	switch status {
	case user.StatusActive:
		c.SetPassword(w.hash)
	case user.StatusArchived:
		c.SetStatus(status).SetArchivedAt(time.Now())
	default:
		c.SetStatus(status)
	}
	return c.SaveX(w.sys).ID
}

// newOrg makes the second organization and its rows.
func (w *lcWorld) newOrg(t *testing.T) *lcOrg {
	t.Helper()
	org, admin, err := account.CreateOrganization(w.sys, w.db, "Globex", account.Admin{FirstName: "Gina", LastName: "Globex", Email: "admin@globex.test", Password: w.hash})
	if err != nil {
		t.Fatal(err)
	}
	o := &lcOrg{id: org.ID, admin: admin.ID}
	o.adminRole = admin.RoleID
	o.agent = w.user(t, o.id, role.BuiltinAgent, user.StatusActive)
	o.invited = w.user(t, o.id, role.BuiltinAgent, user.StatusInvited)
	o.archived = w.user(t, o.id, role.BuiltinAgent, user.StatusArchived)
	o.customRole = w.db.Role.Create().SetOrganizationID(o.id).SetName("Custom").SetPermissions([]viewer.Permission{}).SaveX(w.sys).ID
	o.roleUser = w.db.User.Create().SetOrganizationID(o.id).SetRoleID(o.customRole).SetFirstName("R").SetLastName("U").SetEmail("ru@globex.test").SetPassword(w.hash).SaveX(w.sys).ID
	o.division = w.db.Division.Create().SetOrganizationID(o.id).SetName("Globex support").AddMemberIDs(o.agent).SaveX(w.sys).ID
	o.channel = w.db.Channel.Create().SetOrganizationID(o.id).SetType(channel.TypeLIVECHAT).SetName("Globex chat").AddDivisionIDs(o.division).SaveX(w.sys).ID
	token := make([]byte, 32)
	_, _ = rand.Read(token)
	o.session = w.db.Session.Create().SetOrganizationID(o.id).SetUserID(o.agent).SetTokenHash(token).SetExpiresAt(time.Now().Add(time.Hour)).SaveX(w.sys).ID
	_, _ = rand.Read(token)
	o.invitation = w.db.Invitation.Create().SetOrganizationID(o.id).SetUserID(o.invited).SetTokenHash(token).SetCreatedAt(time.Now()).SetExpiresAt(time.Now().Add(time.Hour)).SaveX(w.sys).ID
	return o
}

// snapshot describes everything of organization org that a mutation could
// change.
func (w *lcWorld) snapshot(t *testing.T, org int) string {
	t.Helper()
	type row = map[string]any
	var out []row
	for _, u := range w.db.User.Query().Where(user.OrganizationID(org)).WithDivisions().Order(ent.Asc(user.FieldID)).AllX(w.sys) {
		var divs []int
		for _, d := range u.Edges.Divisions {
			divs = append(divs, d.ID)
		}
		out = append(out, row{"user": u.ID, "first": u.FirstName, "email": u.Email, "status": u.Status, "role": u.RoleID,
			"availability": u.Availability, "version": u.Version, "archivedAt": u.ArchivedAt, "divisions": divs, "updated": u.UpdatedAt})
	}
	for _, r := range w.db.Role.Query().Where(role.OrganizationID(org)).Order(ent.Asc(role.FieldID)).AllX(w.sys) {
		out = append(out, row{"role": r.ID, "name": r.Name, "permissions": r.Permissions})
	}
	for _, d := range w.db.Division.Query().Where(division.OrganizationID(org)).WithMembers().Order(ent.Asc(division.FieldID)).AllX(w.sys) {
		out = append(out, row{"division": d.ID, "name": d.Name, "description": d.Description, "members": len(d.Edges.Members)})
	}
	for _, c := range w.db.Channel.Query().Where(channel.OrganizationID(org)).Order(ent.Asc(channel.FieldID)).AllX(w.sys) {
		out = append(out, row{"channel": c.ID, "name": c.Name, "enabled": c.Enabled, "state": c.ConnectionState})
	}
	out = append(out,
		row{"sessions": w.db.Session.Query().Where(session.OrganizationID(org)).IDsX(w.sys)},
		row{"invitations": w.db.Invitation.Query().Where(invitation.OrganizationID(org)).IDsX(w.sys)},
		row{"plan": w.db.Organization.Query().Where(organization.ID(org)).OnlyX(w.sys).Plan},
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
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			w := newLcWorld(t, target.URL(t))
			o := w.newOrg(t)
			ownDivision := w.admin.createDivision(t, "Acme support")
			ownUser := w.admin.createUser(t, vars{"firstName": "Own", "lastName": "User", "email": "own@acme.test", "roleID": strconv.Itoa(w.agent)})

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
				{"presenceSummary", `query($id: ID!) { presenceSummary(divisionID: $id) { total } }`, o.division, nil, false},
				{"node", `query($id: ID!) { node(id: $id) { id } }`, o.agent, nil, false},
				{"nodes", `query($id: ID!) { nodes(ids: [$id]) { id } }`, o.division, nil, false},
				{"userSessions", `query($id: ID!) { userSessions(userID: $id) { id } }`, o.agent, nil, false},
				{"updateUser", `mutation($id: ID!) { updateUser(id: $id, input: {firstName: "Hacked"}) { id } }`, o.agent, nil, false},
				{"updateUser email", `mutation($id: ID!) { updateUser(id: $id, input: {email: "admin@globex.test"}) { id } }`, o.agent, nil, false},
				{"updateUser password", `mutation($id: ID!) { updateUser(id: $id, input: {password: "another long password"}) { id } }`, o.agent, nil, false},
				{"updateUser demotes the last admin", `mutation($id: ID!, $r: ID!) { updateUser(id: $id, input: {roleID: $r}) { id } }`, o.admin,
					func(id string) vars { return vars{"id": id, "r": strconv.Itoa(w.agent)} }, false},
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
			before := w.snapshot(t, o.id)
			ws := dialWS(t, w.srv.url, w.admin.token)
			for _, c := range cases {
				mk := c.vars
				if mk == nil {
					mk = func(id string) vars { return vars{"id": id} }
				}
				transports := []struct {
					name string
					do   func(vs vars) *response
				}{
					{"http", func(vs vars) *response { return w.admin.do(t, c.query, vs) }},
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
			if after := w.snapshot(t, o.id); after != before {
				t.Errorf("the other organization changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestInvitationsEnd checks that the link of an invitation stops working
// when the invited user's email changes, or they are archived or deleted.
func TestInvitationsEnd(t *testing.T) {
	t.Parallel()
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			w := newLcWorld(t, target.URL(t))
			box := &outbox{client: w.db}
			anon := w.srv.client("")
			accept := `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { status } }`
			invite := func(t *testing.T, email string) (id, token string) {
				t.Helper()
				id = w.admin.createUser(t, vars{"firstName": "Ivy", "lastName": "Invited", "email": email, "roleID": strconv.Itoa(w.agent)})
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
					w.admin.do(t, `mutation($id: ID!) { updateUser(id: $id, input: {email: "ivy.new@acme.test"}) { id } }`, vars{"id": id}).decode(t, new(any))
				}, true},
				{"archived", func(t *testing.T, id string) {
					w.admin.do(t, `mutation($id: ID!) { archiveUser(id: $id) { id } }`, vars{"id": id}).decode(t, new(any))
					w.admin.do(t, `mutation($id: ID!) { restoreUser(id: $id) { status } }`, vars{"id": id}).decode(t, new(any))
				}, true},
				{"deleted", func(t *testing.T, id string) {
					w.admin.do(t, `mutation($id: ID!) { deleteUser(id: $id) }`, vars{"id": id}).decode(t, new(any))
				}, false},
				{"nothing changed", func(t *testing.T, id string) {
					w.admin.do(t, `mutation($id: ID!) { updateUser(id: $id, input: {firstName: "Ivy"}) { id } }`, vars{"id": id}).decode(t, new(any))
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
					w.admin.do(t, `mutation($id: ID!) { resendInvitation(id: $id) { email } }`, vars{"id": id}).decode(t, &u)
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
}

// lcAdmins gives Acme n active admins and logs each in.
func (w *lcWorld) lcAdmins(t *testing.T, n int) (ids []string, clients []*client) {
	t.Helper()
	adminRole := w.db.Role.Query().Where(role.OrganizationID(w.acme), role.BuiltinEQ(role.BuiltinAdmin)).OnlyIDX(w.sys)
	active := func() []*ent.User {
		return w.db.User.Query().Where(user.OrganizationID(w.acme), user.StatusEQ(user.StatusActive), user.RoleID(adminRole)).AllX(w.sys)
	}
	for range n - len(active()) {
		w.seq++
		w.db.User.Create().SetOrganizationID(w.acme).SetRoleID(adminRole).SetFirstName("Ad").SetLastName("Min").
			SetEmail(fmt.Sprintf("admin%d@acme.test", w.seq)).SetPassword(w.hash).ExecX(w.sys)
	}
	for _, u := range active() {
		// Every admin, the first one included, logs in with lcPassword.
		w.db.User.UpdateOneID(u.ID).SetPassword(w.hash).ExecX(w.sys)
		ids = append(ids, strconv.Itoa(u.ID))
		clients = append(clients, w.srv.login(t, u.Email, lcPassword))
	}
	return ids, clients
}

// activeAdmins counts the active admins of Acme.
func (w *lcWorld) activeAdmins(t *testing.T) int {
	t.Helper()
	return w.db.User.Query().Where(user.OrganizationID(w.acme), user.StatusEQ(user.StatusActive), user.HasRoleWith(role.BuiltinEQ(role.BuiltinAdmin))).CountX(w.sys)
}

// TestLastAdminUnderConcurrency has every admin of an organization leave at
// the same moment (demoted, archived or deleted, by themselves or by each
// other) on PostgreSQL: one active admin must remain, and those refused get
// CONFLICT with a message.
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
			w := newLcWorld(t, storetest.PostgresURL(t))
			for round := range 3 {
				ids, clients := w.lcAdmins(t, n)
				start := make(chan struct{})
				results := make([]*response, len(clients))
				var wg sync.WaitGroup
				for i, c := range clients {
					target := ids[i]
					if mode == "each other" {
						target = ids[(i+1)%len(ids)]
					}
					q := leave[(i+round)%len(leave)]
					wg.Go(func() {
						<-start
						results[i] = c.do(t, q, vars{"id": target, "r": strconv.Itoa(w.agent)})
					})
				}
				close(start)
				wg.Wait()
				left := w.activeAdmins(t)
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
	}
}

// TestDuplicateEmailRace creates the same email at the same moment, on
// PostgreSQL: one create succeeds, the others get CONFLICT on email.
func TestDuplicateEmailRace(t *testing.T) {
	t.Parallel()
	w := newLcWorld(t, storetest.PostgresURL(t))
	const n = 8
	for round := range 3 {
		email := fmt.Sprintf("twin%d@acme.test", round)
		start := make(chan struct{})
		results := make([]*response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				results[i] = w.admin.do(t, `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`,
					vars{"i": vars{"firstName": "Twin", "lastName": strconv.Itoa(i), "email": email, "roleID": strconv.Itoa(w.agent)}})
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
		if got := w.db.User.Query().Where(user.Email(email)).CountX(w.sys); got != 1 {
			t.Errorf("round %d: %d users have %s", round, got, email)
		}
	}
}
