package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"roster/internal/store/storetest"
)

// wsClient speaks graphql-transport-ws to the server.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialWS opens a websocket and, with a token, initialises it.
func dialWS(t *testing.T, baseURL, token string) *wsClient {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(baseURL, "http")+"/graphql", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	c := &wsClient{t: t, conn: conn}
	t.Cleanup(func() { conn.Close() })
	if token != "" {
		c.send(wsMessage{Type: "connection_init", Payload: json.RawMessage(fmt.Sprintf(`{"Authorization": "Bearer %s"}`, token))})
		if m := c.read(); m.Type != "connection_ack" {
			t.Fatalf("init answered %+v", m)
		}
	}
	return c
}

func (c *wsClient) send(m wsMessage) {
	c.t.Helper()
	if err := c.conn.WriteJSON(m); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) read() wsMessage {
	c.t.Helper()
	var m wsMessage
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.conn.ReadJSON(&m); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *wsClient) subscribe(id, query string) {
	c.t.Helper()
	payload, _ := json.Marshal(map[string]any{"query": query})
	c.send(wsMessage{ID: id, Type: "subscribe", Payload: payload})
}

// status reads the next userStatusChanged event.
func (c *wsClient) status() (userID string, availability string, online bool) {
	c.t.Helper()
	m := c.read()
	var p struct {
		Data struct {
			UserStatusChanged struct {
				User         struct{ ID string }
				Availability string
				Online       bool
			}
		}
		Errors []any
	}
	if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil || len(p.Errors) > 0 {
		c.t.Fatalf("want a next message, got %s %s", m.Type, m.Payload)
	}
	ev := p.Data.UserStatusChanged
	return ev.User.ID, ev.Availability, ev.Online
}

// statusOf reads status events until one about user id.
func (c *wsClient) statusOf(id string) (availability string, online bool) {
	c.t.Helper()
	for {
		if got, availability, online := c.status(); got == id {
			return availability, online
		}
	}
}

// closed waits for the server to close the socket and returns the code.
func (c *wsClient) closed() int {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.conn.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
	}
}

const statusSubscription = `subscription { userStatusChanged { user { id email } availability online version at } }`

func TestWebsocket(t *testing.T) {
	t.Parallel()
	srv := startServer(t, storetest.SQLiteURL(t), "ROSTER_PRESENCE_GRACE", "100ms")
	admin := srv.login(t, "admin@acme.test", adminPassword)
	var roles struct {
		Roles struct {
			Edges []struct{ Node struct{ ID, Builtin string } }
		}
	}
	admin.do(t, `{ roles { edges { node { id builtin } } } }`, nil).decode(t, &roles)
	agentRole := ""
	for _, e := range roles.Roles.Edges {
		if e.Node.Builtin == "AGENT" {
			agentRole = e.Node.ID
		}
	}
	agentID := admin.createUser(t, vars{"firstName": "Ana", "lastName": "Lee", "email": "ana@acme.test", "password": "agent password 123", "roleID": agentRole})

	dash := dialWS(t, srv.url, admin.token)
	dash.subscribe("1", statusSubscription)

	phone := srv.login(t, "ana@acme.test", "agent password 123")
	laptop := srv.login(t, "ana@acme.test", "agent password 123")
	phoneWS := dialWS(t, srv.url, phone.token)
	if _, online := dash.statusOf(agentID); !online {
		t.Fatal("not online after the phone connected")
	}
	laptopWS := dialWS(t, srv.url, laptop.token)
	// The second device is a status event of its own (devices: 2).
	if availability, online := dash.statusOf(agentID); availability != "OFFLINE" || !online {
		t.Fatalf("after the laptop connected: %s online=%v", availability, online)
	}
	laptop.do(t, `mutation { setMyAvailability(availability: BUSY) { availability } }`, nil).decode(t, new(any))
	if availability, online := dash.statusOf(agentID); availability != "BUSY" || !online {
		t.Fatalf("after busy: %s online=%v", availability, online)
	}

	var sum struct {
		PresenceSummary struct {
			Total, Online  int
			ByAvailability []struct {
				Availability string
				Online       int
			}
			ByRole []struct {
				Role          struct{ Name string }
				Total, Online int
			}
		}
	}
	admin.do(t, `{ presenceSummary { total online byAvailability { availability online } byRole { role { name } total online } byDivision { division { name } total online } } }`, nil).decode(t, &sum)
	ps := sum.PresenceSummary
	busy, agents := 0, 0
	for _, a := range ps.ByAvailability {
		if a.Availability == "BUSY" {
			busy = a.Online
		}
	}
	for _, r := range ps.ByRole {
		if r.Role.Name == "Agent" {
			agents = r.Online
		}
	}
	if ps.Total != 2 || ps.Online != 2 || busy != 1 || agents != 1 || len(ps.ByAvailability) != 4 || len(ps.ByRole) != 3 {
		t.Errorf("presence summary = %+v", ps)
	}

	// Logging out on the laptop closes the laptop's socket at once, with
	// 4403; the phone keeps the user online.
	laptop.do(t, `mutation { logout }`, nil).decode(t, new(any))
	if code := laptopWS.closed(); code != 4403 {
		t.Errorf("the revoked socket closed with %d, want 4403", code)
	}
	// The phone loses its network: once its socket is gone and the grace
	// period has passed, the user is offline, still BUSY as they chose.
	// Each device leaving is a status event (devices 1, then 0) before the
	// user goes offline.
	phoneWS.conn.Close()
	for online := true; online; {
		var availability string
		if availability, online = dash.statusOf(agentID); availability != "BUSY" {
			t.Fatalf("after the phone left: %s online=%v", availability, online)
		}
	}
	var me struct {
		Node struct {
			Online      bool
			LastSeenAt  *string
			Connections int
		}
	}
	admin.do(t, `{ node(id: "`+agentID+`") { ... on User { online lastSeenAt connections } } }`, nil).decode(t, &me)
	if me.Node.Online || me.Node.LastSeenAt == nil || me.Node.Connections != 0 {
		t.Errorf("agent after leaving = %+v", me.Node)
	}

	t.Run("a bad token is refused with 4403", func(t *testing.T) {
		c := dialWS(t, srv.url, "")
		c.send(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"authorization": "Bearer rst_forged"}`)})
		if code := c.closed(); code != 4403 {
			t.Errorf("closed with %d, want 4403", code)
		}
	})
	t.Run("a foreign origin is refused", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		_, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.url, "http")+"/graphql", http.Header{"Origin": {"https://evil.example"}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("foreign origin: %v %v", err, resp)
		}
	})
}

// TestTwoInstances runs two instances on one PostgreSQL database: a
// dashboard on one sees the changes made through the other, and when the
// other is killed without shutting down, its users go offline within the
// bound: ROSTER_INSTANCE_TIMEOUT and one heartbeat (a third of it), 15 s
// with the defaults.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		timeout string // ROSTER_INSTANCE_TIMEOUT, the default when ""
		bound   time.Duration
	}{
		{"instance timeout 2s", "2s", 5 * time.Second},
		{"defaults", "", 15 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testTwoInstances(t, tc.timeout, tc.bound)
		})
	}
}

func testTwoInstances(t *testing.T, timeout string, bound time.Duration) {
	dbURL := storetest.PostgresURL(t)
	settingsA, envB := []string{"ROSTER_PRESENCE_GRACE", "0s"}, []string{"ROSTER_PRESENCE_GRACE=0s"}
	if timeout != "" {
		settingsA = append(settingsA, "ROSTER_INSTANCE_TIMEOUT", timeout)
		envB = append(envB, "ROSTER_INSTANCE_TIMEOUT="+timeout)
	}
	a := startServer(t, dbURL, settingsA...)
	b := startProcess(t, dbURL, envB...)

	adminA := a.login(t, "admin@acme.test", adminPassword)
	dash := dialWS(t, a.url, adminA.token)
	dash.subscribe("1", statusSubscription)

	var roles struct {
		Roles struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	adminA.do(t, `{ roles(where: {builtin: AGENT}) { edges { node { id } } } }`, nil).decode(t, &roles)
	agentID := adminA.createUser(t, vars{"firstName": "Ana", "lastName": "Lee", "email": "ana@acme.test", "password": "agent password 123", "roleID": roles.Roles.Edges[0].Node.ID})

	agentB := b.login(t, "ana@acme.test", "agent password 123")
	dialWS(t, b.url, agentB.token) // the agent comes online through B
	if _, online := dash.statusOf(agentID); !online {
		t.Fatal("A did not hear that the agent came online on B")
	}
	agentB.do(t, `mutation { setMyAvailability(availability: AWAY) { id } }`, nil).decode(t, new(any))
	if availability, _ := dash.statusOf(agentID); availability != "AWAY" {
		t.Fatalf("A heard availability %s", availability)
	}
	start := time.Now()
	b.kill()
	// Asked of A until the agent is offline: the event may come later than
	// a socket read may wait.
	for {
		var got struct{ Node struct{ Online bool } }
		adminA.do(t, `query($id: ID!) { node(id: $id) { ... on User { online } } }`, vars{"id": agentID}).decode(t, &got)
		if !got.Node.Online {
			break
		}
		if time.Since(start) > bound+5*time.Second {
			t.Fatalf("still online %v after B died", time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, online := dash.statusOf(agentID); online {
		t.Fatal("the dashboard on A did not hear that the agent went offline")
	}
	took := time.Since(start)
	t.Logf("offline on A %v after B was killed (bound %v)", took.Round(time.Millisecond), bound)
	if took > bound {
		t.Errorf("took %v, more than %v", took, bound)
	}
}

// process is the server running as a separate program.
type process struct {
	*server
	cmd *exec.Cmd
}

func (p *process) kill() { _ = p.cmd.Process.Signal(syscall.SIGKILL); _ = p.cmd.Wait() }

// startProcess runs the server as its own process: the test binary, run as
// the program (see TestMain).
func startProcess(t *testing.T, dbURL string, env ...string) *process {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{listening: make(chan string, 1)}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), append(env, asProgram+"=1",
		"ROSTER_DATABASE_URL="+dbURL, "ROSTER_ADMIN_EMAIL=admin@acme.test", "ROSTER_ADMIN_PASSWORD="+adminPassword, "ROSTER_LOG_FORMAT=json")...)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd}
	t.Cleanup(p.kill)
	select {
	case addr := <-logs.listening:
		p.server = &server{url: "http://" + addr, logs: logs}
	case <-time.After(60 * time.Second):
		t.Fatalf("the second instance did not start:\n%s", logs.String())
	}
	return p
}

// TestSubscriptionsLeaveNoGoroutines opens 1,000 subscriptions over ten
// sockets, lets them go, and checks that the server's goroutines return to
// their number before. It counts only the server's (see goroutines), so it
// runs beside the other tests.
func TestSubscriptionsLeaveNoGoroutines(t *testing.T) {
	t.Parallel()
	srv := startServer(t, storetest.SQLiteURL(t))
	admin := srv.login(t, "admin@acme.test", adminPassword)
	dialWS(t, srv.url, admin.token).conn.Close() // warm up the server's pools
	time.Sleep(200 * time.Millisecond)
	before, _ := srv.goroutines()

	var sockets []*wsClient
	for i := range 10 {
		c := dialWS(t, srv.url, admin.token)
		for j := range 100 {
			// Half share one execution, half run on their own.
			q := statusSubscription
			if j%2 == 1 {
				q = fmt.Sprintf(`subscription S%d { userStatusChanged { user { id } online } }`, i*100+j)
			}
			c.subscribe(fmt.Sprint(j), q)
		}
		sockets = append(sockets, c)
	}
	// Operations start in the order they arrive: once a query sent last
	// is answered, every subscription runs.
	start := time.Now()
	for _, c := range sockets {
		c.subscribe("ready", `{ me { id } }`)
		for m := c.read(); m.ID != "ready"; m = c.read() {
		}
	}
	t.Logf("1,000 subscriptions started in %v", time.Since(start).Round(time.Millisecond))
	var roles struct {
		Roles struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	admin.do(t, `{ roles(where: {builtin: AGENT}) { edges { node { id } } } }`, nil).decode(t, &roles)
	admin.createUser(t, vars{"firstName": "Ana", "lastName": "Lee", "email": "ana@acme.test", "password": "agent password 123", "roleID": roles.Roles.Edges[0].Node.ID})
	agent := srv.login(t, "ana@acme.test", "agent password 123")
	agent.do(t, `mutation { setMyAvailability(availability: BUSY) { id } }`, nil).decode(t, new(any))
	for _, c := range sockets {
		got := map[string]bool{}
		for len(got) < 100 {
			m := c.read()
			if m.Type == "next" && strings.Contains(string(m.Payload), "BUSY") || strings.Contains(string(m.Payload), `"online":false`) && !strings.Contains(string(m.Payload), "availability") {
				got[m.ID] = true
			}
		}
	}
	during, _ := srv.goroutines()
	for i, c := range sockets {
		if i%2 == 0 {
			for j := range 100 {
				c.send(wsMessage{ID: fmt.Sprint(j), Type: "complete"})
			}
		}
		c.conn.Close()
	}
	// Closing sockets write to the database (presence): on a busy machine
	// that takes a while. The loop ends as soon as the count is back.
	deadline := time.Now().Add(30 * time.Second)
	for n, _ := srv.goroutines(); n > before+2 && time.Now().Before(deadline); n, _ = srv.goroutines() {
		time.Sleep(50 * time.Millisecond)
	}
	if after, stacks := srv.goroutines(); after > before+2 {
		t.Fatalf("goroutines: %d before, %d with 1,000 subscriptions, %d after they left\n%s", before, during, after, stacks)
	} else {
		t.Logf("goroutines: %d before, %d with 1,000 subscriptions, %d after they left", before, during, after)
	}
}
