package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roster/internal/account"
	"roster/internal/fixture"
	"roster/internal/store/storetest"
)

// TestEndToEnd runs the real server on port 0 against each database and
// drives it over HTTP as a frontend would.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			testEndToEnd(t, target.URL(t))
		})
	}
}

// adminPassword is the password of the first admin startServer makes, and
// of every fixture user.
const adminPassword = fixture.Password

func testEndToEnd(t *testing.T, dbURL string) {
	srv := startServer(t, dbURL)
	admin := srv.login(t, "admin@acme.test", adminPassword)

	t.Run("login failures say the same for unknown emails and wrong passwords", func(t *testing.T) {
		wrong := srv.client("").do(t, loginMutation, vars{"i": vars{"email": "admin@acme.test", "password": "not the password"}})
		unknown := srv.client("").do(t, loginMutation, vars{"i": vars{"email": "nobody@acme.test", "password": "not the password"}})
		wrong.wantError(t, "UNAUTHENTICATED", "")
		unknown.wantError(t, "UNAUTHENTICATED", "")
		if wrong.Errors[0].Message != unknown.Errors[0].Message {
			t.Errorf("messages differ: %q vs %q", wrong.Errors[0].Message, unknown.Errors[0].Message)
		}
	})

	var me struct {
		Me    struct{ ID, Email, Status string }
		Roles struct {
			Edges []struct {
				Node struct{ ID, Name, Builtin string }
			}
		}
	}
	admin.do(t, `{ me { id email status } roles(orderBy: {field: NAME}) { edges { node { id name builtin } } } }`, nil).decode(t, &me)
	if me.Me.Email != "admin@acme.test" || me.Me.Status != "ACTIVE" {
		t.Fatalf("me = %+v", me.Me)
	}
	roles := map[string]string{}
	for _, e := range me.Roles.Edges {
		roles[e.Node.Builtin] = e.Node.ID
	}
	if len(roles) != 3 || roles["ADMIN"] == "" || roles["AGENT"] == "" || roles["SUPERVISOR"] == "" {
		t.Fatalf("built-in roles = %v", roles)
	}

	support := admin.createDivision(t, "Support")
	sales := admin.createDivision(t, "Sales")

	agentPassword := "agent password 123"
	var created struct {
		CreateUser struct {
			ID, DisplayName, Email, Phone, Status string
			Role                                  struct{ Name string }
			Divisions                             []struct{ Name string }
		}
	}
	admin.do(t, `mutation($i: CreateUserInput!) { createUser(input: $i) { id displayName email phone status role { name } divisions { name } } }`,
		vars{"i": vars{"firstName": "Ana", "lastName": "Lee", "email": "Ana.Lee@Acme.test", "phone": "+62 812-3456-7890",
			"password": agentPassword, "roleID": roles["AGENT"], "divisionIDs": []string{support}}}).decode(t, &created)
	agentID := created.CreateUser.ID
	if c := created.CreateUser; c.DisplayName != "Ana Lee" || c.Email != "ana.lee@acme.test" || c.Phone != "+6281234567890" ||
		c.Status != "ACTIVE" || c.Role.Name != "Agent" || len(c.Divisions) != 1 || c.Divisions[0].Name != "Support" {
		t.Fatalf("created user = %+v", c)
	}
	invitedID := admin.createUser(t, vars{"firstName": "Ivy", "lastName": "Invited", "email": "ivy@acme.test", "roleID": roles["SUPERVISOR"], "divisionIDs": []string{sales}})

	t.Run("bad input is refused with a code and the field", func(t *testing.T) {
		base := func(over vars) vars {
			in := vars{"firstName": "Bo", "lastName": "Bad", "email": "bo@acme.test", "roleID": roles["AGENT"]}
			for k, v := range over {
				if v == nil {
					delete(in, k)
				} else {
					in[k] = v
				}
			}
			return vars{"i": in}
		}
		for _, tc := range []struct {
			name        string
			input       vars
			code, field string
		}{
			{"empty first name", base(vars{"firstName": "  "}), "BAD_USER_INPUT", "firstName"},
			{"missing first name", base(vars{"firstName": nil}), "BAD_USER_INPUT", "firstName"},
			{"bad email", base(vars{"email": "bo at acme"}), "BAD_USER_INPUT", "email"},
			{"bad phone", base(vars{"phone": "12345"}), "BAD_USER_INPUT", "phone"},
			{"bad avatar", base(vars{"avatarURL": "javascript:alert(1)"}), "BAD_USER_INPUT", "avatarURL"},
			{"short password", base(vars{"password": "short"}), "BAD_USER_INPUT", "password"},
			{"duplicate email in other case", base(vars{"email": "ANA.LEE@acme.test"}), "CONFLICT", "email"},
			{"unknown role", base(vars{"roleID": "12884909999"}), "NOT_FOUND", "roleID"},
			{"malformed role ID", base(vars{"roleID": "abc"}), "BAD_USER_INPUT", "roleID"},
			{"unknown division", base(vars{"divisionIDs": []string{"4294999999"}}), "NOT_FOUND", "divisionIDs"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				admin.do(t, `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`, tc.input).wantError(t, tc.code, tc.field)
			})
		}
		admin.do(t, `mutation { createDivision(input: {name: "support"}) { id } }`, nil).wantError(t, "CONFLICT", "name")
		admin.do(t, `mutation { createChannel(input: {type: EMAIL, name: "Mail", settings: {address: "nope"}}) { id } }`, nil).wantError(t, "BAD_USER_INPUT", "settings.address")
		admin.do(t, `mutation { deleteRole(id: "`+roles["ADMIN"]+`") }`, nil).wantError(t, "FORBIDDEN", "")
		admin.do(t, `mutation { archiveUser(id: "`+me.Me.ID+`") { id } }`, nil).wantError(t, "CONFLICT", "")
		admin.do(t, `mutation { deleteUser(id: "`+me.Me.ID+`") }`, nil).wantError(t, "CONFLICT", "")
		admin.do(t, `{ users(after: "garbage") { totalCount } }`, nil).wantError(t, "BAD_USER_INPUT", "after")
		admin.do(t, `{ node(id: "21474999999") { id } }`, nil).wantError(t, "NOT_FOUND", "")
	})

	t.Run("a failed mutation leaves nothing behind", func(t *testing.T) {
		admin.do(t, `mutation { a: createDivision(input: {name: "Atomic"}) { id } b: createDivision(input: {name: ""}) { id } }`, nil).wantError(t, "BAD_USER_INPUT", "name")
		var got struct{ Divisions struct{ TotalCount int } }
		admin.do(t, `{ divisions(where: {name: "Atomic"}) { totalCount } }`, nil).decode(t, &got)
		if got.Divisions.TotalCount != 0 {
			t.Errorf("the first half of a failed mutation was kept")
		}
	})

	t.Run("anonymous requests are refused", func(t *testing.T) {
		srv.client("").do(t, `{ users { totalCount } }`, nil).wantError(t, "UNAUTHENTICATED", "")
		srv.client("rst_forged").do(t, `{ me { id } }`, nil).wantError(t, "UNAUTHENTICATED", "")
	})

	agent := srv.login(t, "ana.lee@acme.test", agentPassword)
	t.Run("an agent reads but cannot manage", func(t *testing.T) {
		var got struct{ Users struct{ TotalCount int } }
		agent.do(t, `{ users { totalCount } }`, nil).decode(t, &got)
		if got.Users.TotalCount != 3 {
			t.Errorf("agent sees %d users, want 3", got.Users.TotalCount)
		}
		agent.do(t, `mutation { createUser(input: {firstName: "X", lastName: "Y", email: "x@acme.test", roleID: "`+roles["AGENT"]+`"}) { id } }`, nil).wantError(t, "FORBIDDEN", "")
		agent.do(t, `mutation { updateUser(id: "`+invitedID+`", input: {firstName: "Z"}) { id } }`, nil).wantError(t, "FORBIDDEN", "")
		agent.do(t, `mutation { createDivision(input: {name: "Mine"}) { id } }`, nil).wantError(t, "FORBIDDEN", "")
		agent.do(t, `mutation { createChannel(input: {type: LIVECHAT, name: "Chat"}) { id } }`, nil).wantError(t, "FORBIDDEN", "")
	})

	t.Run("nothing crosses organizations", func(t *testing.T) {
		db := fixture.MustOpenDB(t, dbURL)
		_, _, err := account.CreateOrganization(context.Background(), db.Client, "Other Inc", account.Admin{FirstName: "Olga", LastName: "Other", Email: "admin@acme.test", Password: "other admin password"})
		if err != nil {
			t.Fatal(err)
		}
		// The same email in two organizations: the password picks the account.
		other := srv.login(t, "admin@acme.test", "other admin password")
		var got struct {
			Users struct {
				TotalCount int
				Edges      []struct{ Node struct{ Email string } }
			}
			Divisions struct{ TotalCount int }
		}
		other.do(t, `{ users { totalCount edges { node { email } } } divisions { totalCount } }`, nil).decode(t, &got)
		if got.Users.TotalCount != 1 || got.Divisions.TotalCount != 0 {
			t.Errorf("the other organization sees %+v", got)
		}
		other.do(t, `{ node(id: "`+agentID+`") { id } }`, nil).wantError(t, "NOT_FOUND", "")
		other.do(t, `mutation { updateUser(id: "`+agentID+`", input: {firstName: "Hacked"}) { id } }`, nil).wantError(t, "NOT_FOUND", "")
		other.do(t, `mutation { archiveUser(id: "`+agentID+`") { id } }`, nil).wantError(t, "NOT_FOUND", "")
		other.do(t, `mutation { deleteUser(id: "`+agentID+`") }`, nil).wantError(t, "NOT_FOUND", "")
		other.do(t, `mutation { deleteDivision(id: "`+support+`") }`, nil).wantError(t, "NOT_FOUND", "")
		other.do(t, `mutation { createUser(input: {firstName: "X", lastName: "Y", email: "x@other.test", roleID: "`+roles["AGENT"]+`"}) { id } }`, nil).wantError(t, "NOT_FOUND", "roleID")
		var div struct{ CreateDivision struct{ ID string } }
		other.do(t, `mutation { createDivision(input: {name: "Theirs"}) { id } }`, nil).decode(t, &div)
		other.do(t, `mutation { addDivisionMembers(id: "`+div.CreateDivision.ID+`", userIDs: ["`+agentID+`"]) { id } }`, nil).wantError(t, "NOT_FOUND", "userIDs")
		var mine struct{ Node *struct{ FirstName string } }
		admin.do(t, `{ node(id: "`+agentID+`") { ... on User { firstName } } }`, nil).decode(t, &mine)
		if mine.Node == nil || mine.Node.FirstName != "Ana" {
			t.Errorf("the user changed: %+v", mine.Node)
		}
	})

	t.Run("filters, search, ordering and pagination", func(t *testing.T) {
		type page struct {
			Users struct {
				TotalCount int
				Edges      []struct{ Node struct{ Email string } }
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
			}
		}
		count := func(args string) int {
			var p page
			admin.do(t, `{ users`+args+` { totalCount edges { node { email } } } }`, nil).decode(t, &p)
			if len(p.Users.Edges) != p.Users.TotalCount {
				t.Errorf("users%s: %d edges but totalCount %d", args, len(p.Users.Edges), p.Users.TotalCount)
			}
			return p.Users.TotalCount
		}
		for args, want := range map[string]int{
			`(where: {hasDivisionsWith: [{id: "` + support + `"}]})`: 1,
			`(where: {hasRoleWith: [{builtin: SUPERVISOR}]})`:        1,
			`(where: {status: INVITED})`:                             1,
			`(where: {availability: OFFLINE})`:                       3,
			`(search: "ana LEE")`:                                    1,
			`(search: "812")`:                                        1,
			`(search: "acme.test")`:                                  3,
			`(search: "nobody")`:                                     0,
		} {
			if got := count(args); got != want {
				t.Errorf("users%s: %d, want %d", args, got, want)
			}
		}
		var first, second page
		admin.do(t, `{ users(first: 2, orderBy: {field: EMAIL}) { totalCount edges { node { email } } pageInfo { hasNextPage endCursor } } }`, nil).decode(t, &first)
		admin.do(t, `query($after: Cursor) { users(first: 2, after: $after, orderBy: {field: EMAIL}) { totalCount edges { node { email } } pageInfo { hasNextPage endCursor } } }`,
			vars{"after": first.Users.PageInfo.EndCursor}).decode(t, &second)
		emails := []string{}
		for _, p := range []page{first, second} {
			for _, e := range p.Users.Edges {
				emails = append(emails, e.Node.Email)
			}
		}
		if want := "admin@acme.test ana.lee@acme.test ivy@acme.test"; strings.Join(emails, " ") != want || !first.Users.PageInfo.HasNextPage || second.Users.PageInfo.HasNextPage {
			t.Errorf("pages = %v (next %v, %v), want %s", emails, first.Users.PageInfo.HasNextPage, second.Users.PageInfo.HasNextPage, want)
		}
	})

	t.Run("channels", func(t *testing.T) {
		var ch struct {
			CreateChannel struct{ ID, ConnectionState string }
		}
		admin.do(t, `mutation { createChannel(input: {type: WHATSAPP, name: "WA", settings: {phoneNumber: "+6281234567890"}, divisionIDs: ["`+support+`"]}) { id connectionState } }`, nil).decode(t, &ch)
		id := ch.CreateChannel.ID
		admin.do(t, `mutation { connectChannel(id: "`+id+`") { id } }`, nil).wantError(t, "BAD_USER_INPUT", "credentials")
		var got struct {
			UpdateChannel struct{ ID string }
			Connect       struct{ ConnectionState string }
			Disable       struct{ Enabled bool }
		}
		admin.do(t, `mutation { updateChannel(id: "`+id+`", input: {credentials: {accessToken: "secret-token-value"}}) { id } connect: connectChannel(id: "`+id+`") { connectionState } disable: setChannelEnabled(id: "`+id+`", enabled: false) { enabled } }`, nil).decode(t, &got)
		if got.Connect.ConnectionState != "CONNECTED" || got.Disable.Enabled {
			t.Errorf("channel = %+v", got)
		}
		raw := admin.do(t, `{ channels { edges { node { id settings divisions { name } } } } }`, nil)
		if strings.Contains(string(raw.Data), "secret-token-value") || !strings.Contains(string(raw.Data), "Support") {
			t.Errorf("channels = %s", raw.Data)
		}
		admin.do(t, `{ channels { edges { node { credentials } } } }`, nil).wantError(t, "GRAPHQL_VALIDATION_FAILED", "")
	})

	t.Run("a page of users with role and divisions takes a constant number of statements", func(t *testing.T) {
		for i := range 60 {
			admin.createUser(t, vars{"firstName": "Bulk", "lastName": fmt.Sprint(i), "email": fmt.Sprintf("bulk%d@acme.test", i),
				"roleID": roles["AGENT"], "divisionIDs": []string{support, sales}})
		}
		statements := map[int]int{}
		for _, size := range []int{1, 10, 50} {
			name := fmt.Sprintf("ListUsers%d", size)
			var got struct {
				Users struct {
					Edges []struct {
						Node struct {
							Role      struct{ Name string }
							Divisions []struct{ Name string }
						}
					}
				}
			}
			admin.do(t, fmt.Sprintf(`query %s { users(first: %d) { totalCount edges { node { id email role { name } divisions { name } } } } }`, name, size), nil).decode(t, &got)
			if len(got.Users.Edges) != size || got.Users.Edges[size-1].Node.Role.Name == "" {
				t.Fatalf("%s returned %d users", name, len(got.Users.Edges))
			}
			statements[size] = srv.logs.statements(t, "query "+name)
		}
		t.Logf("SQL statements per page of users with role and divisions: %v", statements)
		if statements[1] != statements[50] || statements[10] != statements[50] || statements[50] > 6 {
			t.Errorf("statements per page size = %v: want the same small number for every size", statements)
		}
	})

	t.Run("logout and archive end sessions", func(t *testing.T) {
		second := srv.login(t, "ana.lee@acme.test", agentPassword)
		second.do(t, `mutation { logout }`, nil).decode(t, new(struct{ Logout bool }))
		second.do(t, `{ me { id } }`, nil).wantError(t, "UNAUTHENTICATED", "")
		agent.do(t, `{ me { id } }`, nil).decode(t, new(struct{ Me struct{ ID string } }))

		var archived struct{ ArchiveUser struct{ Status string } }
		admin.do(t, `mutation { archiveUser(id: "`+agentID+`") { status } }`, nil).decode(t, &archived)
		if archived.ArchiveUser.Status != "ARCHIVED" {
			t.Errorf("archived user status = %s", archived.ArchiveUser.Status)
		}
		agent.do(t, `{ me { id } }`, nil).wantError(t, "UNAUTHENTICATED", "")
		srv.client("").do(t, loginMutation, vars{"i": vars{"email": "ana.lee@acme.test", "password": agentPassword}}).wantError(t, "UNAUTHENTICATED", "")
		var got struct {
			All      struct{ TotalCount int }
			Archived struct{ TotalCount int }
		}
		admin.do(t, `{ all: users(search: "ana") { totalCount } archived: users(where: {status: ARCHIVED}) { totalCount } }`, nil).decode(t, &got)
		if got.All.TotalCount != 0 || got.Archived.TotalCount != 1 {
			t.Errorf("after archiving: %+v", got)
		}
	})

	t.Run("health, readiness and GraphiQL", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/"} {
			resp, err := http.Get(srv.url + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: %s", path, resp.Status)
			}
		}
	})

	t.Run("logs carry no secrets", func(t *testing.T) {
		logs := srv.logs.String()
		for _, secret := range []string{adminPassword, agentPassword, admin.token, "secret-token-value"} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log contains a secret")
			}
		}
		if !strings.Contains(logs, `"operation":"query ListUsers50"`) {
			t.Errorf("request lines lack the operation name")
		}
	})
}

const loginMutation = `mutation($i: LoginInput!) { login(input: $i) { token expiresAt user { id email role { name } } } }`

type vars = map[string]any

// server is a running instance of the program.
type server struct {
	url  string
	logs *logBuffer
	// label marks every goroutine the server started, directly or not
	// (see goroutines); empty for a server in another process.
	label string
	// stop stops a server of this process and waits until it has (once;
	// nil for a server in another process).
	stop func(t testing.TB)
}

// servers numbers the servers tests start, for their goroutine labels.
var servers atomic.Int64

// goroutines returns how many goroutines of the process carry the server's
// label, and their stacks: the ones its serve call started, directly or
// not. Unlike runtime.NumGoroutine, the count ignores what other tests run
// meanwhile, so a test that counts may run in parallel.
func (s *server) goroutines() (int, string) {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	want := fmt.Sprintf(`# labels: {"roster-server":%q}`, s.label)
	n, stacks := 0, ""
	groups := strings.Split(buf.String(), "\n\n")
	for _, g := range groups {
		head, rest, _ := strings.Cut(g, "\n")
		if labels, _, _ := strings.Cut(rest, "\n"); labels == want {
			var k int
			if _, err := fmt.Sscanf(head, "%d @", &k); err == nil {
				n += k
				stacks += g + "\n\n"
			}
		}
	}
	return n, stacks
}

// startServer serves on port 0, with the settings run would read from the
// environment (plus settings, pairs of names and values) and passwords
// hashed at the lowest cost, and waits until it serves; the test's cleanup
// stops it and checks it shut down cleanly. On a database without
// organizations it creates the first one, with admin@acme.test as its admin.
func startServer(t testing.TB, dbURL string, settings ...string) *server {
	t.Helper()
	return launchServer(t, dbURL, "127.0.0.1:0", settings...)
}

// launchServer starts a server as startServer does, listening on addr. Its
// stop method stops it before the test's cleanup does (a restart serves the
// same address and database with a new launchServer).
func launchServer(t testing.TB, dbURL, addr string, settings ...string) *server {
	t.Helper()
	logs := &logBuffer{listening: make(chan string, 1)}
	env := map[string]string{
		"ROSTER_DATABASE_URL":   dbURL,
		"ROSTER_ADMIN_EMAIL":    "admin@acme.test",
		"ROSTER_ADMIN_PASSWORD": adminPassword,
		"ROSTER_LOG_FORMAT":     "json",
		"ROSTER_AVATAR_DIR":     t.TempDir(),
	}
	for i := 0; i+1 < len(settings); i += 2 {
		env[settings[i]] = settings[i+1]
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	label := strconv.FormatInt(servers.Add(1), 10)
	go pprof.Do(ctx, pprof.Labels("roster-server", label), func(ctx context.Context) {
		done <- runWith(ctx, fixture.Hasher, []string{"-addr", addr}, func(k string) string { return env[k] }, io.Discard, logs)
	})
	var once sync.Once
	stop := func(t testing.TB) {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("the server did not stop")
			}
		})
	}
	t.Cleanup(func() { stop(t) })
	select {
	case addr = <-logs.listening:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("the server did not start")
	}
	s := &server{url: "http://" + addr, logs: logs, label: label, stop: stop}
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			stop(t)
			t.Fatalf("/healthz: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startWorld makes the fixture's organizations (Acme when none is named)
// in the database at dbURL, then serves it as startServer does.
func startWorld(t testing.TB, dbURL string, orgNames []string, settings ...string) (*server, *fixture.World) {
	t.Helper()
	w := fixture.New(t, dbURL, orgNames...)
	return startServer(t, dbURL, settings...), w
}

// as returns a client with u's token.
func (s *server) as(u *fixture.User) *client { return s.client(u.Token) }

func (s *server) client(token string) *client { return &client{url: s.url + "/graphql", token: token} }

func (s *server) login(t testing.TB, email, password string) *client {
	t.Helper()
	var got struct{ Login struct{ Token string } }
	s.client("").do(t, loginMutation, vars{"i": vars{"email": email, "password": password}}).decode(t, &got)
	if !strings.HasPrefix(got.Login.Token, "rst_") {
		t.Fatalf("login returned token %q", got.Login.Token)
	}
	return s.client(got.Login.Token)
}

// client is a GraphQL client with a bearer token.
type client struct{ url, token string }

type response struct {
	Data   json.RawMessage
	Errors []struct {
		Message    string
		Path       []any
		Extensions struct{ Code, Field string }
	}
}

func (c *client) do(t testing.TB, query string, variables vars) *response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": variables})
	req, _ := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", c.url, err)
	}
	defer resp.Body.Close()
	var r response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode response (%s): %v", resp.Status, err)
	}
	return &r
}

func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

func (r *response) wantError(t testing.TB, code, field string) {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Fatalf("want %s error, got data %s", code, r.Data)
	}
	e := r.Errors[0]
	if e.Extensions.Code != code || e.Extensions.Field != field {
		t.Errorf("error = %q (code %s, field %q), want code %s, field %q", e.Message, e.Extensions.Code, e.Extensions.Field, code, field)
	}
	if code != "INTERNAL" && e.Message == "internal error" {
		t.Errorf("error message hides the reason")
	}
}

func (c *client) createDivision(t testing.TB, name string) string {
	t.Helper()
	var got struct{ CreateDivision struct{ ID string } }
	c.do(t, `mutation($n: String!) { createDivision(input: {name: $n}) { id } }`, vars{"n": name}).decode(t, &got)
	return got.CreateDivision.ID
}

func (c *client) createUser(t testing.TB, input vars) string {
	t.Helper()
	var got struct{ CreateUser struct{ ID string } }
	c.do(t, `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`, vars{"i": input}).decode(t, &got)
	return got.CreateUser.ID
}

// logBuffer collects the server's JSON log lines.
type logBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan string // receives the address the server listens on
	listened  bool
	dropping  bool // lines are no longer kept
}

// drop stops keeping the lines written from now on, and forgets those
// kept: for benchmarks that measure the server's memory.
func (l *logBuffer) drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropping = true
	l.buf = bytes.Buffer{}
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.listened && bytes.Contains(p, []byte(`"msg":"listening"`)) {
		var line struct{ Addr string }
		if json.Unmarshal(p, &line) == nil {
			l.listening <- line.Addr
			l.listened = true
		}
	}
	if l.dropping {
		return len(p), nil
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// statements returns the SQL statement count of the last request line of
// operation op.
func (l *logBuffer) statements(t testing.TB, op string) int {
	t.Helper()
	// The line is written just after the response is sent: wait for it.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if n := l.lastStatements(op); n >= 0 {
			return n
		}
	}
	t.Fatalf("no request line for %q in:\n%s", op, l.String()[max(0, len(l.String())-3000):])
	return 0
}

func (l *logBuffer) lastStatements(op string) int {
	n := -1
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var line struct {
			Msg           string
			Operation     string
			SQLStatements int `json:"sql_statements"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "request" && line.Operation == op {
			n = line.SQLStatements
		}
	}
	return n
}
