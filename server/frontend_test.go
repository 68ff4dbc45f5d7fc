package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"roster/ent"
	entuser "roster/ent/user"
	"roster/internal/account"
	"roster/internal/fixture"
	"roster/internal/store/storetest"
	"roster/internal/viewer"
)

// The tests in this file check the API as a frontend developer meets it:
// the shapes of inputs, pagination, and answers that read as they should.
// Each runs over HTTP and over the websocket.

// doer sends one GraphQL operation and returns its response.
type doer interface {
	do(t testing.TB, query string, variables vars) *response
}

// wsDoer runs operations over one graphql-transport-ws socket.
type wsDoer struct {
	c   *wsClient
	seq int
}

func (w *wsDoer) do(t testing.TB, query string, variables vars) *response {
	t.Helper()
	w.seq++
	id := fmt.Sprint("op", w.seq)
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": variables})
	w.c.send(wsMessage{ID: id, Type: "subscribe", Payload: payload})
	for {
		m := w.c.read()
		if m.ID != id {
			continue
		}
		var r response
		switch m.Type {
		case "next":
			if err := json.Unmarshal(m.Payload, &r); err != nil {
				t.Fatalf("decode %s: %v", m.Payload, err)
			}
		case "error":
			if err := json.Unmarshal(m.Payload, &r.Errors); err != nil {
				t.Fatalf("decode %s: %v", m.Payload, err)
			}
		default:
			t.Fatalf("unexpected %s message: %s", m.Type, m.Payload)
		}
		return &r
	}
}

// transports returns, for a logged-in client, a way to send operations
// over HTTP and one over a websocket.
func transports(t *testing.T, srv *server, c *client) map[string]doer {
	t.Helper()
	r := c.do(t, `{ me { online } }`, nil)
	ws := &wsDoer{c: dialWS(t, srv.url, c.token)}
	if len(r.Errors) > 0 {
		return map[string]doer{"http": c, "websocket": ws} // a machine credential: no user, no presence
	}
	// A user's first socket turns them online just after it is
	// acknowledged, which changes their row: wait for it, so that what a
	// test compares before and after its request is not changed by it
	// meanwhile.
	c.awaitOnline(t)
	return map[string]doer{"http": c, "websocket": ws}
}

// awaitOnline waits until the client's user is online: their socket's
// presence write, which changes their row, has landed.
func (c *client) awaitOnline(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var now struct{ Me struct{ Online bool } }
		c.do(t, `{ me { online } }`, nil).decode(t, &now)
		if now.Me.Online {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the websocket did not turn its user online within 10 s")
		}
	}
}

// frontendFixture is a server with two organizations, Acme and Globex,
// each with its admin logged in.
type frontendFixture struct {
	srv    *server
	db     *ent.Client
	sys    context.Context
	acme   *client
	globex *client
	// roles maps "acme.ADMIN", "globex.AGENT", … to role IDs.
	roles map[string]string
}

func newFrontendFixture(t *testing.T, dbURL string) *frontendFixture {
	t.Helper()
	ctx := context.Background()
	srv := startServer(t, dbURL)
	db := fixture.MustOpenDB(t, dbURL)
	sys := viewer.NewSystemContext(ctx)
	if _, _, err := account.CreateOrganization(sys, db.Client, "Globex", account.Admin{FirstName: "Gina", LastName: "Globex", Email: "admin@globex.test", Password: adminPassword}); err != nil {
		t.Fatal(err)
	}
	f := &frontendFixture{
		srv: srv, db: db.Client, sys: sys,
		acme:   srv.login(t, "admin@acme.test", adminPassword),
		globex: srv.login(t, "admin@globex.test", adminPassword),
		roles:  map[string]string{},
	}
	for org, c := range map[string]*client{"acme": f.acme, "globex": f.globex} {
		var got struct {
			Roles struct {
				Edges []struct{ Node struct{ ID, Builtin string } }
			}
		}
		c.do(t, `{ roles { edges { node { id builtin } } } }`, nil).decode(t, &got)
		for _, e := range got.Roles.Edges {
			f.roles[org+"."+e.Node.Builtin] = e.Node.ID
		}
	}
	return f
}

func (f *frontendFixture) createRole(t *testing.T, c *client, name string, perms ...string) string {
	t.Helper()
	var got struct{ CreateRole struct{ ID string } }
	c.do(t, `mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }`, vars{"i": vars{"name": name, "permissions": perms}}).decode(t, &got)
	return got.CreateRole.ID
}

func TestUpdateRolePermissions(t *testing.T) {
	t.Parallel()
	f := newFrontendFixture(t, storetest.SQLiteURL(t))
	foreign := f.createRole(t, f.globex, "Globex auditors", "VIEW_REPORTS")
	const update = `mutation($id: ID!, $i: UpdateRoleInput!) { updateRole(id: $id, input: $i) { permissions } }`
	for name, d := range transports(t, f.srv, f.acme) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				start []string
				input vars
				want  []string
			}{
				{"append to the current ones", []string{"VIEW_REPORTS"}, vars{"appendPermissions": []string{"BROADCAST"}},
					[]string{"BROADCAST", "VIEW_REPORTS"}},
				{"append one already held", []string{"VIEW_REPORTS"}, vars{"appendPermissions": []string{"VIEW_REPORTS", "MANAGE_CHANNELS"}},
					[]string{"MANAGE_CHANNELS", "VIEW_REPORTS"}},
				{"append to an empty role", nil, vars{"appendPermissions": []string{"MANAGE_DIVISIONS"}},
					[]string{"MANAGE_DIVISIONS"}},
				{"set and append at once", []string{"VIEW_REPORTS"}, vars{"permissions": []string{"BROADCAST"}, "appendPermissions": []string{"VIEW_ALL_CHATS"}},
					[]string{"BROADCAST", "VIEW_ALL_CHATS"}},
				{"set only", []string{"VIEW_REPORTS"}, vars{"permissions": []string{"BROADCAST"}},
					[]string{"BROADCAST"}},
				{"append nothing", []string{"VIEW_REPORTS"}, vars{"appendPermissions": []string{}},
					[]string{"VIEW_REPORTS"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					id := f.createRole(t, f.acme, name+" "+tc.name, tc.start...)
					var got struct {
						UpdateRole struct{ Permissions []string }
					}
					d.do(t, update, vars{"id": id, "i": tc.input}).decode(t, &got)
					if fmt.Sprint(got.UpdateRole.Permissions) != fmt.Sprint(tc.want) {
						t.Errorf("permissions = %v, want %v", got.UpdateRole.Permissions, tc.want)
					}
					var read struct {
						Node struct{ Permissions []string }
					}
					f.acme.do(t, `query($id: ID!) { node(id: $id) { ... on Role { permissions } } }`, vars{"id": id}).decode(t, &read)
					if fmt.Sprint(read.Node.Permissions) != fmt.Sprint(tc.want) {
						t.Errorf("stored permissions = %v, want %v", read.Node.Permissions, tc.want)
					}
				})
			}
			t.Run("the Admin role keeps every permission", func(t *testing.T) {
				var got struct {
					UpdateRole struct{ Permissions []string }
				}
				d.do(t, update, vars{"id": f.roles["acme.ADMIN"], "i": vars{"appendPermissions": []string{"BROADCAST"}}}).decode(t, &got)
				if len(got.UpdateRole.Permissions) != len(viewer.AllPermissions) {
					t.Errorf("Admin permissions = %v", got.UpdateRole.Permissions)
				}
			})
			t.Run("another organization's role is not found and unchanged", func(t *testing.T) {
				d.do(t, update, vars{"id": foreign, "i": vars{"appendPermissions": []string{"MANAGE_USERS"}}}).wantError(t, "NOT_FOUND", "")
				var read struct {
					Node struct{ Permissions []string }
				}
				f.globex.do(t, `query($id: ID!) { node(id: $id) { ... on Role { permissions } } }`, vars{"id": foreign}).decode(t, &read)
				if fmt.Sprint(read.Node.Permissions) != "[VIEW_REPORTS]" {
					t.Errorf("foreign role's permissions = %v", read.Node.Permissions)
				}
			})
			t.Run("an unknown permission is refused with its field", func(t *testing.T) {
				id := f.createRole(t, f.acme, name+" unknown", "VIEW_REPORTS")
				d.do(t, update, vars{"id": id, "i": vars{"appendPermissions": []string{"FLY"}}}).wantError(t, "BAD_USER_INPUT", "appendPermissions.0")
			})
		})
	}
}

func TestAcceptInvitationAnswersNestedFields(t *testing.T) {
	t.Parallel()
	dbURL := storetest.SQLiteURL(t)
	f := newFrontendFixture(t, dbURL)
	box := &outbox{client: f.db}
	support := f.acme.createDivision(t, "Support")
	const accept = `mutation($t: String!, $p: String!) {
		acceptInvitation(token: $t, password: $p) {
			user { id status role { name users { totalCount } } divisions { name members(first: 5) { edges { node { email } } } } }
		}
	}`
	// Over HTTP only: websockets take only logged-in users, and whoever
	// accepts an invitation is not logged in yet.
	for _, tc := range []struct {
		name      string
		divisions []string
	}{
		{"member of a division", []string{support}},
		{"member of none", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email := strings.ReplaceAll(tc.name, " ", ".") + "@acme.test"
			f.acme.createUser(t, vars{"firstName": "Ivy", "lastName": "Invited", "email": email, "roleID": f.roles["acme.AGENT"], "divisionIDs": tc.divisions})
			token, err := url.QueryUnescape(box.last(t, email, invitationLink))
			if err != nil {
				t.Fatal(err)
			}
			d := f.srv.client("")
			var got struct {
				AcceptInvitation struct {
					User struct {
						Status string
						Role   struct {
							Name  string
							Users struct{ TotalCount int }
						}
						Divisions []struct {
							Name    string
							Members struct {
								Edges []struct{ Node struct{ Email string } }
							}
						}
					}
				}
			}
			d.do(t, accept, vars{"t": token, "p": "ivy's long password"}).decode(t, &got)
			a := got.AcceptInvitation.User
			if a.Status != "ACTIVE" || a.Role.Name != "Agent" || a.Role.Users.TotalCount < 1 || len(a.Divisions) != len(tc.divisions) {
				t.Errorf("accepted user = %+v", a)
			}
			for _, d := range a.Divisions {
				if d.Name != "Support" || len(d.Members.Edges) == 0 {
					t.Errorf("accepted user's division = %+v", d)
				}
			}
		})
	}
}

// TestPagination runs on both databases: cursors hold values of every
// order field's type (text, times, enums), compared by each database.
func TestPagination(t *testing.T) {
	t.Parallel()
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			testPagination(t, target.URL(t))
		})
	}
}

func testPagination(t *testing.T, dbURL string) {
	f := newFrontendFixture(t, dbURL)
	for _, name := range []string{"Cy", "Bo", "Di", "Al"} {
		f.acme.createUser(t, vars{"firstName": name, "lastName": "Page", "email": strings.ToLower(name) + "@acme.test", "roleID": f.roles["acme.AGENT"]})
	}
	// Bo and Di were seen before; the others never.
	for i, email := range []string{"bo@acme.test", "di@acme.test"} {
		if err := f.db.User.Update().Where(entuser.Email(email)).SetLastSeenAt(time.Now().Add(-time.Duration(i+1) * time.Hour)).Exec(f.sys); err != nil {
			t.Fatal(err)
		}
	}
	// Acme has its admin and Al, Bo, Cy, Di; Globex only its admin.
	type page struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage, HasPreviousPage bool
			StartCursor, EndCursor       *string
		}
		Edges []struct {
			Cursor string
			Node   struct{ FirstName string }
		}
	}
	users := func(t *testing.T, d doer, args string, v vars) page {
		t.Helper()
		var got struct{ Users page }
		decl := ""
		if strings.Contains(args, "$after") {
			decl = "($after: Cursor)"
		}
		d.do(t, `query`+decl+` { users(`+args+`) {
			totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { firstName } } } }`, v).decode(t, &got)
		return got.Users
	}
	nameCursor := users(t, f.acme, "first: 2, orderBy: {field: FIRST_NAME}", nil).PageInfo.EndCursor
	defaultCursor := users(t, f.acme, "first: 2", nil).PageInfo.EndCursor
	if nameCursor == nil || defaultCursor == nil {
		t.Fatal("no end cursor")
	}

	for name, d := range transports(t, f.srv, f.acme) {
		t.Run(name, func(t *testing.T) {
			t.Run("pageInfo alone tells the page's cursors", func(t *testing.T) {
				for _, tc := range []struct {
					args     string
					wantNext bool
				}{
					{"first: 1", true},
					{"first: 1, orderBy: {field: FIRST_NAME}", true},
					{"first: 5", false},
					{"first: 50", false},
					{"last: 1", false},
				} {
					var got struct{ Users page }
					d.do(t, `{ users(`+tc.args+`) { pageInfo { hasNextPage startCursor endCursor } } }`, nil).decode(t, &got)
					full := users(t, d, tc.args, nil)
					if got.Users.PageInfo.HasNextPage != tc.wantNext || got.Users.PageInfo.EndCursor == nil ||
						*got.Users.PageInfo.EndCursor != full.Edges[len(full.Edges)-1].Cursor || *got.Users.PageInfo.StartCursor != full.Edges[0].Cursor {
						t.Errorf("users(%s) pageInfo = %+v, edges %+v", tc.args, got.Users.PageInfo, full.Edges)
					}
				}
				var nested struct {
					Roles struct {
						Edges []struct {
							Node struct {
								Builtin string
								Users   page
							}
						}
					}
				}
				d.do(t, `{ roles { edges { node { builtin users(first: 1) { pageInfo { hasNextPage endCursor } } } } } }`, nil).decode(t, &nested)
				for _, e := range nested.Roles.Edges {
					switch pi := e.Node.Users.PageInfo; e.Node.Builtin {
					case "AGENT":
						if !pi.HasNextPage || pi.EndCursor == nil {
							t.Errorf("Agent role's users pageInfo = %+v", pi)
						}
					case "ADMIN":
						if pi.HasNextPage || pi.EndCursor == nil {
							t.Errorf("Admin role's users pageInfo = %+v", pi)
						}
					}
				}
			})

			t.Run("paging by name visits every user once, in order", func(t *testing.T) {
				var seen []string
				var after any
				for range 10 {
					p := users(t, d, "first: 2, after: $after, orderBy: {field: FIRST_NAME, direction: DESC}", vars{"after": after})
					for _, e := range p.Edges {
						seen = append(seen, e.Node.FirstName)
					}
					if !p.PageInfo.HasNextPage {
						break
					}
					after = *p.PageInfo.EndCursor
				}
				// The admin's first name is the server's default, "Admin".
				if got := strings.Join(seen, ","); got != "Di,Cy,Bo,Al,Admin" {
					t.Errorf("visited %s", got)
				}
			})

			t.Run("paging by every order field visits every user once", func(t *testing.T) {
				for _, field := range []string{"CREATED_AT", "UPDATED_AT", "FIRST_NAME", "LAST_NAME", "DISPLAY_NAME", "EMAIL", "STATUS", "AVAILABILITY"} {
					for _, dir := range []string{"ASC", "DESC"} {
						seen := map[string]bool{}
						var after any
						for range 10 {
							p := users(t, d, "first: 2, after: $after, orderBy: {field: "+field+", direction: "+dir+"}", vars{"after": after})
							for _, e := range p.Edges {
								if seen[e.Node.FirstName] {
									t.Errorf("%s %s: %s twice", field, dir, e.Node.FirstName)
								}
								seen[e.Node.FirstName] = true
							}
							if !p.PageInfo.HasNextPage {
								break
							}
							after = *p.PageInfo.EndCursor
						}
						if len(seen) != 5 {
							t.Errorf("%s %s: visited %v, want 5 users", field, dir, seen)
						}
					}
				}
			})

			t.Run("bad page arguments name the argument", func(t *testing.T) {
				for _, tc := range []struct {
					name  string
					query string
					v     vars
					field string
				}{
					{"a name cursor in the default order", `query($after: Cursor) { users(after: $after) { totalCount } }`, vars{"after": *nameCursor}, "after"},
					{"a name cursor in another order", `query($after: Cursor) { users(after: $after, orderBy: {field: EMAIL}) { totalCount } }`, vars{"after": *nameCursor}, "after"},
					{"a default cursor in the name order", `query($before: Cursor) { users(last: 1, before: $before, orderBy: {field: FIRST_NAME}) { edges { cursor } } }`, vars{"before": *defaultCursor}, "before"},
					{"a name cursor in the document", `{ users(after: "` + *nameCursor + `", orderBy: {field: CREATED_AT}) { edges { cursor } } }`, nil, "after"},
					{"a name cursor on a nested connection", `query($after: Cursor) { roles { edges { node { users(first: 1, after: $after) { edges { cursor } } } } } }`, vars{"after": *nameCursor}, "after"},
					{"not base64", `{ users(after: "not a cursor!") { totalCount } }`, nil, "after"},
					{"base64 of nothing", `{ users(before: "") { totalCount } }`, nil, "before"},
					{"base64 of text", `{ users(after: "aGVsbG8gd29ybGQ") { totalCount } }`, nil, "after"},
					{"a number", `query($after: Cursor) { users(after: $after) { totalCount } }`, vars{"after": 12}, "after"},
					{"malformed on a nested connection", `{ roles { edges { node { users(first: 1, after: "xx") { edges { cursor } } } } } }`, nil, "after"},
					{"negative first", `{ users(first: -1) { totalCount } }`, nil, "first"},
					{"negative last as a variable", `query($last: Int) { users(last: $last) { totalCount } }`, vars{"last": -3}, "last"},
					{"negative first on a nested connection", `{ divisions { edges { node { members(first: -1) { totalCount } } } } }`, nil, "first"},
					{"first and last", `{ users(first: 1, last: 1) { totalCount } }`, nil, "last"},
				} {
					t.Run(tc.name, func(t *testing.T) {
						r := d.do(t, tc.query, tc.v)
						r.wantError(t, "BAD_USER_INPUT", tc.field)
						if len(r.Errors) > 0 && strings.Contains(r.Errors[0].Message, "msgpack") {
							t.Errorf("the message shows the decoder: %q", r.Errors[0].Message)
						}
					})
				}
			})

			t.Run("a cursor serves its own order in either direction", func(t *testing.T) {
				asc := users(t, d, "first: 10, after: $after, orderBy: {field: FIRST_NAME}", vars{"after": *nameCursor})
				desc := users(t, d, "first: 10, after: $after, orderBy: {field: FIRST_NAME, direction: DESC}", vars{"after": *nameCursor})
				if len(asc.Edges) != 3 || len(desc.Edges) != 1 {
					t.Errorf("after the second name: %d ascending, %d descending", len(asc.Edges), len(desc.Edges))
				}
			})
		})
	}

	t.Run("another organization's connection pages its own users", func(t *testing.T) {
		p := users(t, f.globex, "first: 1", nil)
		if p.TotalCount != 1 || p.PageInfo.HasNextPage || len(p.Edges) != 1 {
			t.Errorf("Globex users = %+v", p)
		}
		p = users(t, f.globex, "first: 5, after: $after", vars{"after": *defaultCursor})
		for _, e := range p.Edges {
			if e.Node.FirstName != "Gina" {
				t.Errorf("Globex sees %s", e.Node.FirstName)
			}
		}
	})
}

// TestUpdateTakesTheCreateShapes checks that update inputs take the lists
// create inputs take, replacing the whole list, beside their add and remove
// fields; and that arguments naming the object changed are called id.
func TestUpdateTakesTheCreateShapes(t *testing.T) {
	t.Parallel()
	f := newFrontendFixture(t, storetest.SQLiteURL(t))
	foreignDiv := f.globex.createDivision(t, "Globex support")
	for name, d := range transports(t, f.srv, f.acme) {
		t.Run(name, func(t *testing.T) {
			a, b, c := f.acme.createDivision(t, name+" A"), f.acme.createDivision(t, name+" B"), f.acme.createDivision(t, name+" C")
			divNames := map[string]string{a: "A", b: "B", c: "C"}
			user := f.acme.createUser(t, vars{"firstName": "Lu", "lastName": "List", "email": name + ".lu@acme.test", "roleID": f.roles["acme.AGENT"], "divisionIDs": []string{a, b}})
			userDivisions := func(t *testing.T) string {
				t.Helper()
				var got struct {
					Node struct{ Divisions []struct{ ID string } }
				}
				f.acme.do(t, `query($id: ID!) { node(id: $id) { ... on User { divisions { id } } } }`, vars{"id": user}).decode(t, &got)
				var names []string
				for _, d := range got.Node.Divisions {
					names = append(names, divNames[d.ID])
				}
				slices.Sort(names)
				return strings.Join(names, ",")
			}
			const updateUser = `mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }`
			for _, tc := range []struct {
				name        string
				input       vars
				want        string
				code, field string
			}{
				{"divisionIDs replaces the list", vars{"divisionIDs": []string{b, c}}, "B,C", "", ""},
				{"an empty divisionIDs empties it", vars{"divisionIDs": []string{}}, "", "", ""},
				{"addDivisionIDs adds", vars{"addDivisionIDs": []string{a}}, "A", "", ""},
				{"a null divisionIDs changes nothing", vars{"divisionIDs": nil, "firstName": "Lou"}, "A", "", ""},
				{"divisionIDs with addDivisionIDs is refused", vars{"divisionIDs": []string{b}, "addDivisionIDs": []string{c}}, "A", "BAD_USER_INPUT", "divisionIDs"},
				{"divisionIDs with clearDivisions is refused", vars{"divisionIDs": []string{b}, "clearDivisions": true}, "A", "BAD_USER_INPUT", "divisionIDs"},
				{"another organization's division is not found", vars{"divisionIDs": []string{b, foreignDiv}}, "A", "NOT_FOUND", "divisionIDs"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := d.do(t, updateUser, vars{"id": user, "i": tc.input})
					if tc.code != "" {
						r.wantError(t, tc.code, tc.field)
					} else {
						r.decode(t, new(any))
					}
					if got := userDivisions(t); got != tc.want {
						t.Errorf("divisions = %q, want %q", got, tc.want)
					}
				})
			}

			t.Run("divisions replace their members and channels", func(t *testing.T) {
				other := f.acme.createUser(t, vars{"firstName": "Mo", "lastName": "Member", "email": name + ".mo@acme.test", "roleID": f.roles["acme.AGENT"], "divisionIDs": []string{c}})
				var ch struct{ CreateChannel struct{ ID string } }
				f.acme.do(t, `mutation($d: [ID!]) { createChannel(input: {type: LIVECHAT, name: "Chat", divisionIDs: $d}) { id } }`, vars{"d": []string{a}}).decode(t, &ch)
				var got struct {
					UpdateDivision struct {
						Members struct {
							Edges []struct{ Node struct{ ID string } }
						}
						Channels []struct{ ID string }
					}
				}
				d.do(t, `mutation($id: ID!, $i: UpdateDivisionInput!) { updateDivision(id: $id, input: $i) { members { edges { node { id } } } channels { id } } }`,
					vars{"id": c, "i": vars{"memberIDs": []string{user}, "channelIDs": []string{ch.CreateChannel.ID}}}).decode(t, &got)
				if m := got.UpdateDivision.Members.Edges; len(m) != 1 || m[0].Node.ID != user {
					t.Errorf("members = %+v, want only %s (not %s)", m, user, other)
				}
				if c := got.UpdateDivision.Channels; len(c) != 1 || c[0].ID != ch.CreateChannel.ID {
					t.Errorf("channels = %+v", c)
				}
				var chGot struct {
					UpdateChannel struct{ Divisions []struct{ ID string } }
				}
				d.do(t, `mutation($id: ID!, $i: UpdateChannelInput!) { updateChannel(id: $id, input: $i) { divisions { id } } }`,
					vars{"id": ch.CreateChannel.ID, "i": vars{"divisionIDs": []string{b}}}).decode(t, &chGot)
				if ds := chGot.UpdateChannel.Divisions; len(ds) != 1 || ds[0].ID != b {
					t.Errorf("channel divisions = %+v, want only B", ds)
				}
				d.do(t, `mutation($id: ID!, $i: UpdateDivisionInput!) { updateDivision(id: $id, input: $i) { id } }`,
					vars{"id": c, "i": vars{"memberIDs": []string{user}, "removeMemberIDs": []string{other}}}).wantError(t, "BAD_USER_INPUT", "memberIDs")
			})

			t.Run("the object changed is id", func(t *testing.T) {
				var got struct {
					SetUserAvailability struct{ Availability string }
					AddDivisionMembers  struct{ ID string }
				}
				d.do(t, `mutation($u: ID!, $d: ID!) { setUserAvailability(id: $u, availability: BUSY) { availability } addDivisionMembers(id: $d, userIDs: [$u]) { id } }`,
					vars{"u": user, "d": a}).decode(t, &got)
				if got.SetUserAvailability.Availability != "BUSY" || got.AddDivisionMembers.ID != a {
					t.Errorf("got %+v", got)
				}
				d.do(t, `mutation($u: ID!) { addDivisionMembers(id: $u, userIDs: [$u]) { id } }`, vars{"u": user}).wantError(t, "NOT_FOUND", "")
				d.do(t, `mutation($d: ID!) { addDivisionMembers(id: $d, userIDs: ["4294999999"]) { id } }`, vars{"d": a}).wantError(t, "NOT_FOUND", "userIDs")
			})
		})
	}
}

func TestPhoneNumbers(t *testing.T) {
	t.Parallel()
	f := newFrontendFixture(t, storetest.SQLiteURL(t))
	var org struct{ Organization struct{ Country string } }
	f.acme.do(t, `{ organization { country } }`, nil).decode(t, &org)
	if org.Organization.Country != "ID" {
		t.Fatalf("default country = %q", org.Organization.Country)
	}
	// Globex works in Britain.
	var gb struct{ SetOrganizationCountry struct{ Country string } }
	f.globex.do(t, `mutation { setOrganizationCountry(country: "gb") { country } }`, nil).decode(t, &gb)
	if gb.SetOrganizationCountry.Country != "GB" {
		t.Fatalf("Globex country = %q", gb.SetOrganizationCountry.Country)
	}
	f.globex.createUser(t, vars{"firstName": "Gil", "lastName": "Globex", "email": "gil@globex.test", "roleID": f.roles["globex.AGENT"], "phone": "+62 812-555-0102"})

	const create = `mutation($i: CreateUserInput!) { createUser(input: $i) { id phone formattedPhone } }`
	for name, d := range transports(t, f.srv, f.acme) {
		t.Run(name, func(t *testing.T) {
			seq := 0
			newUser := func(phone string) *response {
				seq++
				return d.do(t, create, vars{"i": vars{"firstName": "Pia", "lastName": "Phone", "email": fmt.Sprintf("%s.pia%d@acme.test", name, seq), "roleID": f.roles["acme.AGENT"], "phone": phone}})
			}
			t.Run("numbers are read as typed", func(t *testing.T) {
				for _, tc := range []struct{ in, want, formatted string }{
					{"+62 812-555-0102", "+628125550102", "+62 812-5550-102"},
					{"0812 555 0103", "+628125550103", "+62 812-5550-103"},
					{"(0812) 5550-104", "+628125550104", "+62 812-5550-104"},
					{"+44 20 7946 0018", "+442079460018", "+44 20 7946 0018"},
				} {
					var got struct {
						CreateUser struct{ ID, Phone, FormattedPhone string }
					}
					newUser(tc.in).decode(t, &got)
					if got.CreateUser.Phone != tc.want || got.CreateUser.FormattedPhone != tc.formatted {
						t.Errorf("%q stored as %q, shown as %q; want %q, %q", tc.in, got.CreateUser.Phone, got.CreateUser.FormattedPhone, tc.want, tc.formatted)
					}
				}
			})
			t.Run("invalid numbers are refused with the field", func(t *testing.T) {
				for _, in := range []string{"12345", "+62 12", "0812 555 0102 ext", "call me", "020 7946 0018"} {
					newUser(in).wantError(t, "BAD_USER_INPUT", "phone")
				}
			})
			t.Run("updates read numbers the same way", func(t *testing.T) {
				var c struct{ CreateUser struct{ ID string } }
				newUser("+62 812-555-0109").decode(t, &c)
				var got struct{ UpdateUser struct{ Phone string } }
				d.do(t, `mutation($id: ID!) { updateUser(id: $id, input: {phone: "0812 555 0110"}) { phone } }`, vars{"id": c.CreateUser.ID}).decode(t, &got)
				if got.UpdateUser.Phone != "+628125550110" {
					t.Errorf("updated phone = %q", got.UpdateUser.Phone)
				}
				d.do(t, `mutation($id: ID!) { updateUser(id: $id, input: {phone: "0812"}) { phone } }`, vars{"id": c.CreateUser.ID}).wantError(t, "BAD_USER_INPUT", "phone")
			})
			t.Run("channel numbers are read the same way", func(t *testing.T) {
				const createChannel = `mutation($s: Map) { createChannel(input: {type: WHATSAPP, name: "WA", settings: $s}) { settings } }`
				var got struct {
					CreateChannel struct{ Settings map[string]any }
				}
				d.do(t, createChannel, vars{"s": vars{"phoneNumber": "0812 555 0102"}}).decode(t, &got)
				if got.CreateChannel.Settings["phoneNumber"] != "+628125550102" {
					t.Errorf("channel settings = %v", got.CreateChannel.Settings)
				}
				d.do(t, createChannel, vars{"s": vars{"phoneNumber": "12345"}}).wantError(t, "BAD_USER_INPUT", "settings.phoneNumber")
			})
			t.Run("search finds a number however it is typed", func(t *testing.T) {
				for _, tc := range []struct {
					search string
					want   int
				}{
					{"+62 812-555-0102", 1},
					{"+628125550102", 1},
					{"0812 555 0102", 1},
					{"0812-5550-102", 1},
					{"(0812) 555", 4},
					{"+62 812 555", 4},
					{"0812 555 0103 pia", 1},
					{"+44 20 7946 0018", 1},
					{"0812 555 0199", 0},
				} {
					var got struct {
						Users struct {
							Edges []struct{ Node struct{ Email string } }
						}
					}
					d.do(t, `query($s: String) { users(search: $s, first: 50) { edges { node { email } } } }`, vars{"s": tc.search}).decode(t, &got)
					n := 0
					for _, e := range got.Users.Edges {
						if strings.HasPrefix(e.Node.Email, name+".") {
							n++
						}
					}
					if n != tc.want {
						t.Errorf("search %q found %d of this transport's users, want %d: %+v", tc.search, n, tc.want, got.Users.Edges)
					}
				}
			})
		})
	}

	t.Run("each organization reads numbers in its own country", func(t *testing.T) {
		var got struct{ Users struct{ TotalCount int } }
		f.globex.do(t, `{ users(search: "+62 812-555-0102") { totalCount } }`, nil).decode(t, &got)
		if got.Users.TotalCount != 1 {
			t.Errorf("Globex finds %d users with the number, want its own 1", got.Users.TotalCount)
		}
		var local struct{ CreateUser struct{ Phone string } }
		f.globex.do(t, `mutation($i: CreateUserInput!) { createUser(input: $i) { phone } }`, vars{"i": vars{"firstName": "Lon", "lastName": "Don", "email": "lon@globex.test", "roleID": f.roles["globex.AGENT"], "phone": "020 7946 0018"}}).decode(t, &local)
		if local.CreateUser.Phone != "+442079460018" {
			t.Errorf("Globex reads 020 7946 0018 as %q", local.CreateUser.Phone)
		}
		f.globex.do(t, `mutation { setOrganizationCountry(country: "XX") { country } }`, nil).wantError(t, "BAD_USER_INPUT", "country")
		var acme struct{ Organization struct{ Country string } }
		f.acme.do(t, `{ organization { country } }`, nil).decode(t, &acme)
		if acme.Organization.Country != "ID" {
			t.Errorf("Acme's country became %q", acme.Organization.Country)
		}
	})
}
