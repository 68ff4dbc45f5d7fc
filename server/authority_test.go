package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/store/storetest"
	"roster/internal/viewer"
)

// authorityFixture is a running server (two instances on PostgreSQL: the
// sockets on one, the changes through the other) over two organizations.
// Its world's client writes to the database without publishing events.
type authorityFixture struct {
	ws, api *server
	w       *fixture.World
	admin   [2]*client // the organizations' admins, through api
	div     [2]int     // two divisions of the first organization
}

func newAuthorityFixture(t *testing.T, target storetest.Target) *authorityFixture {
	t.Helper()
	dbURL := target.URL(t)
	w := fixture.New(t, dbURL, "Acme", "Globex")
	f := &authorityFixture{w: w, ws: startServer(t, dbURL)}
	f.api = f.ws
	if target.Name == "postgres" {
		f.api = startServer(t, dbURL)
	}
	f.div = [2]int{w.Orgs[0].Support, w.Orgs[0].NewDivision(t, "Sales")}
	f.admin = [2]*client{f.api.as(w.Orgs[0].Admin), f.api.as(w.Orgs[1].Admin)}
	return f
}

// builtin returns the ID of organization org's built-in role b.
func (f *authorityFixture) builtin(org int, b role.Builtin) int { return f.w.Orgs[org].Roles[b] }

// spec describes a fixture user.
type spec struct {
	org       int
	role      role.Builtin
	roleID    int // a custom role instead
	chat      user.ChatAccess
	broadcast bool
	divs      []int
}

// person is a fixture user with a token, through the sockets' instance.
type person struct {
	id string
	c  *client
}

func (f *authorityFixture) user(t *testing.T, s spec) person {
	t.Helper()
	u := f.w.Orgs[s.org].NewUser(t, fixture.Spec{Role: s.role, ChatAccess: s.chat, Broadcast: s.broadcast, Divisions: s.divs})
	if s.roleID != 0 {
		f.w.Client.User.UpdateOneID(u.ID).SetRoleID(s.roleID).ExecX(fixture.System())
	}
	return person{id: strconv.Itoa(u.ID), c: f.ws.as(u)}
}

// socket opens a websocket of p on the sockets' instance, subscribed to
// every status change it may see.
func (f *authorityFixture) socket(t *testing.T, p person) *wsClient {
	t.Helper()
	c := dialWS(t, f.ws.url, p.c.token)
	c.subscribe("status", statusSubscription)
	// The subscription listens once an event about p comes through it (p
	// always sees themself): an answer to a later operation proves
	// nothing, the subscription registering with the hub in a run of its
	// own. p's availability changes until such an event arrives.
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			// Alternating: at most the first leaves it as it was.
			a := []string{"BUSY", "AWAY"}[i%2]
			body, _ := json.Marshal(map[string]any{"query": `mutation($a: Availability!) { setMyAvailability(availability: $a) { id } }`, "variables": vars{"a": a}})
			req, _ := http.NewRequest(http.MethodPost, p.c.url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+p.c.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("set %s's availability: %v", p.id, err)
				return
			}
			resp.Body.Close()
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	c.statusesUntil(p.id)
	close(stop)
	<-done
	return c
}

// wsResult is the first answer to an operation sent over a websocket.
type wsResult struct {
	Data   json.RawMessage
	Errors []struct {
		Message    string
		Extensions struct{ Code string }
	}
}

func (r wsResult) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Extensions.Code
}

// result sends an operation and returns its first answer, or the close
// code when the socket closes first. Messages of other operations are
// skipped.
func (c *wsClient) result(id, query string) (wsResult, int) {
	c.t.Helper()
	c.subscribe(id, query)
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m wsMessage
		err := c.conn.ReadJSON(&m)
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return wsResult{}, ce.Code
		}
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if m.ID != id {
			continue
		}
		var r wsResult
		switch m.Type {
		case "next":
			err = json.Unmarshal(m.Payload, &r)
		case "error":
			err = json.Unmarshal(m.Payload, &r.Errors)
		default:
			c.t.Fatalf("%s answered %s %s", id, m.Type, m.Payload)
		}
		if err != nil {
			c.t.Fatalf("decode %s: %v", m.Payload, err)
		}
		return r, 0
	}
}

// closedWithin waits for the socket to close and returns the code, failing
// unless it closes within d of start.
func (c *wsClient) closedWithin(start time.Time, d time.Duration) int {
	c.t.Helper()
	code := c.closed()
	took := time.Since(start)
	if took > d {
		c.t.Errorf("closed after %v, want within %v", took.Round(time.Millisecond), d)
	}
	c.t.Logf("closed with %d after %v", code, took.Round(time.Millisecond))
	return code
}

// statusesUntil reads the events of the status subscription until one
// about user until, and returns the users they were about. The answers to
// other operations are skipped.
func (c *wsClient) statusesUntil(until string) map[string]bool {
	c.t.Helper()
	seen := map[string]bool{}
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m wsMessage
		if err := c.conn.ReadJSON(&m); err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if m.ID != "status" {
			continue
		}
		var p struct {
			Data struct {
				UserStatusChanged struct{ User struct{ ID string } }
			}
		}
		if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil {
			c.t.Fatalf("status subscription: %s %s", m.Type, m.Payload)
		}
		id := p.Data.UserStatusChanged.User.ID
		seen[id] = true
		if id == until {
			return seen
		}
	}
}

var roleSeq atomic.Int64

// setAvailability changes p's availability, so that a status event about
// p goes out.
func setAvailability(t *testing.T, p person) {
	t.Helper()
	// Another one than p has now: an unchanged status sends no event.
	var me struct{ Me struct{ Availability string } }
	p.c.do(t, `{ me { availability } }`, nil).decode(t, &me)
	a := map[string]string{"BUSY": "AWAY", "AWAY": "ONLINE"}[me.Me.Availability]
	if a == "" {
		a = "BUSY"
	}
	p.c.do(t, `mutation($a: Availability!) { setMyAvailability(availability: $a) { id } }`, vars{"a": a}).decode(t, new(any))
}

// TestAuthorityIsCurrent checks that an operation sent over a websocket is
// authorized with the viewer as they are now, and that a socket whose
// viewer's authority shrinks closes with 4403 within a second, while
// changes elsewhere (growing authority, a scoped supervisor's divisions,
// another organization) leave sockets open. On PostgreSQL the sockets are
// on one instance and the changes go through another.
func TestAuthorityIsCurrent(t *testing.T) {
	t.Parallel()
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			testAuthority(t, newAuthorityFixture(t, target))
		})
	}
}

func testAuthority(t *testing.T, f *authorityFixture) {
	admin := f.admin[0]
	shrinks := []struct {
		name   string
		victim spec
		change func(t *testing.T, victim person)
	}{
		{"admin demoted to agent", spec{role: role.BuiltinAdmin}, func(t *testing.T, v person) {
			admin.do(t, `mutation($id: ID!, $r: ID!) { updateUser(id: $id, input: {roleID: $r}) { id } }`, vars{"id": v.id, "r": strconv.Itoa(f.builtin(0, role.BuiltinAgent))}).decode(t, new(any))
		}},
		{"role loses a permission", spec{roleID: -1}, func(t *testing.T, v person) {
			r := f.w.Client.User.Query().Where(user.ID(atoi(v.id))).OnlyX(fixture.System()).RoleID
			admin.do(t, `mutation($id: ID!) { updateRole(id: $id, input: {permissions: [VIEW_REPORTS]}) { id } }`, vars{"id": strconv.Itoa(r)}).decode(t, new(any))
		}},
		{"supervisor switched to assigned divisions", spec{role: role.BuiltinSupervisor, chat: user.ChatAccessAllDivisions, divs: []int{f.div[0]}}, func(t *testing.T, v person) {
			admin.do(t, `mutation($id: ID!) { updateUser(id: $id, input: {chatAccess: ASSIGNED_DIVISIONS}) { id } }`, vars{"id": v.id}).decode(t, new(any))
		}},
		{"broadcast removed", spec{role: role.BuiltinAgent, broadcast: true}, func(t *testing.T, v person) {
			admin.do(t, `mutation($id: ID!) { updateUser(id: $id, input: {broadcast: false}) { id } }`, vars{"id": v.id}).decode(t, new(any))
		}},
		{"archived", spec{role: role.BuiltinAgent}, func(t *testing.T, v person) {
			admin.do(t, `mutation($id: ID!) { archiveUser(id: $id) { id } }`, vars{"id": v.id}).decode(t, new(any))
		}},
	}
	for _, tc := range shrinks {
		t.Run("closes: "+tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.victim
			if s.roleID == -1 {
				s.roleID = f.w.Client.Role.Create().SetOrganizationID(f.w.Orgs[0].ID).SetName("Managers " + strconv.Itoa(int(roleSeq.Add(1)))).
					SetPermissions([]viewer.Permission{viewer.ManageUsers, viewer.ViewReports}).SaveX(fixture.System()).ID
			}
			victim := f.user(t, s)
			sock := f.socket(t, victim)
			start := time.Now()
			tc.change(t, victim)
			if code := sock.closedWithin(start, time.Second); code != 4403 {
				t.Errorf("closed with %d, want 4403", code)
			}
		})
	}

	t.Run("a demoted admin's next operation on the socket is forbidden", func(t *testing.T) {
		t.Parallel()
		victim := f.user(t, spec{role: role.BuiltinAdmin})
		sock := f.socket(t, victim)
		adminRole := strconv.Itoa(f.builtin(0, role.BuiltinAdmin))
		promote := fmt.Sprintf(`mutation { updateUser(id: %q, input: {roleID: %q}) { id } }`, victim.id, adminRole)
		// Demoted without an event (a raw write): the socket stays open,
		// and its next operation must still see the demotion.
		f.w.Client.User.UpdateOneID(atoi(victim.id)).SetRoleID(f.builtin(0, role.BuiltinAgent)).ExecX(fixture.System())
		r, closed := sock.result("promote", promote)
		if closed == 4403 {
			// The socket's periodic check of its viewer came first and
			// closed it: the promotion must not have happened.
			if got := f.w.Client.User.GetX(fixture.System(), atoi(victim.id)).RoleID; got != f.builtin(0, role.BuiltinAgent) {
				t.Errorf("the socket closed with 4403, but the demoted admin has role %d, not Agent's", got)
			}
			return
		}
		if closed != 0 || r.code() != "FORBIDDEN" {
			t.Errorf("promoting themselves after the demotion: closed %d, %+v, want FORBIDDEN", closed, r)
		}
		// The socket's authority is narrower than its start's: any check
		// of it may close it now (a change to a role of the organization,
		// made by another test, checks every socket of it).
		r, closed = sock.result("me", `{ me { role { builtin } } }`)
		if closed != 4403 && (closed != 0 || string(r.Data) != `{"me":{"role":{"builtin":"AGENT"}}}`) {
			t.Errorf("me after the demotion: closed %d, %s %+v", closed, r.Data, r.Errors)
		}
		if got := f.w.Client.User.Query().Where(user.ID(atoi(victim.id))).OnlyX(fixture.System()).RoleID; got != f.builtin(0, role.BuiltinAgent) {
			t.Errorf("role %d after the refused promotion", got)
		}

		// Demoted through the API, with a mutation sent at once: refused,
		// or the socket is closed first; never done.
		again := f.user(t, spec{role: role.BuiltinAdmin})
		sock = f.socket(t, again)
		admin.do(t, `mutation($id: ID!, $r: ID!) { updateUser(id: $id, input: {roleID: $r}) { id } }`, vars{"id": again.id, "r": strconv.Itoa(f.builtin(0, role.BuiltinAgent))}).decode(t, new(any))
		r, closed = sock.result("promote", fmt.Sprintf(`mutation { updateUser(id: %q, input: {roleID: %q}) { id } }`, again.id, adminRole))
		if closed != 4403 && r.code() != "FORBIDDEN" {
			t.Errorf("promoting themselves right after the demotion: closed %d, %s %+v", closed, r.Data, r.Errors)
		}
		if got := f.w.Client.User.Query().Where(user.ID(atoi(again.id))).OnlyX(fixture.System()).RoleID; got != f.builtin(0, role.BuiltinAgent) {
			t.Errorf("role %d after the refused promotion", got)
		}
	})

	t.Run("a supervisor switched to assigned divisions stops seeing other divisions", func(t *testing.T) {
		t.Parallel()
		sup := f.user(t, spec{role: role.BuiltinSupervisor, chat: user.ChatAccessAllDivisions, divs: []int{f.div[0]}})
		mine := f.user(t, spec{role: role.BuiltinAgent, divs: []int{f.div[0]}})
		other := f.user(t, spec{role: role.BuiltinAgent, divs: []int{f.div[1]}})
		sock := f.socket(t, sup)
		setAvailability(t, other)
		setAvailability(t, mine)
		if seen := sock.statusesUntil(mine.id); !seen[other.id] {
			t.Fatalf("before the switch the supervisor did not see the other division's user")
		}
		start := time.Now()
		admin.do(t, `mutation($id: ID!) { updateUser(id: $id, input: {chatAccess: ASSIGNED_DIVISIONS}) { id } }`, vars{"id": sup.id}).decode(t, new(any))
		if code := sock.closedWithin(start, time.Second); code != 4403 {
			t.Fatalf("closed with %d, want 4403", code)
		}
		sock = f.socket(t, sup)
		setAvailability(t, other)
		setAvailability(t, mine)
		if seen := sock.statusesUntil(mine.id); seen[other.id] {
			t.Errorf("after the switch the supervisor still sees the other division's user")
		}
		var users struct {
			Users struct{ TotalCount int }
		}
		r, closed := sock.result("users", fmt.Sprintf(`{ users(where: {id: %q}) { totalCount } }`, other.id))
		if closed != 0 || json.Unmarshal(r.Data, &users) != nil || users.Users.TotalCount != 0 {
			t.Errorf("the other division's user over the socket: closed %d, %s %+v", closed, r.Data, r.Errors)
		}
	})

	t.Run("a scoped supervisor removed from a division stops seeing its users", func(t *testing.T) {
		t.Parallel()
		sup := f.user(t, spec{role: role.BuiltinSupervisor, chat: user.ChatAccessAssignedDivisions, divs: []int{f.div[0], f.div[1]}})
		mine := f.user(t, spec{role: role.BuiltinAgent, divs: []int{f.div[0]}})
		other := f.user(t, spec{role: role.BuiltinAgent, divs: []int{f.div[1]}})
		sock := f.socket(t, sup)
		setAvailability(t, other)
		setAvailability(t, mine)
		if seen := sock.statusesUntil(mine.id); !seen[other.id] {
			t.Fatalf("before the change the supervisor did not see the second division's user")
		}
		admin.do(t, `mutation($d: ID!, $u: ID!) { removeDivisionMembers(id: $d, userIDs: [$u]) { id } }`, vars{"d": strconv.Itoa(f.div[1]), "u": sup.id}).decode(t, new(any))
		setAvailability(t, other)
		setAvailability(t, mine)
		if seen := sock.statusesUntil(mine.id); seen[other.id] {
			t.Errorf("after leaving the division the supervisor still sees its user")
		}
	})

	t.Run("growing authority and another organization's changes leave sockets open", func(t *testing.T) {
		t.Parallel()
		agent := f.user(t, spec{role: role.BuiltinAgent, divs: []int{f.div[0]}})
		watcher := f.user(t, spec{role: role.BuiltinAdmin})
		sock := f.socket(t, watcher)
		agentSock := f.socket(t, agent)

		// The first organization's agent is promoted.
		admin.do(t, `mutation($id: ID!, $r: ID!) { updateUser(id: $id, input: {roleID: $r}) { id } }`, vars{"id": agent.id, "r": strconv.Itoa(f.builtin(0, role.BuiltinSupervisor))}).decode(t, new(any))
		// The second organization demotes an admin, narrows its roles and
		// archives a user.
		other := f.admin[1]
		gAdmin := f.user(t, spec{org: 1, role: role.BuiltinAdmin})
		gAgent := f.user(t, spec{org: 1, role: role.BuiltinAgent})
		gSock := f.socket(t, gAdmin)
		start := time.Now()
		other.do(t, `mutation($id: ID!, $r: ID!) { updateUser(id: $id, input: {roleID: $r}) { id } }`, vars{"id": gAdmin.id, "r": strconv.Itoa(f.builtin(1, role.BuiltinAgent))}).decode(t, new(any))
		if code := gSock.closedWithin(start, time.Second); code != 4403 {
			t.Errorf("the second organization's demoted admin: closed with %d", code)
		}
		for _, b := range []role.Builtin{role.BuiltinSupervisor, role.BuiltinAgent} {
			other.do(t, `mutation($id: ID!) { updateRole(id: $id, input: {permissions: []}) { id } }`, vars{"id": strconv.Itoa(f.builtin(1, b))}).decode(t, new(any))
		}
		other.do(t, `mutation($id: ID!) { archiveUser(id: $id) { id } }`, vars{"id": gAgent.id}).decode(t, new(any))

		// The first organization's sockets still deliver, well after.
		time.Sleep(300 * time.Millisecond)
		setAvailability(t, agent)
		sock.statusesUntil(agent.id)
		agentSock.statusesUntil(agent.id)
		r, closed := agentSock.result("me", `{ me { role { builtin } } }`)
		if closed != 0 || string(r.Data) != `{"me":{"role":{"builtin":"SUPERVISOR"}}}` {
			t.Errorf("the promoted agent's socket: closed %d, %s %+v", closed, r.Data, r.Errors)
		}
	})
}

// TestWebsocketSubscriptionCap fills a socket's cap of subscriptions: one
// more is refused with TOO_MANY_SUBSCRIPTIONS for its id, the socket goes
// on, and completing one makes room. Another socket of the same viewer has
// a cap of its own.
func TestWebsocketSubscriptionCap(t *testing.T) {
	t.Parallel()
	srv := startServer(t, storetest.SQLiteURL(t), "ROSTER_WS_MAX_SUBSCRIPTIONS", "3")
	admin := srv.login(t, "admin@acme.test", adminPassword)
	sock := dialWS(t, srv.url, admin.token)
	for i := range 3 {
		// Shared runs and runs of their own count alike.
		sock.subscribe(fmt.Sprint(i), fmt.Sprintf(`subscription S%d { userStatusChanged { user { id } } }`, i%2))
	}
	r, closed := sock.result("over", `subscription { userChanged { userID } }`)
	if closed != 0 || r.code() != "TOO_MANY_SUBSCRIPTIONS" || len(r.Errors) != 1 || r.Errors[0].Message != "too many subscriptions: this connection already runs 3, the most allowed; complete one before subscribing again" {
		t.Fatalf("over the cap: closed %d, %+v", closed, r)
	}
	if r, closed := sock.result("q", `{ me { email } }`); closed != 0 || string(r.Data) != `{"me":{"email":"admin@acme.test"}}` {
		t.Fatalf("query after the refusal: closed %d, %s %+v", closed, r.Data, r.Errors)
	}
	other := dialWS(t, srv.url, admin.token)
	other.subscribe("1", `subscription { userChanged { userID } }`)
	other.runs(t, "1")
	sock.send(wsMessage{ID: "0", Type: "complete"})
	sock.subscribe("again", `subscription { userChanged { kind userID } }`)
	sock.runs(t, "again")
	// The new subscription runs: it tells of a user created now.
	var roles struct {
		Roles struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	admin.do(t, `{ roles(where: {builtin: AGENT}) { edges { node { id } } } }`, nil).decode(t, &roles)
	id := admin.createUser(t, vars{"firstName": "Ana", "lastName": "Lee", "email": "ana@acme.test", "password": "agent password 123", "roleID": roles.Roles.Edges[0].Node.ID})
	for {
		m := sock.read()
		if m.ID == "again" {
			if m.Type != "next" || !strings.Contains(string(m.Payload), id) {
				t.Fatalf("after one completed: %s %s", m.Type, m.Payload)
			}
			break
		}
	}
}

// runs checks that subscription id was not refused: a query sent after it
// is answered before any error for it.
func (c *wsClient) runs(t *testing.T, id string) {
	t.Helper()
	c.subscribe("probe-"+id, `{ me { id } }`)
	for {
		m := c.read()
		switch {
		case m.ID == id && m.Type == "error":
			t.Fatalf("subscription %s refused: %s", id, m.Payload)
		case m.ID == "probe-"+id:
			return
		}
	}
}
