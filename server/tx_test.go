package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"roster/internal/fixture"
)

// opSeq numbers the operations sent over test websockets.
var opSeq atomic.Int64

// wsDo runs one operation over c and returns its response and how it
// ended: "complete", or "error" for an operation refused as a whole.
func (c *wsClient) do(query string, variables vars) (*response, string) {
	c.t.Helper()
	id := strconv.FormatInt(opSeq.Add(1), 10)
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": variables})
	c.send(wsMessage{ID: id, Type: "subscribe", Payload: payload})
	r := &response{}
	for {
		m := c.read()
		if m.ID != id {
			continue
		}
		switch m.Type {
		case "next":
			if err := json.Unmarshal(m.Payload, r); err != nil {
				c.t.Fatalf("next %s: %v", m.Payload, err)
			}
		case "complete":
			return r, m.Type
		case "error":
			if err := json.Unmarshal(m.Payload, &r.Errors); err != nil {
				c.t.Fatalf("error %s: %v", m.Payload, err)
			}
			return r, m.Type
		default:
			c.t.Fatalf("unexpected %s message: %s", m.Type, m.Payload)
		}
	}
}

// TestOneTransactionPerOperation checks, over HTTP and over the websocket,
// on SQLite and PostgreSQL, that a mutation operation commits or rolls back
// as a whole: an admin of Acme reaching for Globex's users gets NOT_FOUND
// and changes nothing (Globex's sessions all stay valid, its sockets stay
// open), even combined with other fields; a field that must be sent alone
// is refused with BAD_USER_INPUT before anything runs; and a mutation over
// the websocket ends with complete, its change committed.
func TestOneTransactionPerOperation(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		admin, globexAdmin := srv.as(acme.Admin), srv.as(globex.Admin)
		globexSessions := func(t *testing.T) map[string][]string {
			t.Helper()
			all := map[string][]string{}
			for _, u := range []*fixture.User{globex.Admin, globex.Supervisor, globex.Scoped, globex.Agent} {
				var got struct{ UserSessions []struct{ ID string } }
				globexAdmin.do(t, `query($u: ID!) { userSessions(userID: $u) { id } }`, vars{"u": strconv.Itoa(u.ID)}).decode(t, &got)
				for _, s := range got.UserSessions {
					all[u.Email] = append(all[u.Email], s.ID)
				}
				slices.Sort(all[u.Email])
			}
			return all
		}
		before := globexSessions(t)
		if len(before) != 4 {
			t.Fatalf("Globex's sessions before: %v", before)
		}

		for _, tr := range []string{"http", "websocket"} {
			t.Run(tr, func(t *testing.T) {
				// A Globex user's socket, which nothing below may close.
				watched := dialWS(t, srv.url, globex.Agent.Token)
				var socket *wsClient
				if tr == "websocket" {
					socket = dialWS(t, srv.url, acme.Admin.Token)
				}
				send := func(t *testing.T, query string) (*response, string) {
					t.Helper()
					if socket != nil {
						return socket.do(query, nil)
					}
					return admin.do(t, query, nil), ""
				}
				foreign := strconv.Itoa(globex.Agent.ID)
				login := fmt.Sprintf(`login(input: {email: %q, password: %q}) { token }`, globex.Agent.Email, fixture.Password)
				for i, tc := range []struct {
					name, query string
					code, field string
				}{
					{"a foreign user's sessions", `mutation { revokeUserSessions(userID: "F") }`, "NOT_FOUND", ""},
					{"a foreign user's sessions after a write", `mutation { createDivision(input: {name: "D"}) { id } revokeUserSessions(userID: "F") }`, "NOT_FOUND", ""},
					{"a foreign user's sessions before a write", `mutation { revokeUserSessions(userID: "F") createDivision(input: {name: "D"}) { id } }`, "NOT_FOUND", ""},
					{"archiving a foreign user", `mutation { createDivision(input: {name: "D"}) { id } archiveUser(id: "F") { id } }`, "NOT_FOUND", ""},
					{"a foreign user's password", `mutation { createDivision(input: {name: "D"}) { id } updateUser(id: "F", input: {password: "a brand new password"}) { id } }`, "NOT_FOUND", ""},
					{"a foreign session", `mutation { createDivision(input: {name: "D"}) { id } revokeSession(id: "` + strconv.Itoa(globex.Agent.SessionID) + `") }`, "NOT_FOUND", ""},
					{"a foreign division", `mutation { createDivision(input: {name: "D"}) { id } deleteDivision(id: "` + strconv.Itoa(globex.Support) + `") }`, "NOT_FOUND", ""},
					{"an invalid second field", `mutation { createDivision(input: {name: "D"}) { id } b: createDivision(input: {name: " "}) { id } }`, "BAD_USER_INPUT", "name"},
					{"login with another field", `mutation { ` + login + ` revokeUserSessions(userID: "F") }`, "BAD_USER_INPUT", "login"},
					{"login with a write", `mutation { createDivision(input: {name: "D"}) { id } ` + login + ` }`, "BAD_USER_INPUT", "login"},
					{"two logins", `mutation { a: ` + login + ` b: ` + login + ` }`, "BAD_USER_INPUT", "login"},
					{"changeMyPassword with another field", `mutation { changeMyPassword(currentPassword: "` + fixture.Password + `", newPassword: "another long password") archiveUser(id: "F") { id } }`, "BAD_USER_INPUT", "changeMyPassword"},
					{"verifyMfa through a fragment", `mutation { ...V revokeUserSessions(userID: "F") } fragment V on Mutation { verifyMfa(challengeID: "mfa_x", code: "000000") { token } }`, "BAD_USER_INPUT", "verifyMfa"},
					{"acceptInvitation with another field", `mutation { acceptInvitation(token: "x", password: "a long enough password") { token } createDivision(input: {name: "D"}) { id } }`, "BAD_USER_INPUT", "acceptInvitation"},
				} {
					t.Run(tc.name, func(t *testing.T) {
						name := fmt.Sprintf("Rolled back %s %d", tr, i)
						q := strings.ReplaceAll(strings.ReplaceAll(tc.query, `"F"`, `"`+foreign+`"`), `name: "D"`, `name: "`+name+`"`)
						r, ended := send(t, q)
						r.wantError(t, tc.code, tc.field)
						if tc.code == "BAD_USER_INPUT" && tc.field != "name" && ended != "" && ended != "error" {
							t.Errorf("a refused operation ended with %s, want error", ended)
						}
						var got struct{ Divisions struct{ TotalCount int } }
						admin.do(t, `query($n: String!) { divisions(where: {name: $n}) { totalCount } }`, vars{"n": name}).decode(t, &got)
						if got.Divisions.TotalCount != 0 {
							t.Errorf("the division the operation created was kept")
						}
					})
				}

				t.Run("a mutation completes and commits", func(t *testing.T) {
					name := "Committed " + tr
					r, ended := send(t, `mutation { createDivision(input: {name: "`+name+`"}) { id name } }`)
					var created struct{ CreateDivision struct{ ID, Name string } }
					r.decode(t, &created)
					if socket != nil && ended != "complete" {
						t.Errorf("the mutation ended with %s, want complete", ended)
					}
					var got struct{ Node *struct{ Name string } }
					admin.do(t, `query($id: ID!) { node(id: $id) { ... on Division { name } } }`, vars{"id": created.CreateDivision.ID}).decode(t, &got)
					if got.Node == nil || got.Node.Name != name {
						t.Errorf("the division was not committed: %+v", got.Node)
					}
				})

				t.Run("Globex is untouched", func(t *testing.T) {
					if after := globexSessions(t); !reflect.DeepEqual(after, before) {
						t.Errorf("Globex's sessions changed:\nbefore %v\nafter  %v", before, after)
					}
					srv.as(globex.Agent).do(t, `{ me { id } }`, nil).decode(t, new(any))
					// Still open: a revoked session's socket closes with
					// 4403 and this read fails.
					if r, ended := watched.do(`{ me { id } }`, nil); len(r.Errors) > 0 || ended != "complete" {
						t.Errorf("Globex's socket: %s %+v", ended, r.Errors)
					}
					// The password of the operation refused with
					// changeMyPassword is unchanged.
					srv.login(t, acme.Admin.Email, fixture.Password)
				})
			})
		}
	})
}

// TestGraphQLWSClientMutation sends a mutation with the npm graphql-ws
// client: it ends with complete (not an error), and its change commits.
func TestGraphQLWSClientMutation(t *testing.T) {
	t.Parallel()
	srv, w := startWorld(t, fixture.SQLiteURL(t), nil)
	events := runNode(t, "operation.mjs", "ws"+strings.TrimPrefix(srv.url, "http")+"/graphql", w.Orgs[0].Admin.Token,
		`mutation { createDivision(input: {name: "From graphql-ws"}) { name } }`)
	want := []map[string]any{
		{"event": "next", "result": map[string]any{"data": map[string]any{"createDivision": map[string]any{"name": "From graphql-ws"}}}},
		{"event": "complete"},
	}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events %v, want %v", events, want)
	}
	var got struct{ Divisions struct{ TotalCount int } }
	srv.as(w.Orgs[0].Admin).do(t, `{ divisions(where: {name: "From graphql-ws"}) { totalCount } }`, nil).decode(t, &got)
	if got.Divisions.TotalCount != 1 {
		t.Errorf("the division was not committed")
	}
}

// jsClientDir holds the npm clients; `npm ci --prefix
// internal/wstransport/testdata/jsclient` installs them.
const jsClientDir = "../internal/wstransport/testdata/jsclient"

// runNode runs a client script and returns the JSON objects it printed,
// one per line. Without node or the installed packages the test is
// skipped, except in CI (CI=true), where that is a failure.
func runNode(t *testing.T, script string, args ...string) []map[string]any {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(jsClientDir, "node_modules", "graphql-ws"))
	}
	if err != nil {
		const msg = "\n\n*** JS CLIENT TESTS NOT RUN: %v ***\n*** install Node.js and run: npm ci --prefix internal/wstransport/testdata/jsclient ***\n\n"
		if os.Getenv("CI") == "true" {
			t.Fatalf(msg, err)
		}
		t.Skipf(msg, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = jsClientDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout, stderr.String())
	}
	var events []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("node %s printed %q: %v", script, sc.Text(), err)
		}
		events = append(events, ev)
	}
	return events
}
