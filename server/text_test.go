package main

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"roster/internal/store/storetest"
)

// TestTextInput: NUL and other control characters are refused in every
// string input, and line breaks and bidirectional controls in single-line
// ones, with BAD_USER_INPUT naming each offending field, all at once,
// before anything runs: input fields, search text, filters (root and
// nested), login credentials, JSON settings; from variables or the
// document; over HTTP and the websocket; on SQLite and PostgreSQL (where
// NUL used to end in INTERNAL). Multi-line text (descriptions) keeps its
// line breaks and tabs.
func TestTextInput(t *testing.T) {
	t.Parallel()
	var seq atomic.Int64
	email := func() string { return fmt.Sprintf("text%d@acme.test", seq.Add(1)) }
	type fieldErr struct{ field, msg string }
	cases := []struct {
		name  string
		query string
		vars  func(role string) vars
		// want lists the fields refused, in order; none: the operation runs.
		want []string
		// created is an email no user may have after the operation.
		created string
	}{
		{name: "NUL in a name", query: `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`,
			vars: func(role string) vars {
				return vars{"i": vars{"firstName": "Ana\x00", "lastName": "Lee", "email": "nul-name@acme.test", "roleID": role}}
			}, want: []string{"firstName"}, created: "nul-name@acme.test"},
		{name: "every bad field at once", query: `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`,
			vars: func(role string) vars {
				return vars{"i": vars{"firstName": "Ana\nBell", "lastName": "\u202eeeL", "displayName": "tab\there", "email": "several@acme.test\x07",
					"phone": "+6281234567890\u200f", "password": "a long password\x00", "roleID": role}}
			}, want: []string{"displayName", "email", "firstName", "lastName", "password", "phone"}, created: "several@acme.test"},
		{name: "line break in a name, document", query: `mutation { createDivision(input: {name: "Sup\nport"}) { id } }`,
			want: []string{"name"}},
		{name: "NUL in a description, document", query: `mutation { createDivision(input: {name: "Nul desc", description: "a\u0000b"}) { id } }`,
			want: []string{"description"}},
		{name: "a description may span lines", query: `mutation($d: String) { createDivision(input: {name: "Multi", description: $d}) { id } }`,
			vars: func(string) vars { return vars{"d": "First line.\n\tSecond line.\r\n"} }},
		{name: "bidi control in a role name", query: `mutation($n: String!) { createRole(input: {name: $n, permissions: []}) { id } }`,
			vars: func(string) vars { return vars{"n": "Admin\u2066"} }, want: []string{"name"}},
		{name: "search", query: `query($s: String) { users(search: $s) { totalCount } }`,
			vars: func(string) vars { return vars{"s": "ana\x00"} }, want: []string{"search"}},
		{name: "filter", query: `query($w: UserWhereInput) { users(where: $w) { totalCount } }`,
			vars: func(string) vars {
				return vars{"w": vars{"or": []vars{{"email": "a@acme.test"}, {"emailHasPrefix": "\x1b"}}}}
			},
			want: []string{"where.or.1.emailHasPrefix"}},
		{name: "filter on a nested connection", query: `{ divisions { edges { node { members(where: {firstNameContains: "\u0000"}) { totalCount } } } } }`,
			want: []string{"where.firstNameContains"}},
		{name: "filter on descriptions may span lines", query: `{ divisions(where: {descriptionContains: "a\nb"}) { totalCount } }`},
		{name: "login", query: `mutation($i: LoginInput!) { login(input: $i) { token } }`,
			vars: func(string) vars { return vars{"i": vars{"email": "admin@acme.test\x00", "password": adminPassword}} }, want: []string{"email"}},
		{name: "JSON credentials", query: `mutation($c: Map) { createChannel(input: {type: LIVECHAT, name: "Chat", credentials: $c}) { id } }`,
			vars: func(string) vars { return vars{"c": vars{"accessToken": "abc\x00", "key\n": "x"}} }, want: []string{"credentials.accessToken", "credentials.key\n"}},
		{name: "two root fields", query: `mutation($a: String!, $b: String!) { a: createDivision(input: {name: $a}) { id } b: createDivision(input: {name: $b}) { id } }`,
			vars: func(string) vars { return vars{"a": "Fine", "b": "Not\x00fine"} }, want: []string{"name"}},
	}
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, target.URL(t))
			admin := srv.login(t, "admin@acme.test", adminPassword)
			admin.createDivision(t, "Support")
			var roles struct {
				Roles struct {
					Edges []struct{ Node struct{ ID, Builtin string } }
				}
			}
			admin.do(t, `{ roles { edges { node { id builtin } } } }`, nil).decode(t, &roles)
			agent := roles.Roles.Edges[slices.IndexFunc(roles.Roles.Edges, func(e struct{ Node struct{ ID, Builtin string } }) bool { return e.Node.Builtin == "AGENT" })].Node.ID
			for name, d := range transports(t, srv, admin) {
				t.Run(name, func(t *testing.T) {
					for _, tc := range cases {
						t.Run(tc.name, func(t *testing.T) {
							var v vars
							if tc.vars != nil {
								v = tc.vars(agent)
							}
							// Names must be unique: make them so.
							q := strings.ReplaceAll(tc.query, `name: "Multi"`, fmt.Sprintf(`name: "Multi %s"`, email()))
							r := d.do(t, q, v)
							var got []fieldErr
							for _, e := range r.Errors {
								if e.Extensions.Code != "BAD_USER_INPUT" {
									t.Errorf("error %q has code %s", e.Message, e.Extensions.Code)
								}
								got = append(got, fieldErr{e.Extensions.Field, e.Message})
							}
							var fields []string
							for _, g := range got {
								fields = append(fields, g.field)
							}
							if !slices.Equal(fields, tc.want) {
								t.Fatalf("refused fields %q (%+v), want %q; data %s", fields, got, tc.want, r.Data)
							}
							if len(tc.want) > 0 && string(r.Data) != "null" && string(r.Data) != "" {
								t.Errorf("refused, yet data %s", r.Data)
							}
							if tc.created != "" {
								var n struct{ Users struct{ TotalCount int } }
								admin.do(t, `query($e: String!) { users(where: {emailContainsFold: $e}) { totalCount } }`, vars{"e": strings.TrimSuffix(tc.created, "@acme.test")}).decode(t, &n)
								if n.Users.TotalCount != 0 {
									t.Errorf("a user %s was created", tc.created)
								}
							}
						})
					}
				})
			}
		})
	}
}
