package main

import (
	"slices"
	"strings"
	"testing"

	"roster/internal/store/storetest"
)

// TestInvalidFieldsAtOnce: an input with several invalid fields gets one
// BAD_USER_INPUT error for each, with its field, in one answer, so that a
// form can mark them all; nothing is written. Over HTTP and the websocket,
// on SQLite and PostgreSQL.
func TestInvalidFieldsAtOnce(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1001)
	cases := []struct {
		name  string
		query string
		vars  func(f *validationFixture) vars
		want  []string
	}{
		{"createUser", `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`,
			func(f *validationFixture) vars {
				return vars{"i": vars{"firstName": " ", "lastName": strings.Repeat("L", 101), "email": "not an email", "phone": "12",
					"avatarURL": "ftp://example.com/a.png", "password": "short", "roleID": f.agentRole}}
			},
			[]string{"avatarURL", "email", "firstName", "lastName", "password", "phone"}},
		{"createUser, one invalid field", `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`,
			func(f *validationFixture) vars {
				return vars{"i": vars{"firstName": "Ana", "lastName": "Lee", "email": "ana@@acme.test", "roleID": f.agentRole}}
			},
			[]string{"email"}},
		{"updateUser", `mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }`,
			func(f *validationFixture) vars {
				return vars{"id": f.user, "i": vars{"firstName": "", "email": "x", "password": "short"}}
			},
			[]string{"email", "firstName", "password"}},
		{"updateUser: the password may not be the email", `mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }`,
			func(f *validationFixture) vars {
				return vars{"id": f.user, "i": vars{"lastName": "", "password": "val.id@acme.test"}}
			},
			[]string{"lastName", "password"}},
		{"createDivision", `mutation($i: CreateDivisionInput!) { createDivision(input: $i) { id } }`,
			func(*validationFixture) vars { return vars{"i": vars{"name": "", "description": long}} },
			[]string{"description", "name"}},
		{"updateRole", `mutation($id: ID!, $i: UpdateRoleInput!) { updateRole(id: $id, input: $i) { id } }`,
			func(f *validationFixture) vars {
				return vars{"id": f.role, "i": vars{"name": "  ", "description": long}}
			},
			[]string{"description", "name"}},
	}
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			f := newValidationFixture(t, target.URL(t))
			for name, d := range transports(t, f.srv, f.admin) {
				t.Run(name, func(t *testing.T) {
					for _, tc := range cases {
						t.Run(tc.name, func(t *testing.T) {
							before := f.snapshot(t)
							r := d.do(t, tc.query, tc.vars(f))
							var fields []string
							for _, e := range r.Errors {
								if e.Extensions.Code != "BAD_USER_INPUT" || !strings.HasPrefix(e.Message, e.Extensions.Field+": ") {
									t.Errorf("error %q: code %s, field %q", e.Message, e.Extensions.Code, e.Extensions.Field)
								}
								fields = append(fields, e.Extensions.Field)
							}
							slices.Sort(fields)
							if !slices.Equal(fields, tc.want) {
								t.Fatalf("fields %q, want %q: %+v", fields, tc.want, r.Errors)
							}
							if after := f.snapshot(t); after != before {
								t.Errorf("something changed:\n%s\nthen\n%s", before, after)
							}
						})
					}
				})
			}
		})
	}
}

type validationFixture struct {
	srv             *server
	admin           *client
	agentRole, role string
	user            string
}

func newValidationFixture(t *testing.T, dbURL string) *validationFixture {
	t.Helper()
	f := &validationFixture{srv: startServer(t, dbURL)}
	f.admin = f.srv.login(t, "admin@acme.test", adminPassword)
	var roles struct {
		Roles struct {
			Edges []struct{ Node struct{ ID, Builtin string } }
		}
	}
	f.admin.do(t, `{ roles { edges { node { id builtin } } } }`, nil).decode(t, &roles)
	for _, e := range roles.Roles.Edges {
		if e.Node.Builtin == "AGENT" {
			f.agentRole = e.Node.ID
		}
	}
	var role struct{ CreateRole struct{ ID string } }
	f.admin.do(t, `mutation { createRole(input: {name: "Custom", permissions: []}) { id } }`, nil).decode(t, &role)
	f.role = role.CreateRole.ID
	f.user = f.admin.createUser(t, vars{"firstName": "Val", "lastName": "Id", "email": "val.id@acme.test", "roleID": f.agentRole})
	return f
}

// snapshot describes the users, divisions and roles.
func (f *validationFixture) snapshot(t *testing.T) string {
	t.Helper()
	r := f.admin.do(t, `{ users(where: {or: [{status: ACTIVE}, {statusNEQ: ACTIVE}]}) { edges { node { id firstName lastName email phone avatarURL updatedAt } } }
		divisions { edges { node { id name description } } } roles { edges { node { id name description } } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("snapshot: %+v", r.Errors)
	}
	return string(r.Data)
}
