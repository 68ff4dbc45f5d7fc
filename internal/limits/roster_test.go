package limits

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"roster/internal/apierr"
)

// rosterSchema loads the API's own schema files, or skips the test when
// they do not load.
func rosterSchema(t *testing.T) *ast.Schema {
	t.Helper()
	var sources []*ast.Source
	for _, name := range []string{"ent.graphql", "schema.graphql"} {
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Skipf("schema file: %v", err)
		}
		sources = append(sources, &ast.Source{Name: name, Input: string(b)})
	}
	schema, err := gqlparser.LoadSchema(sources...)
	if err != nil {
		t.Skipf("schema does not load: %v", err)
	}
	return schema
}

// TestRosterQueries runs typical and abusive queries of the roster API
// against the default limits: the defaults must let the clients' real
// queries through.
func TestRosterQueries(t *testing.T) {
	t.Parallel()
	schema := rosterSchema(t)
	prod := serve(t, newServerFor(t, schema, Defaults(true)))
	dev := serve(t, newServerFor(t, schema, Defaults(false)))
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = `"` + string(rune('a'+i%26)) + `"`
	}
	for _, tc := range []struct {
		name, query string
		dev         bool
		code        apierr.Code
	}{
		{name: "users page with role and divisions", query: `query Users($after: Cursor) {
			users(first: 100, after: $after, orderBy: {field: LAST_NAME}) {
				totalCount
				pageInfo { hasNextPage endCursor }
				edges { cursor node {
					id firstName lastName displayName email phone avatarURL status availability online lastSeenAt version
					role { id name builtin permissions }
					divisions { id name }
				} }
			}
		}`},
		{name: "users with divisions", query: `{ users(first: 100) { edges { node { divisions { id name } } } } }`},
		{name: "dashboard", query: `{
			me { id displayName role { name permissions } divisions { id name } }
			organization { id name }
			presenceSummary {
				total online
				byAvailability { availability online }
				byRole { role { id name } total online }
				byDivision { division { id name } total online }
			}
		}`},
		{name: "divisions with counts and channels", query: `{
			divisions(first: 100) { edges { node { id name members(first: 100) { totalCount } channels { id name type } } } }
		}`},
		{name: "ten divisions with forty members", query: `{
			divisions(first: 10) { edges { node { name members(first: 40) { edges { node { id displayName } } } } } }
		}`},
		{name: "nodes by ids", query: `{ nodes(ids: [` + strings.Join(ids, ",") + `]) { id ... on User { displayName divisions { name } } } }`},
		{name: "mutation", query: `mutation { updateUser(id: "1", input: {firstName: "A"}) { id firstName divisions { id name } } }`},
		{name: "subscription", query: `subscription { userStatusChanged { user { id role { name } divisions { name } } availability online version at } }`},
		{name: "introspection in development", query: introspectionQuery, dev: true},

		{name: "introspection in production", query: introspectionQuery, code: apierr.BadRequest},
		{name: "members of every division of every user", code: apierr.QueryTooComplex, query: `{
			users(first: 100) { edges { node { divisions { members(first: 100) { edges { node { id } } } } } } }
		}`},
		{name: "fifty divisions with fifty members", code: apierr.QueryTooComplex, query: `{
			divisions(first: 50) { edges { node { members(first: 50) { edges { node { id } } } } } }
		}`},
		{name: "page too large", code: apierr.BadUserInput, query: `{ users(first: 1000) { totalCount } }`},
		{name: "cycle through divisions", code: apierr.QueryTooComplex, query: `{
			channels { edges { node { divisions { channels { divisions { channels { divisions { channels { id } } } } } } } } }
		}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := prod
			if tc.dev {
				url = dev
			}
			r := post(t, url, q(tc.query))
			if tc.code == "" {
				wantPass(t, r)
				return
			}
			wantReject(t, r, tc.code)
		})
	}
}
