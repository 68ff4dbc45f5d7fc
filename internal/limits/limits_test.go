package limits

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"roster/internal/apierr"
)

// introspectionQuery is the query GraphiQL sends to learn the schema.
const introspectionQuery = `
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives {
      name
      description
      locations
      args { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  fields(includeDeprecated: true) {
    name
    description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
`

// limitCase is one request and what must come of it.
type limitCase struct {
	name  string
	cfg   func(*Config) // changes to Defaults(false), if any
	req   request
	code  apierr.Code // "" when the operation must execute
	field string      // extensions.field wanted, if any
}

func runLimitCases(t *testing.T, cases []limitCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Defaults(false)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			r := post(t, serve(t, newTestServer(t, cfg)), tc.req)
			if tc.code == "" {
				wantPass(t, r)
				return
			}
			e := wantReject(t, r, tc.code)
			if r.status != http.StatusUnprocessableEntity && tc.code != apierr.PersistedQueryNotFound {
				t.Errorf("status %d, want %d", r.status, http.StatusUnprocessableEntity)
			}
			if got, _ := e.Extensions["field"].(string); got != tc.field {
				t.Errorf("extensions.field = %q, want %q", got, tc.field)
			}
		})
	}
}

func q(query string) request { return request{Query: query} }

func qv(query string, vars map[string]any) request { return request{Query: query, Variables: vars} }

// fragmentChain returns a query of depth fields where each manager level
// is its own fragment: { me { ...F1 } } fragment F1 on User { manager { ...F2 } } ….
func fragmentChain(depth int) string {
	var b strings.Builder
	b.WriteString("{ me { ...F1 } }\n")
	n := depth - 2 // manager levels
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "fragment F%d on User { manager { ...F%d } }\n", i, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on User { id }\n", n+1)
	return b.String()
}

// aliases returns a query with n aliased root fields.
func aliases(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " a%d: me { id }", i)
	}
	b.WriteString(" }")
	return b.String()
}

// tenAliases is a fragment with ten aliases.
const tenAliases = `fragment A on User { x0: id x1: id x2: id x3: id x4: id x5: id x6: id x7: id x8: id x9: id }`

func TestDepth(t *testing.T) {
	t.Parallel()
	runLimitCases(t, []limitCase{
		{name: "at limit", req: q(nested(10))},
		{name: "over limit", req: q(nested(11)), code: apierr.QueryTooComplex},
		{name: "fragment chain at limit", req: q(fragmentChain(10))},
		{name: "fragment chain over limit", req: q(fragmentChain(11)), code: apierr.QueryTooComplex},
		{name: "inline fragments add no level", req: q(`{ me { ... on User { ... on User { manager { id } } } } }`),
			cfg: func(c *Config) { c.MaxDepth = 3 }},
		{name: "inline fragment counted", req: q(`{ me { ... on User { manager { manager { id } } } } }`),
			cfg: func(c *Config) { c.MaxDepth = 3 }, code: apierr.QueryTooComplex},
		{name: "skipped branch not counted", req: qv(`query($deep: Boolean!) { me { id manager @include(if: $deep) { manager { id } } } }`,
			map[string]any{"deep": false}), cfg: func(c *Config) { c.MaxDepth = 2 }},
		{name: "included branch counted", req: qv(`query($deep: Boolean!) { me { id manager @include(if: $deep) { manager { id } } } }`,
			map[string]any{"deep": true}), cfg: func(c *Config) { c.MaxDepth = 2 }, code: apierr.QueryTooComplex},
		{name: "introspection not counted", req: q(introspectionQuery)},
		{name: "zero disables", req: q(nested(40)), cfg: func(c *Config) { c.MaxDepth = 0 }},
	})
}

func TestAliases(t *testing.T) {
	t.Parallel()
	runLimitCases(t, []limitCase{
		{name: "at limit", req: q(aliases(30))},
		{name: "over limit", req: q(aliases(31)), code: apierr.QueryTooComplex},
		{name: "same name is no alias", req: q(`{ me: me { id: id } }`), cfg: func(c *Config) { c.MaxAliases = 1 }},
		{name: "across fragments at limit",
			req: q(`{ me { ...A manager { ...A manager { ...A } } } } ` + tenAliases)},
		{name: "across fragments over limit",
			req: q(`{ me { ...A manager { ...A manager { ...A } } } x: __typename } ` + tenAliases), code: apierr.QueryTooComplex},
		{name: "fragment spread twice in one selection counts once",
			req: q(`{ me { ...A ...A ... on User { ...A } } } ` + tenAliases), cfg: func(c *Config) { c.MaxAliases = 10 }},
		{name: "nested fragments multiply",
			req: q(`{ me { ...B manager { ...B } } } fragment B on User { ...A m: manager { ...A } } ` + tenAliases),
			cfg: func(c *Config) { c.MaxAliases = 41 }, code: apierr.QueryTooComplex},
		{name: "nested fragments at limit",
			req: q(`{ me { ...B manager { ...B } } } fragment B on User { ...A m: manager { ...A } } ` + tenAliases),
			cfg: func(c *Config) { c.MaxAliases = 42 }},
	})
}

func TestComplexity(t *testing.T) {
	t.Parallel()
	at := func(n int) func(*Config) { return func(c *Config) { c.MaxComplexity = n } }
	page := `query($n: Int) { users(first: $n) { edges { node { id } } } }`
	runLimitCases(t, []limitCase{
		// 1 + 100 × (edge 1 + node 1)
		{name: "page at limit", req: q(`{ users(first: 100) { edges { node { id } } } }`), cfg: at(201)},
		{name: "page over limit", req: q(`{ users(first: 100) { edges { node { id } } pageInfo { hasNextPage } } }`),
			cfg: at(201), code: apierr.QueryTooComplex},
		{name: "variable page at limit", req: qv(page, map[string]any{"n": 100}), cfg: at(201)},
		{name: "variable page over limit", req: qv(page, map[string]any{"n": 100}), cfg: at(200), code: apierr.QueryTooComplex},
		{name: "variable default", req: q(`query($n: Int = 50) { users(first: $n) { edges { node { id } } } }`), cfg: at(101)},
		{name: "variable default over limit", req: q(`query($n: Int = 50) { users(first: $n) { edges { node { id } } } }`),
			cfg: at(100), code: apierr.QueryTooComplex},
		{name: "last", req: q(`{ users(last: 50) { edges { node { id } } } }`), cfg: at(101)},
		{name: "no page size assumes 100", req: q(`{ users { edges { node { id } } } }`), cfg: at(200), code: apierr.QueryTooComplex},
		{name: "schema default page size", req: q(`{ divisions { edges { node { id } } } }`), cfg: at(21)},
		{name: "empty page", req: q(`{ users(first: 0) { edges { node { id } } totalCount } }`), cfg: at(1)},
		{name: "connection in fragment", req: q(`{ users(first: 10) { ...C } } fragment C on UserConnection { edges { node { id } } }`),
			cfg: at(21)},
		{name: "connection in fragment over", req: q(`{ users(first: 10) { ...C } } fragment C on UserConnection { edges { node { id } } }`),
			cfg: at(20), code: apierr.QueryTooComplex},
		// 1 + 100 × (1 + 1 + 5 × 1): a page of users with their divisions.
		{name: "users with divisions within defaults", req: q(`{ users(first: 100) { edges { node { divisions { id name } } } } }`)},
		{name: "users with divisions costed", req: q(`{ users(first: 100) { edges { node { divisions { id name } } } } }`),
			cfg: at(700), code: apierr.QueryTooComplex},
		{name: "members of divisions of users", code: apierr.QueryTooComplex,
			req: q(`{ users(first: 100) { edges { node { divisions { members(first: 100) { edges { node { id } } } } } } } }`)},
		{name: "nodes by ids", req: q(`{ nodes(ids: ["1", "2", "3"]) { id } }`), cfg: at(3)},
		{name: "nodes by ids over", req: q(`{ nodes(ids: ["1", "2", "3", "4"]) { id } }`), cfg: at(3), code: apierr.QueryTooComplex},
		{name: "nodes by variable ids", req: qv(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
			map[string]any{"ids": []string{"1", "2", "3", "4"}}), cfg: at(3), code: apierr.QueryTooComplex},
		{name: "paginated plain list", req: q(`{ me { recent(first: 7) { id } } }`), cfg: at(8)},
		{name: "paginated plain list over", req: q(`{ me { recent(first: 7) { id } } }`), cfg: at(7), code: apierr.QueryTooComplex},
		{name: "huge fan-out", code: apierr.QueryTooComplex,
			req: q(`{ users { edges { node { divisions { members { edges { node { divisions { members { edges { node { id } } } } } } } } } } } }`),
			cfg: func(c *Config) { c.MaxDepth = 0 }},
		{name: "zero disables", req: q(`{ users(first: 100) { edges { node { divisions { members(first: 100) { edges { node { id } } } } } } } }`),
			cfg: at(0)},
	})
}

func TestPageSize(t *testing.T) {
	t.Parallel()
	runLimitCases(t, []limitCase{
		{name: "first at limit", req: q(`{ users(first: 100) { totalCount } }`)},
		{name: "first over limit", req: q(`{ users(first: 101) { totalCount } }`), code: apierr.BadUserInput, field: "first"},
		{name: "last at limit", req: q(`{ users(last: 100) { totalCount } }`)},
		{name: "last over limit", req: q(`{ users(last: 101) { totalCount } }`), code: apierr.BadUserInput, field: "last"},
		{name: "variable over limit", req: qv(`query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": 101}),
			code: apierr.BadUserInput, field: "first"},
		{name: "variable at limit", req: qv(`query($n: Int) { users(last: $n) { totalCount } }`, map[string]any{"n": 100})},
		{name: "variable null", req: qv(`query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": nil})},
		{name: "variable default over limit", req: q(`query($n: Int = 500) { users(first: $n) { totalCount } }`),
			code: apierr.BadUserInput, field: "first"},
		{name: "nested connection", req: q(`{ divisions(first: 1) { edges { node { members(last: 1000) { totalCount } } } } }`),
			code: apierr.BadUserInput, field: "last"},
		{name: "in fragment", req: q(`{ me { ...D } } fragment D on User { recent(first: 101) { id } }`),
			code: apierr.BadUserInput, field: "first"},
		{name: "variable beyond 32 bits", req: qv(`query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": 1 << 40}),
			code: apierr.BadUserInput, field: "first"},
		{name: "variable beyond 64 bits", req: qv(`query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": 1e30}),
			code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "literal beyond 64 bits", req: q(`{ users(first: 99999999999999999999999) { totalCount } }`),
			code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "zero disables", req: q(`{ users(first: 100000) { totalCount } }`),
			cfg: func(c *Config) { c.MaxPageSize = 0; c.MaxComplexity = 0 }},
	})
}

func TestPageSizeError(t *testing.T) {
	t.Parallel()
	r := post(t, serve(t, newTestServer(t, Defaults(true))), q("{\n  users(first: 250) { totalCount }\n}"))
	e := wantReject(t, r, apierr.BadUserInput)
	if e.Message != "first: must be at most 100" {
		t.Errorf("message %q", e.Message)
	}
	if len(e.Locations) != 1 || e.Locations[0].Line != 2 || e.Locations[0].Column != 16 {
		t.Errorf("locations %+v, want line 2 column 16", e.Locations)
	}
}

func TestQueryLength(t *testing.T) {
	t.Parallel()
	base := "{ me { id } }"
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-len([]rune(s))) }
	// Two bytes a character: over the limit in bytes, not in characters.
	wide := "{ me { id } } # " + strings.Repeat("é", 100)
	runLimitCases(t, []limitCase{
		{name: "at limit", req: q(pad(base, DefaultMaxQueryLength))},
		{name: "over limit", req: q(pad(base, DefaultMaxQueryLength+1)), code: apierr.BadRequest},
		{name: "counts characters", req: q(wide), cfg: func(c *Config) { c.MaxQueryLength = len([]rune(wide)) }},
		{name: "counts characters over", req: q(wide), cfg: func(c *Config) { c.MaxQueryLength = len([]rune(wide)) - 1 },
			code: apierr.BadRequest},
		{name: "zero disables", req: q(pad(base, 100000)), cfg: func(c *Config) { c.MaxQueryLength = 0 }},
	})
}

func TestTokens(t *testing.T) {
	t.Parallel()
	// "{ me { id } }" is 6 tokens; each __typename adds one.
	tokens := func(n int) string { return "{ me { id" + strings.Repeat(" __typename", n-6) + " } }" }
	limit := func(c *Config) { c.MaxTokens = 20 }
	runLimitCases(t, []limitCase{
		{name: "at limit", req: q(tokens(20)), cfg: limit},
		{name: "over limit", req: q(tokens(21)), cfg: limit, code: apierr.QueryTooComplex},
		{name: "comment is a token", req: q(tokens(20) + " # note"), cfg: limit, code: apierr.QueryTooComplex},
		{name: "commas are not tokens", req: q("{ me { id,,,,,,,,,,,,,,,,,,,,,,,,,,,,,, } }"), cfg: limit},
		{name: "default limit", req: q(tokens(DefaultMaxTokens + 1)), cfg: func(c *Config) { c.MaxQueryLength = 0 }, code: apierr.QueryTooComplex},
		{name: "lexical error is a parse error", req: q(`{ me { id "unterminated } }`), code: "GRAPHQL_PARSE_FAILED"},
		{name: "zero disables", req: q(tokens(100)), cfg: func(c *Config) { c.MaxTokens = 0 }},
	})
}

func TestIntrospection(t *testing.T) {
	t.Parallel()
	off := func(c *Config) { c.Introspection = false }
	runLimitCases(t, []limitCase{
		{name: "schema", req: q(`{ __schema { queryType { name } } }`), cfg: off, code: apierr.BadRequest},
		{name: "type", req: q(`{ __type(name: "User") { name } }`), cfg: off, code: apierr.BadRequest},
		{name: "full query", req: q(introspectionQuery), cfg: off, code: apierr.BadRequest},
		{name: "in fragment", req: q(`{ ...Q } fragment Q on Query { __schema { types { name } } }`), cfg: off, code: apierr.BadRequest},
		{name: "aliased", req: q(`{ s: __schema { types { name } } }`), cfg: off, code: apierr.BadRequest},
		{name: "typename allowed", req: q(`{ __typename me { __typename id } }`), cfg: off},
		{name: "skipped allowed", req: q(`{ __typename __schema @skip(if: true) { types { name } } }`), cfg: off},
		{name: "on in development", req: q(introspectionQuery)},
		{name: "type on in development", req: q(`{ __type(name: "User") { name } }`)},
	})
}

func TestSuggestions(t *testing.T) {
	t.Parallel()
	queries := []struct{ name, query string }{
		{"field", `{ me { firstNam } }`},
		{"argument", `{ users(firs: 1) { totalCount } }`},
		{"type", `{ me { ...F } } fragment F on Usr { id }`},
		{"enum value", `{ users(where: {availability: AVAILABL}) { totalCount } }`},
		{"input field", `{ users(where: {nameContain: "x"}) { totalCount } }`},
		{"subselection", `{ me }`},
	}
	for _, on := range []bool{true, false} {
		for _, tc := range queries {
			t.Run(fmt.Sprintf("%s/suggestions=%v", tc.name, on), func(t *testing.T) {
				t.Parallel()
				cfg := Defaults(!on)
				r := post(t, serve(t, newTestServer(t, cfg)), q(tc.query))
				if len(r.Errors) == 0 {
					t.Fatalf("want validation errors, got %s", r.raw)
				}
				suggested := false
				for _, e := range r.Errors {
					if e.code() != "GRAPHQL_VALIDATION_FAILED" {
						t.Errorf("code %q: %s", e.code(), e.Message)
					}
					suggested = suggested || strings.Contains(e.Message, "Did you mean")
				}
				if suggested != on {
					t.Errorf("suggestions %v, got %s", on, r.raw)
				}
			})
		}
	}
}

func TestWithoutSuggestion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`Cannot query field "firstNam" on type "User". Did you mean "firstName"?`: `Cannot query field "firstNam" on type "User".`,
		`Unknown type "X".`: `Unknown type "X".`,
	} {
		if got, _ := withoutSuggestion(in); got != want {
			t.Errorf("withoutSuggestion(%q) = %q, want %q", in, got, want)
		}
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func apq(hash string, version any) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": version, "sha256Hash": hash}}
}

func TestPersistedQueries(t *testing.T) {
	t.Parallel()
	url := serve(t, newTestServer(t, Defaults(true)))
	query := `{ me { id } }`
	long := query + strings.Repeat(" ", DefaultMaxQueryLength)
	deep := nested(11)
	steps := []struct {
		name string
		req  request
		code apierr.Code
	}{
		{"hash unknown", request{Extensions: apq(sha(query), 1)}, apierr.PersistedQueryNotFound},
		{"hash and query", request{Query: query, Extensions: apq(sha(query), 1)}, ""},
		{"hash known", request{Extensions: apq(sha(query), 1)}, ""},
		{"hash known again", request{Extensions: apq(sha(query), 1)}, ""},
		{"wrong hash", request{Query: query, Extensions: apq(sha("{ me { firstName } }"), 1)}, apierr.BadRequest},
		{"unknown version", request{Query: query, Extensions: apq(sha(query), 2)}, apierr.BadRequest},
		{"malformed", request{Query: query, Extensions: map[string]any{"persistedQuery": "yes"}}, apierr.BadRequest},
		{"too long not stored", request{Query: long, Extensions: apq(sha(long), 1)}, apierr.BadRequest},
		{"too long still unknown", request{Extensions: apq(sha(long), 1)}, apierr.PersistedQueryNotFound},
		{"too deep", request{Query: deep, Extensions: apq(sha(deep), 1)}, apierr.QueryTooComplex},
		{"too deep by hash", request{Extensions: apq(sha(deep), 1)}, apierr.QueryTooComplex},
	}
	// Steps run in order: each depends on what the ones before stored.
	for _, s := range steps {
		r := post(t, url, s.req)
		if s.code == "" {
			if !r.executed() {
				t.Fatalf("%s: want execution, got %s", s.name, r.raw)
			}
			continue
		}
		e := wantReject(t, r, s.code)
		if s.code == apierr.PersistedQueryNotFound && e.Message != "PersistedQueryNotFound" {
			t.Errorf("%s: message %q, want PersistedQueryNotFound", s.name, e.Message)
		}
	}
}

func TestPersistedQueriesOff(t *testing.T) {
	t.Parallel()
	cfg := Defaults(true)
	cfg.APQCacheSize = 0
	url := serve(t, newTestServer(t, cfg))
	query := `{ me { id } }`
	r := post(t, url, request{Query: query, Extensions: apq(sha(query), 1)})
	wantPass(t, r)
	r = post(t, url, request{Extensions: apq(sha(query), 1)})
	if len(r.Errors) == 0 || r.Errors[0].code() == "" {
		t.Fatalf("want a coded error, got %s", r.raw)
	}
}

// TestStatus checks the HTTP status of each kind of rejection, with either
// response type, and over GET.
func TestStatus(t *testing.T) {
	t.Parallel()
	base := serve(t, newTestServer(t, Defaults(true)))
	for _, tc := range []struct {
		name, query string
		code        apierr.Code
	}{
		{"too deep", nested(11), apierr.QueryTooComplex},
		{"page size", `{ users(first: 101) { totalCount } }`, apierr.BadUserInput},
		{"too long", "{ me { id } }" + strings.Repeat(" ", DefaultMaxQueryLength), apierr.BadRequest},
	} {
		for _, accept := range []string{"application/json", "application/graphql-response+json"} {
			t.Run(tc.name+"/GET/"+accept, func(t *testing.T) {
				t.Parallel()
				hr, _ := http.NewRequest(http.MethodGet, base+"?query="+url.QueryEscape(tc.query), nil)
				hr.Header.Set("Accept", accept)
				res, err := http.DefaultClient.Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				body, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				r := decode(t, res.StatusCode, body)
				wantReject(t, r, tc.code)
				want := http.StatusUnprocessableEntity
				if accept != "application/json" {
					want = http.StatusBadRequest
				}
				if r.status != want {
					t.Errorf("status %d, want %d", r.status, want)
				}
			})
		}
	}
}

// TestFragmentCycle sends a fragment cycle: validation refuses it, at once.
func TestFragmentCycle(t *testing.T) {
	t.Parallel()
	url := serve(t, newTestServer(t, Defaults(true)))
	done := make(chan response, 1)
	go func() {
		done <- post(t, url, q(`{ me { ...A } } fragment A on User { manager { ...B } } fragment B on User { manager { ...A } }`))
	}()
	select {
	case r := <-done:
		if len(r.Errors) == 0 || r.Errors[0].code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("want a validation error, got %s", r.raw)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to a fragment cycle")
	}
}

// TestWalkerCycles walks documents validation would refuse: the walk ends.
func TestWalkerCycles(t *testing.T) {
	t.Parallel()
	for name, query := range map[string]string{
		"self":         `{ me { ...A } } fragment A on User { manager { ...A } }`,
		"pair":         `{ me { ...A } } fragment A on User { ...B } fragment B on User { manager { ...A } }`,
		"same level":   `{ me { ...A } } fragment A on User { ...A id }`,
		"unknown":      `{ me { ...Missing } }`,
		"three levels": `{ me { ...A } } fragment A on User { m: manager { ...B } } fragment B on User { n: manager { ...C } } fragment C on User { ...A }`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := parser.ParseQuery(&ast.Source{Input: query})
			if err != nil {
				t.Fatal(err)
			}
			o := &operationLimits{maxDepth: 10, maxAliases: 30, maxComplexity: 1000, maxPageSize: 100}
			m, _ := o.check(doc, doc.Operations[0], nil)
			if m.depth > 10 {
				t.Errorf("depth %d", m.depth)
			}
		})
	}
}

// TestFragmentFanOut spreads each fragment of a chain twice: the expanded
// operation doubles with each fragment, the walk does not.
func TestFragmentFanOut(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("{ me { ...F0 } }\n")
	const n = 80
	for i := range n {
		fmt.Fprintf(&b, "fragment F%d on User { a: manager { ...F%d } b: manager { ...F%d } }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on User { id }\n", n)
	cfg := Defaults(true)
	cfg.MaxDepth = 0
	cfg.MaxAliases = 0
	start := time.Now()
	r := post(t, serve(t, newTestServer(t, cfg)), q(b.String()))
	wantReject(t, r, apierr.QueryTooComplex)
	if !strings.Contains(r.Errors[0].Message, "beyond counting") {
		t.Errorf("message %q", r.Errors[0].Message)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestMeasures checks the cost model on validated operations.
func TestMeasures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query                string
		vars                 map[string]any
		depth, aliases, cost int
	}{
		{query: `{ __typename }`, depth: 1},
		{query: `{ me { id } }`, depth: 2, cost: 1},
		{query: `{ me { permissions } }`, depth: 2, cost: 1},
		{query: `{ me { role { name } manager { id } } }`, depth: 3, cost: 3},
		{query: `{ me { divisions { id } } }`, depth: 3, cost: 1 + AssumedListSize},
		{query: `{ me { divisions { channels { id } } } }`, depth: 4, cost: 1 + AssumedListSize*(1+AssumedListSize)},
		{query: `{ users(first: 10) { totalCount } }`, depth: 2, cost: 1},
		{query: `{ users(first: 10) { pageInfo { hasNextPage } } }`, depth: 3, cost: 2},
		{query: `{ users(first: 10) { edges { cursor } } }`, depth: 3, cost: 11},
		{query: `{ users(first: 10) { edges { node { id } } } }`, depth: 4, cost: 21},
		{query: `{ users(first: 10, last: 20) { edges { node { id } } } }`, depth: 4, cost: 41},
		{query: `{ users(first: -5) { edges { node { id } } } }`, depth: 4, cost: 1},
		{query: `query($n: Int!) { users(first: $n) { edges { node { id } } } }`, vars: map[string]any{"n": 3}, depth: 4, cost: 7},
		{query: `{ a: users(first: 1) { edges { node { id } } } b: users(first: 1) { edges { node { id } } } }`, depth: 4, aliases: 2, cost: 6},
		{query: `{ node(id: "1") { id ... on User { role { id } } ... on Division { members(first: 2) { totalCount } } } }`, depth: 3, cost: 3},
		{query: `{ nodes(ids: []) { id } }`, depth: 2, cost: 0},
		{query: `{ me { ...U ...U } } fragment U on User { role { id } }`, depth: 3, cost: 2},
		{query: `{ me { ...U role { id } } } fragment U on User { role { id } }`, depth: 3, cost: 3},
		{query: `{ me { id role @skip(if: true) { id } } }`, depth: 2, cost: 1},
		{query: `{ __schema { types { name fields { name } } } }`, depth: 1},
		{query: `{ __type(name: "User") { x: name } }`, depth: 1, aliases: 1},
	} {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			doc, errs := validatedQuery(tc.query)
			if errs != nil {
				t.Fatal(errs)
			}
			vars, err := validator.VariableValues(testSchema, doc.Operations[0], tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			o := &operationLimits{introspection: true}
			m, gerr := o.check(doc, doc.Operations[0], vars)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if m != (measure{depth: tc.depth, aliases: tc.aliases, cost: tc.cost}) {
				t.Errorf("got %+v, want depth %d aliases %d cost %d", m, tc.depth, tc.aliases, tc.cost)
			}
		})
	}
}

func validatedQuery(query string) (*ast.QueryDocument, error) {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return nil, err
	}
	if errs := validator.Validate(testSchema, doc); errs != nil {
		return nil, errs
	}
	return doc, nil
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	dev, prod := Defaults(false), Defaults(true)
	if !dev.Introspection || !dev.Suggestions || prod.Introspection || prod.Suggestions {
		t.Errorf("introspection and suggestions: development %+v, production %+v", dev, prod)
	}
	want := Config{MaxDepth: 10, MaxAliases: 30, MaxComplexity: 1000, MaxPageSize: 100, MaxFilterDepth: 8, MaxFilterPredicates: 100,
		MaxQueryLength: 15000, MaxTokens: 5000, APQCacheSize: 1000}
	if prod != want {
		t.Errorf("production defaults %+v, want %+v", prod, want)
	}
}

// TestStatsAndExtensions adds the extensions alone (no Install) and reads
// the measures of an operation that passed.
func TestStatsAndExtensions(t *testing.T) {
	t.Parallel()
	got := make(chan *Stats, 1)
	srv := handler.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return testSchema },
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			got <- GetStats(ctx)
			return graphql.OneShot(&graphql.Response{Data: json.RawMessage(okData)})
		},
	})
	srv.AddTransport(transport.POST{})
	for _, ext := range Extensions(Defaults(true)) {
		srv.Use(ext)
	}
	url := serve(t, srv)
	wantPass(t, post(t, url, q(`{ a: users(first: 10) { edges { node { id } } } }`)))
	if s := <-got; s == nil || *s != (Stats{Depth: 4, Aliases: 1, Cost: 21}) {
		t.Errorf("stats %+v", s)
	}
	wantReject(t, post(t, url, q(nested(11))), apierr.QueryTooComplex)
	if GetStats(context.Background()) != nil {
		t.Error("stats without an operation")
	}
}
