package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"roster/internal/account"
	"roster/internal/fixture"
	"roster/internal/store/storetest"
)

// nest returns a filter of users n deep: users reached through their
// divisions' members, and so on, around leaf.
func nest(n int, leaf vars) vars {
	if n%2 == 0 {
		return vars{"not": nest(n-1, leaf)}
	}
	w := leaf
	for i := 1; i < n; i += 2 {
		w = vars{"hasDivisionsWith": []vars{{"hasMembersWith": []vars{w}}}}
	}
	return w
}

// nots returns a filter of users made of n nested nots around leaf.
func nots(n int, leaf vars) vars {
	w := leaf
	for i := 1; i < n; i++ {
		w = vars{"not": w}
	}
	return w
}

// TestFilterBounds: filters nested too deep or too large are refused
// before anything runs, with BAD_USER_INPUT naming the argument, whether
// the filter is written in the document or sent as variables, on a root
// connection or a nested one, over HTTP and the websocket, on SQLite and
// PostgreSQL; filters within the limits run.
func TestFilterBounds(t *testing.T) {
	t.Parallel()
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = strconv.Itoa(i + 1)
		}
		return out
	}
	docNots := func(n int) string {
		return strings.Repeat("{not: ", n-1) + `{email: "x@acme.test"}` + strings.Repeat("}", n-1)
	}
	const (
		usersW  = `query($w: UserWhereInput) { users(where: $w) { totalCount } }`
		nestedW = `query($w: UserWhereInput) { divisions(first: 5) { edges { node { members(first: 5, where: $w) { totalCount } } } } }`
		rolesW  = `query($w: UserWhereInput!) { roles(first: 5) { edges { node { users(first: 5, where: {and: [$w]}) { totalCount } } } } }`
	)
	leaf := vars{"email": "x@acme.test"}
	cases := []struct {
		name  string
		query string
		vars  vars
		// ok: the operation runs; else it is refused, naming where.
		ok bool
	}{
		{"8 deep, variables", usersW, vars{"w": nots(8, leaf)}, true},
		{"9 deep, variables", usersW, vars{"w": nots(9, leaf)}, false},
		{"8 deep through edges, variables", usersW, vars{"w": nest(8, leaf)}, true},
		{"9 deep through edges, variables", usersW, vars{"w": nest(9, leaf)}, false},
		{"300 has…With levels, variables", usersW, vars{"w": nest(300, leaf)}, false},
		{"2000 nots, variables", usersW, vars{"w": nots(2000, leaf)}, false},
		{"9 nots, document", `{ users(where: ` + docNots(9) + `) { totalCount } }`, nil, false},
		{"8 nots, document", `{ users(where: ` + docNots(8) + `) { totalCount } }`, nil, true},
		{"nested connection, 300 levels, variables", nestedW, vars{"w": nest(300, leaf)}, false},
		{"nested connection, 30 nots, document", `{ divisions(first: 5) { edges { node { members(first: 5, where: ` + docNots(30) + `) { totalCount } } } } }`, nil, false},
		{"nested connection within a literal, variables", rolesW, vars{"w": nots(8, leaf)}, false},
		{"nested connection in a fragment", `query($w: UserWhereInput) { divisions(first: 5) { edges { node { ...M } } } } fragment M on Division { members(first: 5, where: $w) { totalCount } }`,
			vars{"w": nest(100, leaf)}, false},
		{"100 IDs", usersW, vars{"w": vars{"idIn": ids(100)}}, true},
		{"101 IDs", usersW, vars{"w": vars{"idIn": ids(101)}}, false},
		{"101 predicates in or", usersW, vars{"w": vars{"or": func() []vars {
			out := make([]vars, 100)
			for i := range out {
				out[i] = vars{"email": fmt.Sprintf("u%d@acme.test", i)}
			}
			return out
		}()}}, false},
	}
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, target.URL(t))
			admin := srv.login(t, "admin@acme.test", adminPassword)
			// A division with a member, so that nested connections have
			// something to load.
			admin.do(t, `mutation { createDivision(input: {name: "Support"}) { id } }`, nil)
			for name, d := range transports(t, srv, admin) {
				t.Run(name, func(t *testing.T) {
					for _, tc := range cases {
						t.Run(tc.name, func(t *testing.T) {
							start := time.Now()
							r := d.do(t, tc.query, tc.vars)
							if tc.ok {
								if len(r.Errors) > 0 {
									t.Fatalf("refused: %+v", r.Errors)
								}
								return
							}
							r.wantError(t, "BAD_USER_INPUT", "where")
							if len(r.Errors) != 1 {
								t.Errorf("want one error, got %+v", r.Errors)
							}
							if string(r.Data) != "" && string(r.Data) != "null" {
								t.Errorf("refused, yet data %s", r.Data)
							}
							if d := time.Since(start); d > 5*time.Second {
								t.Errorf("refused after %v", d)
							}
						})
					}
				})
			}
		})
	}
}

// sumCounts adds up every totalCount of a response's data.
func sumCounts(t *testing.T, r *response) int {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	var data any
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
	var walk func(v any) int
	walk = func(v any) int {
		n := 0
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if c, ok := x.(float64); ok && k == "totalCount" {
					n += int(c)
				} else {
					n += walk(x)
				}
			}
		case []any:
			for _, x := range v {
				n += walk(x)
			}
		}
		return n
	}
	return walk(data)
}

// TestFilterScope: a supervisor scoped to their divisions learns nothing
// through filters of the users they may not see (a member of another
// division, or of another organization): not through nested connections,
// not through has…With predicates on edges, not through hasMembers and
// hasUsers, whether the filter is in the document or in variables, over
// HTTP and the websocket. The users they see still match, and an admin's
// answers show that the filters do match the hidden users.
func TestFilterScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := storetest.SQLiteURL(t)
	srv := startServer(t, dbURL)
	admin := srv.login(t, "admin@acme.test", adminPassword)

	var roles struct {
		Roles struct {
			Edges []struct{ Node struct{ ID, Builtin string } }
		}
	}
	admin.do(t, `{ roles { edges { node { id builtin } } } }`, nil).decode(t, &roles)
	role := map[string]string{}
	for _, e := range roles.Roles.Edges {
		role[e.Node.Builtin] = e.Node.ID
	}
	var custom struct{ CreateRole struct{ ID string } }
	admin.do(t, `mutation { createRole(input: {name: "Hidden", permissions: []}) { id } }`, nil).decode(t, &custom)
	support, sales := admin.createDivision(t, "Support"), admin.createDivision(t, "Sales")
	admin.createUser(t, vars{"firstName": "Sue", "lastName": "Scoped", "email": "sue@acme.test", "password": "scoped supervisor passphrase",
		"roleID": role["SUPERVISOR"], "chatAccess": "ASSIGNED_DIVISIONS", "divisionIDs": []string{support}})
	admin.createUser(t, vars{"firstName": "Val", "lastName": "Visible", "email": "visible.person@acme.test", "roleID": role["AGENT"], "divisionIDs": []string{support}})
	admin.createUser(t, vars{"firstName": "Hal", "lastName": "Hidden", "email": "hidden.person@acme.test", "roleID": role["AGENT"], "divisionIDs": []string{sales}})
	admin.createUser(t, vars{"firstName": "Hil", "lastName": "Hidden", "email": "hidden.other@acme.test", "roleID": custom.CreateRole.ID, "divisionIDs": []string{sales}})
	scoped := srv.login(t, "sue@acme.test", "scoped supervisor passphrase")

	// Globex, with a user whose email starts like Acme's hidden ones.
	db := fixture.MustOpenDB(t, dbURL)
	if _, _, err := account.CreateOrganization(ctx, db.Client, "Globex", account.Admin{FirstName: "Gina", LastName: "Globex", Email: "hidden.admin@globex.test", Password: "globex admin passphrase"}); err != nil {
		t.Fatal(err)
	}

	const (
		members      = `query($p: String!) { divisions { edges { node { members(where: {emailHasPrefix: $p}) { totalCount } } } } }`
		membersRole  = `query($p: String!) { divisions { edges { node { members(where: {hasRoleWith: [{hasUsersWith: [{emailHasPrefix: $p}]}]}) { totalCount } } } } }`
		membersVar   = `query($w: UserWhereInput) { divisions { edges { node { members(where: $w) { totalCount } } } } }`
		roleUsers    = `query($p: String!) { roles { edges { node { users(where: {or: [{hasDivisionsWith: [{hasMembersWith: [{emailHasPrefix: $p}]}]}, {hasRoleWith: [{hasUsersWith: [{emailHasPrefix: $p}]}]}]}) { totalCount } } } } }`
		usersNot     = `query($p: String!) { users(where: {not: {hasRoleWith: [{not: {hasUsersWith: [{emailHasPrefix: $p}]}}]}}) { totalCount } }`
		divisionsVar = `query($w: DivisionWhereInput) { divisions(where: $w) { totalCount } }`
		rolesVar     = `query($w: RoleWhereInput) { roles(where: $w) { totalCount } }`
		channelsVar  = `query($w: ChannelWhereInput) { channels(where: $w) { totalCount } }`
	)
	prefix := func(p string) vars { return vars{"p": p} }
	where := func(w vars) vars { return vars{"w": w} }
	byRole := func(p string) vars {
		return vars{"hasRoleWith": []vars{{"hasUsersWith": []vars{{"emailHasPrefix": p}}}}}
	}
	cases := []struct {
		name          string
		query         string
		vars          vars
		admin, scoped int
	}{
		{"nested members by email", members, prefix("hidden"), 2, 0},
		{"nested members by email, visible", members, prefix("visible"), 1, 1},
		{"nested members through their role's users", membersRole, prefix("hidden.person"), 2, 0},
		{"nested members through their role's users, visible", membersRole, prefix("visible"), 2, 1},
		{"nested members, the filter a variable", membersVar, where(byRole("hidden.person")), 2, 0},
		{"nested role users through divisions or roles", roleUsers, prefix("hidden.person"), 3, 0},
		{"users through not and a role's users", usersNot, prefix("hidden.other"), 1, 0},
		{"divisions having a hidden member", divisionsVar, where(vars{"hasMembersWith": []vars{{"emailHasPrefix": "hidden"}}}), 1, 0},
		{"divisions having members, among Sales", divisionsVar, where(vars{"name": "Sales", "hasMembers": true}), 1, 0},
		{"divisions having no members, among Sales", divisionsVar, where(vars{"name": "Sales", "hasMembers": false}), 0, 1},
		{"roles having users, among Hidden", rolesVar, where(vars{"name": "Hidden", "hasUsers": true}), 1, 0},
		{"roles having no users, among Hidden", rolesVar, where(vars{"name": "Hidden", "and": []vars{{"hasUsers": false}}}), 0, 1},
		{"roles having users, or not", rolesVar, where(vars{"name": "Hidden", "or": []vars{{"hasUsers": true}, {"not": vars{"hasUsers": false}}}}), 1, 0},
		{"channels through divisions' members", channelsVar, where(vars{"hasDivisionsWith": []vars{{"hasMembersWith": []vars{{"emailHasPrefix": "hidden"}}}}}), 0, 0},
		{"another organization's user", members, prefix("hidden.admin"), 0, 0},
		{"another organization's user through roles", rolesVar, where(vars{"hasUsersWith": []vars{{"emailHasPrefix": "hidden.admin"}}}), 0, 0},
	}
	for _, name := range []string{"http", "websocket"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Opened once the test runs: a socket left unread while the
			// test waits its turn would miss the server's pings.
			asAdmin, asScoped := transports(t, srv, admin)[name], transports(t, srv, scoped)[name]
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if got := sumCounts(t, asAdmin.do(t, tc.query, tc.vars)); got != tc.admin {
						t.Errorf("admin counts %d, want %d", got, tc.admin)
					}
					if got := sumCounts(t, asScoped.do(t, tc.query, tc.vars)); got != tc.scoped {
						t.Errorf("scoped supervisor counts %d, want %d", got, tc.scoped)
					}
				})
			}
		})
	}
}
