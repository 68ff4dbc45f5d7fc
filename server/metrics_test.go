package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"roster/internal/store/storetest"
)

// scrape returns the samples of /metrics, by name and labels as written
// (`name{a="x",b="y"}`).
func (s *server) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// eventuallyMetric waits until sample name has value want.
func (s *server) eventuallyMetric(t *testing.T, name string, want float64) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = s.scrape(t)[name]; got == want {
			return
		}
	}
	t.Fatalf("%s = %v, want %v", name, got, want)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	srv := startServer(t, storetest.SQLiteURL(t), "ROSTER_PRESENCE_GRACE", "50ms")
	admin := srv.login(t, "admin@acme.test", adminPassword)

	const (
		queryOK       = `roster_graphql_request_duration_seconds_count{operation_type="query",outcome="ok",transport="http"}`
		mutationError = `roster_graphql_request_duration_seconds_count{operation_type="mutation",outcome="error",transport="http"}`
		neverRan      = `roster_graphql_request_duration_seconds_count{operation_type="none",outcome="error",transport="http"}`
		sockets       = `roster_websockets_open`
		subscriptions = `roster_subscriptions_active`
		published     = `roster_events_published_total{topic="users"}`
		delivered     = `roster_events_delivered_total`
		online        = `roster_presence_online_users`
		refusals      = `roster_rate_limit_refusals_total{rule="login-account"}`
	)

	t.Run("requests by operation type and outcome", func(t *testing.T) {
		before := srv.scrape(t)
		admin.do(t, `{ me { id } }`, nil).decode(t, new(any))
		srv.client("").do(t, `mutation { login(input: {email: "nobody@acme.test", password: "wrong password"}) { token } }`, nil)
		srv.client("").do(t, `{ noSuchField }`, nil)
		// The log line, and the sample, are written after the answer.
		srv.eventuallyMetric(t, queryOK, before[queryOK]+1)
		srv.eventuallyMetric(t, mutationError, before[mutationError]+1)
		srv.eventuallyMetric(t, neverRan, before[neverRan]+1)
		after := srv.scrape(t)
		if sum := after[`roster_graphql_request_duration_seconds_sum{operation_type="query",outcome="ok",transport="http"}`]; sum <= 0 {
			t.Errorf("query durations sum to %v", sum)
		}
	})

	t.Run("websockets, subscriptions, events and presence", func(t *testing.T) {
		before := srv.scrape(t)
		if before[sockets] != 0 || before[subscriptions] != 0 || before[online] != 0 {
			t.Fatalf("before any websocket: %s=%v %s=%v %s=%v", sockets, before[sockets], subscriptions, before[subscriptions], online, before[online])
		}
		ws := dialWS(t, srv.url, admin.token)
		srv.eventuallyMetric(t, sockets, 1)
		srv.eventuallyMetric(t, online, 1)
		ws.subscribe("1", statusSubscription)
		srv.eventuallyMetric(t, subscriptions, 1)
		mid := srv.scrape(t)
		admin.do(t, `mutation { setMyAvailability(availability: BUSY) { availability } }`, nil).decode(t, new(any))
		// The admin's socket turning them online may be told first.
		for id := userIDOf(t, admin); ; {
			if availability, _ := ws.statusOf(id); availability == "BUSY" {
				break
			}
		}
		after := srv.scrape(t)
		if after[published] <= mid[published] {
			t.Errorf("%s did not move: %v", published, after[published])
		}
		if after[delivered] <= mid[delivered] {
			t.Errorf("%s did not move: %v", delivered, after[delivered])
		}
		ws.send(wsMessage{ID: "1", Type: "complete"})
		srv.eventuallyMetric(t, subscriptions, 0)
		ws.conn.Close()
		srv.eventuallyMetric(t, sockets, 0)
		srv.eventuallyMetric(t, online, 0)
	})

	t.Run("rate-limit refusals", func(t *testing.T) {
		before := srv.scrape(t)[refusals]
		for range 11 {
			srv.client("").do(t, `mutation { login(input: {email: "admin@acme.test", password: "not the password"}) { token } }`, nil)
		}
		if got := srv.scrape(t)[refusals]; got <= before {
			t.Errorf("%s = %v after 11 failed logins (before: %v)", refusals, got, before)
		}
	})

	t.Run("database pool statistics", func(t *testing.T) {
		samples := srv.scrape(t)
		if _, ok := samples[`go_sql_max_open_connections{db_name="roster"}`]; !ok {
			t.Errorf("no database pool statistics")
		}
		if samples[`go_sql_max_open_connections{db_name="roster"}`] < 1 {
			t.Errorf("max open connections %v", samples[`go_sql_max_open_connections{db_name="roster"}`])
		}
	})
}

// operations counts the GraphQL operations recorded in samples, in all and
// by `transport/type/outcome`.
func operations(samples map[string]float64) (total float64, by map[string]float64) {
	by = map[string]float64{}
	const prefix = "roster_graphql_request_duration_seconds_count{"
	for name, v := range samples {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(name, prefix), "}"), ",") {
			k, val, _ := strings.Cut(kv, "=")
			labels[k] = strings.Trim(val, `"`)
		}
		by[labels["transport"]+"/"+labels["operation_type"]+"/"+labels["outcome"]] += v
		total += v
	}
	return total, by
}

// TestOperationMetrics sends queries, mutations and subscriptions over
// HTTP, the websocket and Server-Sent Events, some of which succeed and
// some of which are refused, and checks that each is recorded exactly
// once, under its transport, operation type and outcome; a subscription
// when it is set up, never again when it ends.
func TestOperationMetrics(t *testing.T) {
	t.Parallel()
	srv, w := startWorld(t, storetest.SQLiteURL(t), nil)
	acme := w.Orgs[0]
	admin, agent := srv.as(acme.Admin), srv.as(acme.Agent)
	adminWS := &wsDoer{c: dialWS(t, srv.url, acme.Admin.Token)}
	agentWS := &wsDoer{c: dialWS(t, srv.url, acme.Agent.Token)}
	admin.awaitOnline(t)
	agent.awaitOnline(t)
	forbidden := vars{"id": acme.Admin.ID}
	const setOther = `mutation($id: ID!) { setUserAvailability(id: $id, availability: AWAY) { id } }`

	// expect runs op and waits until the operation it sends is recorded
	// under want (transport/type/outcome), and checks that nothing else
	// was.
	expect := func(want string, op func()) {
		t.Helper()
		total, by := operations(srv.scrape(t))
		op()
		var gotTotal float64
		var gotBy map[string]float64
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if gotTotal, gotBy = operations(srv.scrape(t)); gotBy[want] >= by[want]+1 {
				break
			}
		}
		if gotBy[want] != by[want]+1 || gotTotal != total+1 {
			t.Errorf("%s: recorded %v more in all and %v more under it, want exactly 1 (now %v)", want, gotTotal-total, gotBy[want]-by[want], gotBy)
		}
	}

	expect("http/query/ok", func() { admin.do(t, `{ me { id } }`, nil).decode(t, new(any)) })
	expect("http/mutation/ok", func() {
		admin.do(t, `mutation { setMyAvailability(availability: BUSY) { id } }`, nil).decode(t, new(any))
	})
	expect("http/mutation/error", func() { agent.do(t, setOther, forbidden).wantError(t, "FORBIDDEN", "") })
	expect("http/none/error", func() { agent.do(t, `{ noSuchField }`, nil).wantError(t, "GRAPHQL_VALIDATION_FAILED", "") })
	// Refused by the HTTP checks, before the executor.
	expect("http/none/error", func() {
		resp, err := http.Get(srv.url + "/graphql?query=" + url.QueryEscape(`mutation { logout }`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("a mutation by GET answered %s", resp.Status)
		}
	})

	expect("websocket/query/ok", func() { adminWS.do(t, `{ me { id } }`, nil).decode(t, new(any)) })
	expect("websocket/mutation/ok", func() {
		adminWS.do(t, `mutation { setMyAvailability(availability: AWAY) { id } }`, nil).decode(t, new(any))
	})
	expect("websocket/mutation/error", func() { agentWS.do(t, setOther, forbidden).wantError(t, "FORBIDDEN", "") })
	expect("websocket/query/error", func() { agentWS.do(t, `{ auditEvents { totalCount } }`, nil).wantError(t, "FORBIDDEN", "") })
	expect("websocket/none/error", func() { agentWS.do(t, `{ noSuchField }`, nil).wantError(t, "GRAPHQL_VALIDATION_FAILED", "") })
	expect("websocket/subscription/ok", func() { adminWS.c.subscribe("s1", statusSubscription) })
	// An equal subscription of the same viewer joins the run of the first.
	other := dialWS(t, srv.url, acme.Admin.Token)
	expect("websocket/subscription/ok", func() { other.subscribe("s1", statusSubscription) })
	expect("websocket/subscription/error", func() { agentWS.c.subscribe("s2", `subscription { auditEventAdded { id } }`) })

	expect("sse/query/ok", func() {
		if ev := subscribeSSE(t, srv, acme.Admin.Token, `{ me { id } }`).next(); ev.name != "next" {
			t.Fatalf("a query over SSE answered %q %s", ev.name, ev.data)
		}
	})
	var stream *sseStream
	expect("sse/subscription/ok", func() { stream = subscribeSSE(t, srv, acme.Admin.Token, statusSubscription) })
	expect("sse/subscription/error", func() {
		subscribeSSE(t, srv, acme.Agent.Token, `subscription { auditEventAdded { id } }`).ends(5 * time.Second)
	})

	// A stream's end records nothing: its request's log line, written
	// after the metrics would be, comes without another operation.
	total, _ := operations(srv.scrape(t))
	streams := func() int {
		n := 0
		for _, l := range srv.logs.lines("request") {
			if strings.HasPrefix(fmt.Sprint(l["operation"]), "subscription") && fmt.Sprint(l["path"]) == "/graphql" {
				n++
			}
		}
		return n
	}
	before := streams()
	stream.resp.Body.Close()
	for deadline := time.Now().Add(5 * time.Second); streams() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no log line for the closed stream")
		}
	}
	if after, _ := operations(srv.scrape(t)); after != total {
		t.Errorf("closing an SSE subscription recorded %v operations", after-total)
	}
	// Subscriptions are timed to their setting up, not their lifetime.
	samples := srv.scrape(t)
	for _, tr := range []string{"websocket", "sse"} {
		name := fmt.Sprintf(`roster_graphql_request_duration_seconds_sum{operation_type="subscription",outcome="ok",transport="%s"}`, tr)
		if sum := samples[name]; sum <= 0 || sum > 5 {
			t.Errorf("%s = %v s", name, sum)
		}
	}
}

// userIDOf returns the ID of the user c acts for.
func userIDOf(t *testing.T, c *client) string {
	t.Helper()
	var got struct{ Me struct{ ID string } }
	c.do(t, `{ me { id } }`, nil).decode(t, &got)
	return got.Me.ID
}

// lines returns the server's log lines whose msg is msg.
func (l *logBuffer) lines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if dec.Decode(&line) == nil && line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

func TestWebsocketSessionLog(t *testing.T) {
	t.Parallel()
	srv := startServer(t, storetest.SQLiteURL(t))
	admin := srv.login(t, "admin@acme.test", adminPassword)
	adminID := userIDOf(t, admin)

	ws := dialWS(t, srv.url, admin.token)
	ws.subscribe("1", statusSubscription)
	ws.send(wsMessage{ID: "1", Type: "complete"})
	ws.subscribe("2", `{ me { id } }`)
	if m := ws.read(); m.Type != "next" {
		t.Fatalf("query answered %s %s", m.Type, m.Payload)
	}
	_ = ws.conn.WriteMessage(8 /* close */, []byte{0x03, 0xe8, 'b', 'y', 'e'}) // 1000 "bye"
	ws.closed()

	refused := dialWS(t, srv.url, "")
	refused.send(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"authorization": "Bearer rst_not-a-real-token-value"}`)})
	if code := refused.closed(); code != 4403 {
		t.Fatalf("bad token closed with %d", code)
	}

	var sessions []map[string]any
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && len(sessions) < 2; time.Sleep(20 * time.Millisecond) {
		sessions = srv.logs.lines("websocket session")
	}
	if len(sessions) != 2 {
		t.Fatalf("%d session lines, want 2:\n%s", len(sessions), srv.logs.String())
	}
	var userLine, anonLine map[string]any
	for _, s := range sessions {
		if _, ok := s["user"]; ok {
			userLine = s
		} else {
			anonLine = s
		}
	}
	if userLine == nil || anonLine == nil {
		t.Fatalf("session lines %v", sessions)
	}
	for key, want := range map[string]any{"user": adminID, "operations": "2", "close_code": "1000", "close_reason": "bye", "protocol": "graphql-transport-ws"} {
		if got := fmt.Sprint(userLine[key]); got != want {
			t.Errorf("session line %s = %v, want %v (%v)", key, got, want, userLine)
		}
	}
	if d, err := userLine["duration_s"].(json.Number).Float64(); err != nil || d < 0 {
		t.Errorf("session line duration %v", userLine["duration_s"])
	}
	if fmt.Sprint(anonLine["close_code"]) != "4403" || fmt.Sprint(anonLine["authenticated"]) != "false" || fmt.Sprint(anonLine["operations"]) != "0" {
		t.Errorf("refused session line %v", anonLine)
	}
	refusals := srv.logs.lines("websocket refused")
	if len(refusals) != 1 || !strings.Contains(fmt.Sprint(refusals[0]["reason"]), "invalid, revoked or expired token") {
		t.Errorf("refusal lines %v", refusals)
	}
	if logs := srv.logs.String(); strings.Contains(logs, "not-a-real-token-value") || strings.Contains(logs, admin.token) {
		t.Errorf("the log holds a token")
	}
}
