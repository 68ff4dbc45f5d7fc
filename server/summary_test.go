package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"roster/internal/fixture"
)

// summaryFields selects every field of a PresenceSummary.
const summaryFields = `{ total online byAvailability { availability online } byRole { role { id name } total online }
	byDivision { division { id name } total online byAvailability { availability online } } }`

// summaryOf answers presenceSummary(divisionID: d) (all divisions when
// "") as c, compacted.
func summaryOf(t *testing.T, c *client, d string) string {
	t.Helper()
	v := vars{}
	if d != "" {
		v["d"] = d
	}
	var got struct{ PresenceSummary json.RawMessage }
	c.do(t, `query($d: ID) { presenceSummary(divisionID: $d) `+summaryFields+` }`, v).decode(t, &got)
	return compact(t, got.PresenceSummary)
}

// connect opens a websocket as u and waits until u is online (presence
// is written just after the socket is acknowledged).
func connect(t *testing.T, srv *server, u *fixture.User) *wsClient {
	t.Helper()
	c := dialWS(t, srv.url, u.Token)
	waitOnline(t, srv.as(u), u.ID)
	return c
}

// waitOnline asks as c until user id is online.
func waitOnline(t *testing.T, c *client, id int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var got struct{ Node struct{ Online bool } }
		c.do(t, `query($id: ID!) { node(id: $id) { ... on User { online } } }`, vars{"id": strconv.Itoa(id)}).decode(t, &got)
		if got.Node.Online {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("user %d is not online", id)
		}
	}
}

// divisionCounts returns the total and online counts of division d in
// summary.
func divisionCounts(t *testing.T, summary string, d int) [2]int {
	t.Helper()
	var s struct {
		ByDivision []struct {
			Division      struct{ ID string }
			Total, Online int
		}
	}
	if err := json.Unmarshal([]byte(summary), &s); err != nil {
		t.Fatal(err)
	}
	for _, div := range s.ByDivision {
		if div.Division.ID == strconv.Itoa(d) {
			return [2]int{div.Total, div.Online}
		}
	}
	t.Fatalf("division %d is not in %s", d, summary)
	return [2]int{}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact %s: %v", raw, err)
	}
	return b.String()
}

// summaryFeed reads the summaries of one presenceSummaryChanged
// subscription, over the websocket or SSE.
type summaryFeed struct {
	t    *testing.T
	next func() (summary string, at time.Time)
}

// wsSummaries subscribes c to presenceSummaryChanged(divisionID: d).
func wsSummaries(t *testing.T, c *wsClient, d string) *summaryFeed {
	t.Helper()
	v := map[string]any{}
	if d != "" {
		v["d"] = d
	}
	payload, _ := json.Marshal(map[string]any{"query": `subscription($d: ID) { presenceSummaryChanged(divisionID: $d) ` + summaryFields + ` }`, "variables": v})
	c.send(wsMessage{ID: "summary", Type: "subscribe", Payload: payload})
	return &summaryFeed{t: t, next: func() (string, time.Time) {
		t.Helper()
		for {
			m := c.read()
			if m.Type == "ping" || m.Type == "pong" {
				continue
			}
			var p struct {
				Data   struct{ PresenceSummaryChanged json.RawMessage }
				Errors []any
			}
			if m.Type != "next" || m.ID != "summary" || json.Unmarshal(m.Payload, &p) != nil || len(p.Errors) > 0 {
				t.Fatalf("want a summary, got %s %s", m.Type, m.Payload)
			}
			return compact(t, p.Data.PresenceSummaryChanged), time.Now()
		}
	}}
}

// sseSummaries subscribes over Server-Sent Events as token.
func sseSummaries(t *testing.T, srv *server, token string) *summaryFeed {
	t.Helper()
	s := subscribeSSE(t, srv, token, `subscription { presenceSummaryChanged `+summaryFields+` }`)
	return &summaryFeed{t: t, next: func() (string, time.Time) {
		t.Helper()
		ev := s.next()
		var p struct {
			Data   struct{ PresenceSummaryChanged json.RawMessage }
			Errors []any
		}
		if ev.name != "next" || json.Unmarshal(ev.data, &p) != nil || len(p.Errors) > 0 {
			t.Fatalf("want a summary, got %q %s", ev.name, ev.data)
		}
		return compact(t, p.Data.PresenceSummaryChanged), time.Now()
	}}
}

// first checks that the next summary is want.
func (f *summaryFeed) first(who, want string) {
	f.t.Helper()
	if got, _ := f.next(); got != want {
		f.t.Fatalf("%s: got %s, want %s", who, got, want)
	}
}

// until reads summaries until one is want, and returns when each came.
func (f *summaryFeed) until(want string) []time.Time {
	f.t.Helper()
	var arrivals []time.Time
	for {
		got, at := f.next()
		arrivals = append(arrivals, at)
		if got == want {
			return arrivals
		}
	}
}

// TestPresenceSummaryChanged: dashboards subscribed to
// presenceSummaryChanged get the summary presenceSummary answers first,
// then the summary after each change, as their access allows (the
// organization, a division, a scoped supervisor's divisions), over the
// websocket and SSE; another organization's changes never reach them; a
// burst of changes comes as a few summaries, the last the final state.
func TestPresenceSummaryChanged(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		sales := acme.NewDivision(t, "Sales")
		salesAgent := acme.NewUser(t, fixture.Spec{Name: "sam", Divisions: []int{sales}})
		support := strconv.Itoa(acme.Support)
		admin, scoped, foreignAdmin := srv.as(acme.Admin), srv.as(acme.Scoped), srv.as(globex.Admin)

		// Each subscriber's socket brings them online: each first summary
		// is the one of when it subscribed.
		all := wsSummaries(t, connect(t, srv, acme.Admin), "")
		all.first("admin", summaryOf(t, admin, ""))
		inSupport := wsSummaries(t, connect(t, srv, acme.Admin), support)
		inSupport.first("admin in Support", summaryOf(t, admin, support))
		mine := wsSummaries(t, connect(t, srv, acme.Scoped), "")
		mine.first("scoped supervisor", summaryOf(t, scoped, ""))
		sse := sseSummaries(t, srv, acme.Supervisor.Token)
		sse.first("supervisor over SSE", summaryOf(t, srv.as(acme.Supervisor), ""))
		foreign := sseSummaries(t, srv, globex.Admin.Token)
		foreign.first("Globex's admin", summaryOf(t, foreignAdmin, ""))

		// The agent of Support comes online: everyone of Acme hears it.
		connect(t, srv, acme.Agent)
		all.until(summaryOf(t, admin, ""))
		inSupport.until(summaryOf(t, admin, support))
		mine.until(summaryOf(t, scoped, ""))
		sse.until(summaryOf(t, srv.as(acme.Supervisor), ""))

		// The agent of Sales comes online: the admin hears it; the scoped
		// supervisor, who does not see Sales's members, hears nothing
		// until the agent of Support becomes busy.
		connect(t, srv, salesAgent)
		withSales := summaryOf(t, admin, "")
		all.until(withSales)
		srv.as(acme.Agent).do(t, `mutation { setMyAvailability(availability: BUSY) { id } }`, nil).decode(t, new(any))
		mine.first("scoped supervisor", summaryOf(t, scoped, ""))
		if got, want := divisionCounts(t, summaryOf(t, scoped, ""), sales), divisionCounts(t, withSales, sales); got != [2]int{0, 0} || want != [2]int{1, 1} {
			t.Fatalf("Sales counts (total, online) %v for the scoped supervisor, %v for the admin", got, want)
		}
		all.until(summaryOf(t, admin, ""))

		// Globex's first summary after the first is its own change's:
		// Acme's changes sent it nothing.
		connect(t, srv, globex.Agent)
		foreign.first("Globex's admin", summaryOf(t, foreignAdmin, ""))

		// A burst of 50 changes reaches the admin as a few summaries, at
		// most one per 250 ms, the last the final state.
		start := time.Now()
		for i := range 49 {
			a := []string{"ONLINE", "BUSY", "AWAY", "OFFLINE"}[i%4]
			admin.do(t, `mutation($u: ID!, $a: Availability!) { setUserAvailability(id: $u, availability: $a) { id } }`,
				vars{"u": strconv.Itoa(acme.Agent.ID), "a": a}).decode(t, new(any))
		}
		// The last change makes a state none before made (the supervisor
		// was never online): only the final summary shows it.
		connect(t, srv, acme.Supervisor)
		arrivals := all.until(summaryOf(t, admin, ""))
		took := arrivals[len(arrivals)-1].Sub(start)
		t.Logf("50 changes in %v reached the admin as %d summaries", took.Round(time.Millisecond), len(arrivals))
		if bound := int(took/(250*time.Millisecond)) + 1; len(arrivals) > bound {
			t.Errorf("%d summaries in %v: more than one per 250 ms", len(arrivals), took)
		}
	})
}
