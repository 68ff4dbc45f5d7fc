package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"roster/internal/fixture"
)

// sseStream is a GraphQL over SSE subscription (distinct connections
// mode) read event by event.
type sseStream struct {
	t    *testing.T
	resp *http.Response
	r    *bufio.Reader
}

type sseEvent struct {
	name string
	data json.RawMessage
}

// subscribeSSE POSTs query with Accept: text/event-stream, as the
// graphql-sse client does, with token unless "".
func subscribeSSE(t *testing.T, srv *server, token, query string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("answered %s in %q, want 200 in text/event-stream", resp.Status, ct)
	}
	return &sseStream{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
}

// next reads the next event, skipping comments, within 10 s.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	type result struct {
		ev  sseEvent
		err error
	}
	got := make(chan result, 1)
	go func() {
		var ev sseEvent
		for {
			line, err := s.r.ReadString('\n')
			if err != nil {
				got <- result{err: err}
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				if ev.name != "" || ev.data != nil {
					got <- result{ev: ev}
					return
				}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "event:"):
				ev.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				ev.data = append(ev.data, strings.TrimSpace(strings.TrimPrefix(line, "data:"))...)
			}
		}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			s.t.Fatalf("read the stream: %v", r.err)
		}
		return r.ev
	case <-time.After(10 * time.Second):
		s.resp.Body.Close()
		s.t.Fatal("no event within 10 s")
		return sseEvent{}
	}
}

// ends reports whether the stream ends within d, whatever events come
// before.
func (s *sseStream) ends(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, s.r)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		s.resp.Body.Close()
		return false
	}
}

// status reads the next userStatusChanged event.
func (s *sseStream) status() statusEvent {
	s.t.Helper()
	ev := s.next()
	var p struct {
		Data   struct{ UserStatusChanged statusEvent }
		Errors []any
	}
	if ev.name != "next" || json.Unmarshal(ev.data, &p) != nil || len(p.Errors) > 0 {
		s.t.Fatalf("want a next event, got %q %s", ev.name, ev.data)
	}
	return p.Data.UserStatusChanged
}

// TestServerSentEvents: a subscription POSTed with Accept:
// text/event-stream streams its events as the GraphQL over SSE protocol
// asks, authenticated by the Authorization header like any POST; another
// organization's changes never arrive; without a token it is refused; a
// subscription POSTed without asking for a stream is refused with
// BAD_REQUEST instead of answered with one event; queries work over SSE
// too.
func TestServerSentEvents(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]

		t.Run("events of the viewer's organization only", func(t *testing.T) {
			dash := subscribeSSE(t, srv, acme.Admin.Token, snapshotStatus)
			// The snapshot's first event: the subscription is live.
			dash.status()
			setAvailability := func(u *fixture.User, a string) {
				srv.as(u).do(t, `mutation($a: Availability!) { setMyAvailability(availability: $a) { id } }`, vars{"a": a}).decode(t, new(any))
			}
			setAvailability(globex.Agent, "AWAY")
			setAvailability(acme.Agent, "BUSY")
			agent, foreign := strconv.Itoa(acme.Agent.ID), strconv.Itoa(globex.Agent.ID)
			for {
				ev := dash.status()
				if ev.User.ID == foreign {
					t.Fatalf("another organization's change arrived: %+v", ev)
				}
				if ev.User.ID == agent && ev.Availability == "BUSY" {
					if ev.User.Availability != "BUSY" || ev.User.Version != ev.Version {
						t.Fatalf("event %+v shows another state than its own", ev)
					}
					break
				}
			}
		})

		t.Run("unauthenticated", func(t *testing.T) {
			for name, token := range map[string]string{"no token": "", "unknown token": "not-a-token"} {
				s := subscribeSSE(t, srv, token, snapshotStatus)
				ev := s.next()
				var p struct {
					Data   json.RawMessage
					Errors []struct{ Extensions struct{ Code string } }
				}
				if ev.name != "next" || json.Unmarshal(ev.data, &p) != nil || len(p.Errors) == 0 || p.Errors[0].Extensions.Code != "UNAUTHENTICATED" {
					t.Fatalf("%s: got %q %s, want an UNAUTHENTICATED error", name, ev.name, ev.data)
				}
				if ev := s.next(); ev.name != "complete" {
					t.Fatalf("%s: after the error got %q %s, want complete", name, ev.name, ev.data)
				}
			}
		})

		t.Run("a query over SSE", func(t *testing.T) {
			s := subscribeSSE(t, srv, acme.Agent.Token, `{ me { id } }`)
			ev := s.next()
			var p struct {
				Data struct{ Me struct{ ID string } }
			}
			if ev.name != "next" || json.Unmarshal(ev.data, &p) != nil || p.Data.Me.ID != strconv.Itoa(acme.Agent.ID) {
				t.Fatalf("got %q %s, want the agent", ev.name, ev.data)
			}
			if ev := s.next(); ev.name != "complete" {
				t.Fatalf("got %q, want complete", ev.name)
			}
		})

		t.Run("logging out ends the stream", func(t *testing.T) {
			s := subscribeSSE(t, srv, acme.Supervisor.Token, snapshotStatus)
			s.status()
			var out struct{ Logout bool }
			srv.as(acme.Supervisor).do(t, `mutation { logout }`, nil).decode(t, &out)
			if !out.Logout || !s.ends(5*time.Second) {
				t.Fatalf("logout %v; the stream went on after the session ended", out.Logout)
			}
		})

		t.Run("a subscription without a stream", func(t *testing.T) {
			for _, tc := range []struct{ name, query, operation, accept string }{
				{"graphql-response+json", snapshotStatus, "", "application/graphql-response+json"},
				{"json", snapshotStatus, "", "application/json"},
				{"no Accept", snapshotStatus, "", ""},
				{"named among others", `query Q { me { id } } subscription S { userStatusChanged { version } }`, "S", "application/json"},
			} {
				body, _ := json.Marshal(map[string]any{"query": tc.query, "operationName": tc.operation})
				req, _ := http.NewRequest(http.MethodPost, srv.url+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+acme.Admin.Token)
				if tc.accept != "" {
					req.Header.Set("Accept", tc.accept)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var r response
				err = json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusBadRequest || r.Data != nil {
					t.Fatalf("%s: %s, data %s (%v), want 400 without data", tc.name, resp.Status, r.Data, err)
				}
				r.wantError(t, "BAD_REQUEST", "")
				if !strings.Contains(r.Errors[0].Message, "text/event-stream") {
					t.Errorf("%s: message %q does not say how to subscribe", tc.name, r.Errors[0].Message)
				}
			}
		})
	})
}

// TestGraphQLSSEClient subscribes to divisionChanged over Server-Sent
// Events with the npm graphql-sse client, as an agent; the admin renames a
// division until an event arrives (the server does not acknowledge a
// subscription). The event must be one of those renames, the division as
// that rename left it with the version it answered; the client then
// disposes of the subscription, which completes.
func TestGraphQLSSEClient(t *testing.T) {
	t.Parallel()
	srv, w := startWorld(t, fixture.SQLiteURL(t), []string{"Acme"})
	acme := w.Orgs[0]
	script, err := filepath.Abs(filepath.Join(jsClientDir, "sse.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	support := strconv.Itoa(acme.Support)
	out := runNode(t, script, srv.url+"/graphql", acme.Agent.Token, acme.Admin.Token,
		`subscription { divisionChanged { kind divisionID version division { id name version } } }`,
		`mutation($id: ID!, $n: String!) { updateDivision(id: $id, input: {name: $n}) { id name version } }`,
		`{"id": "`+support+`"}`)

	renamed := map[string]float64{} // the version each rename answered
	var events []map[string]any
	for _, line := range out {
		switch line["event"] {
		case "mutation":
			var m struct {
				Data struct {
					UpdateDivision struct {
						Name    string
						Version float64
					}
				}
				Errors []any
			}
			b, _ := json.Marshal(line)
			if err := json.Unmarshal(b, &m); err != nil || len(m.Errors) > 0 {
				t.Fatalf("the rename answered %v", line)
			}
			renamed[m.Data.UpdateDivision.Name] = m.Data.UpdateDivision.Version
		default:
			events = append(events, line)
		}
	}
	if len(events) != 2 || events[0]["event"] != "next" || events[1]["event"] != "complete" {
		t.Fatalf("the client printed %v, want one event, then its completion", events)
	}
	var ev struct {
		Data struct {
			DivisionChanged struct {
				Kind       string
				DivisionID string
				Version    float64
				Division   struct {
					ID      string
					Name    string
					Version float64
				}
			}
		}
		Errors []any
	}
	b, _ := json.Marshal(events[0])
	if err := json.Unmarshal(b, &ev); err != nil || len(ev.Errors) > 0 {
		t.Fatalf("event %s", b)
	}
	got := ev.Data.DivisionChanged
	version, ok := renamed[got.Division.Name]
	if got.Kind != "UPDATED" || got.DivisionID != support || got.Division.ID != support || !ok ||
		got.Version != version || got.Division.Version != version {
		t.Fatalf("event %s, want a rename of division %s among %v (name: version)", b, support, renamed)
	}
}
