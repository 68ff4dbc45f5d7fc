package limits

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"roster/internal/apierr"
)

// testSDL is shaped like the roster schema: Relay connections with
// first/last, plain list edges, a node(s) lookup, enums and filters.
const testSDL = `
interface Node { id: ID! }

enum Availability { AVAILABLE BUSY AWAY }

input UserWhereInput {
  availability: Availability
  nameContains: String
}

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type User implements Node {
  id: ID!
  firstName: String!
  availability: Availability!
  permissions: [String!]!
  manager: User
  role: Role!
  divisions: [Division!]
  recent(first: Int): [User!]!
}

type Role implements Node {
  id: ID!
  name: String!
}

type Division implements Node {
  id: ID!
  name: String!
  members(after: String, first: Int, before: String, last: Int, where: UserWhereInput): UserConnection!
  channels: [Channel!]
}

type Channel implements Node {
  id: ID!
  name: String!
  divisions: [Division!]
}

type UserConnection {
  edges: [UserEdge]
  pageInfo: PageInfo!
  totalCount: Int!
}

type UserEdge {
  node: User
  cursor: String!
}

type DivisionConnection {
  edges: [DivisionEdge]
  pageInfo: PageInfo!
  totalCount: Int!
}

type DivisionEdge {
  node: Division
  cursor: String!
}

type Query {
  me: User!
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  users(after: String, first: Int, before: String, last: Int, where: UserWhereInput): UserConnection!
  divisions(after: String, first: Int = 10, before: String, last: Int): DivisionConnection!
}

type Mutation {
  setAvailability(availability: Availability!): User!
}
`

var testSchema = gqlparser.MustLoadSchema(&ast.Source{Name: "test.graphql", Input: testSDL})

// okData is what the stand-in schema answers every operation that gets to
// execution with.
const okData = `{"executed":true}`

// newTestServer returns a gqlgen server over testSchema, set up like the
// roster server, with cfg installed. Its schema does not resolve anything:
// every operation that passes the limits gets okData.
func newTestServer(t testing.TB, cfg Config) http.Handler {
	return newServerFor(t, testSchema, cfg)
}

func newServerFor(t testing.TB, schema *ast.Schema, cfg Config) http.Handler {
	t.Helper()
	srv := handler.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 0, false
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			return graphql.OneShot(&graphql.Response{Data: json.RawMessage(okData)})
		},
	})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](100))
	Install(srv, cfg)
	return srv
}

// gqlError is an error of a response, as a client reads it.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
	Locations  []struct {
		Line, Column int
	} `json:"locations"`
}

func (e gqlError) code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

type response struct {
	status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	raw    string
}

// executed reports whether the operation got to execution without error.
func (r response) executed() bool {
	return len(r.Errors) == 0 && string(r.Data) == okData
}

// request is the JSON body of a GraphQL POST.
type request struct {
	Query         string         `json:"query,omitempty"`
	OperationName string         `json:"operationName,omitempty"`
	Variables     map[string]any `json:"variables,omitempty"`
	Extensions    map[string]any `json:"extensions,omitempty"`
}

// post sends req to srv over real HTTP.
func post(t testing.TB, url string, req request) response {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	return decode(t, res.StatusCode, buf.Bytes())
}

func decode(t testing.TB, status int, body []byte) response {
	t.Helper()
	r := response{status: status, raw: string(body)}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("status %d, body is not JSON: %v\n%s", status, err, body)
	}
	return r
}

// serve starts srv over HTTP for the test and returns its URL.
func serve(t testing.TB, srv http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL
}

// wantPass fails t unless r executed.
func wantPass(t testing.TB, r response) {
	t.Helper()
	if !r.executed() || r.status != http.StatusOK {
		t.Fatalf("want execution, got status %d: %s", r.status, r.raw)
	}
}

// wantReject fails t unless r is one error with code (and no data), and
// returns that error.
func wantReject(t testing.TB, r response, code apierr.Code) gqlError {
	t.Helper()
	if len(r.Errors) != 1 || r.Errors[0].code() != string(code) {
		t.Fatalf("want one %s error, got status %d: %s", code, r.status, r.raw)
	}
	if len(r.Data) != 0 && string(r.Data) != "null" {
		t.Fatalf("want no data with a rejection, got %s", r.raw)
	}
	return r.Errors[0]
}

// nested returns a query of depth fields: me { manager { … { id } } }.
func nested(depth int) string {
	if depth < 2 {
		panic("depth below 2")
	}
	return "{ me { " + strings.Repeat("manager { ", depth-2) + "id" + strings.Repeat(" }", depth-2) + " } }"
}
