package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"roster/ent"
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
	return map[string]doer{
		"http":      c,
		"websocket": &wsDoer{c: dialWS(t, srv.url, c.token)},
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
			id status role { name users { totalCount } } divisions { name members(first: 5) { edges { node { email } } } }
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
			d.do(t, accept, vars{"t": token, "p": "ivy's long password"}).decode(t, &got)
			a := got.AcceptInvitation
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
