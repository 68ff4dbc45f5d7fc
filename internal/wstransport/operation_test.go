package wstransport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"roster/internal/wstransport"
)

type opValueKey struct{}

// TestOperationFunc checks that every operation runs with the context
// OperationFunc gives it at its start, not one fixed at connection_init; that
// its error ends only that operation; and that a *CloseError closes the
// connection.
func TestOperationFunc(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	var mode atomic.Value // "", "fail", "close"
	mode.Store("")
	tr := &wstransport.Transport{
		OperationFunc: func(ctx context.Context) (context.Context, error) {
			n := calls.Add(1)
			switch mode.Load() {
			case "fail":
				return ctx, errors.New("not now")
			case "close":
				return ctx, fmt.Errorf("session: %w", &wstransport.CloseError{Code: 4403, Reason: "Forbidden: session ended"})
			}
			return context.WithValue(ctx, opValueKey{}, n), nil
		},
	}
	obs := &observed{}
	tr.Observer = obs
	e := newEnv(t, tr)
	c := e.dial(wstransport.SubprotocolTransportWS)
	c.init(nil)

	for i := range 3 {
		id := fmt.Sprint(i)
		c.subscribe(id, `{ hello }`, nil)
		c.expect("next", id)
		c.expect("complete", id)
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("OperationFunc ran %d times for 3 operations", got)
	}

	mode.Store("fail")
	c.subscribe("f", `subscription { ticks(everyMs: 10) }`, nil)
	m := c.expect("error", "f")
	var errs []struct{ Message string }
	if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) != 1 || errs[0].Message != "not now" {
		t.Fatalf("error payload %s", m.Payload)
	}
	mode.Store("")
	c.subscribe("ok", `{ hello }`, nil)
	c.expect("next", "ok")
	c.expect("complete", "ok")

	if n := obs.refused.Load(); n != 0 {
		t.Fatalf("the observer was told of %d refused operations before any closed the connection", n)
	}

	mode.Store("close")
	c.subscribe("x", `{ hello }`, nil)
	c.expectClose(4403, "Forbidden: session ended")
	// The executor never saw it: the observer was told.
	if n := obs.refused.Load(); n != 1 {
		t.Fatalf("the observer was told of %d refused operations, want 1", n)
	}
}

// TestMaxSubscriptions fills a connection's cap of subscriptions: the next
// subscribe gets an error coded TOO_MANY_SUBSCRIPTIONS for its id, while
// queries, the running subscriptions and, once one completes, a new
// subscription go on. Each connection has a cap of its own.
func TestMaxSubscriptions(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{wstransport.SubprotocolTransportWS, wstransport.SubprotocolLegacy} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			tr := groupedTransport()
			tr.MaxSubscriptions = 3
			e := newEnv(t, tr)
			open := func() *client {
				c := e.dial(proto)
				c.init(map[string]any{"tenant": "a"})
				if proto == wstransport.SubprotocolLegacy {
					c.expect("ka", "")
				}
				return c
			}
			c := open()
			start, stop := "subscribe", "complete"
			if proto == wstransport.SubprotocolLegacy {
				start, stop = "start", "stop"
			}
			sub := func(c *client, id, query string) {
				c.send(map[string]any{"id": id, "type": start, "payload": map[string]any{"query": query}})
			}
			next := "next"
			if proto == wstransport.SubprotocolLegacy {
				next = "data"
			}
			for i := range 3 {
				// Shared and own runs count alike.
				sub(c, fmt.Sprint(i), fmt.Sprintf(`subscription S%d { counter(topic: "t") }`, i%2))
			}
			eventually(t, 5*time.Second, func() bool { return e.hub.count("t") >= 2 }, "subscriptions running")
			sub(c, "over", `subscription { counter(topic: "t") }`)
			m := readSkipping(t, c, "error", "over")
			var errs []struct {
				Message    string
				Extensions struct{ Code string }
			}
			if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) != 1 || errs[0].Extensions.Code != "TOO_MANY_SUBSCRIPTIONS" || !strings.Contains(errs[0].Message, "3") {
				t.Fatalf("over the cap: %s", m.Raw)
			}
			// The connection goes on: a query runs, the subscriptions
			// deliver.
			sub(c, "q", `{ hello }`)
			readSkipping(t, c, next, "q")
			e.hub.publish("t", 7)
			got := map[string]bool{}
			for len(got) < 3 {
				m := c.read()
				if m.Type == next && strings.Contains(string(m.Payload), "7") {
					got[m.ID] = true
				}
			}
			// Another connection has a cap of its own.
			other := open()
			sub(other, "1", `subscription { counter(topic: "t") }`)
			eventually(t, 5*time.Second, func() bool { return e.hub.count("t") >= 3 }, "the other connection's subscription running")
			// Completing one makes room.
			c.send(map[string]any{"id": "0", "type": stop})
			if proto == wstransport.SubprotocolLegacy {
				readSkipping(t, c, "complete", "0")
			}
			sub(c, "again", `subscription S9 { counter(topic: "t") }`)
			eventually(t, 5*time.Second, func() bool { return e.hub.count("t") >= 4 }, "a new subscription after one completed")
			e.hub.publish("t", 8)
			for {
				m := c.read()
				if m.ID == "again" {
					if m.Type != next {
						t.Fatalf("after one completed: %s", m.Raw)
					}
					break
				}
			}
		})
	}
}

// readSkipping reads until a message of type typ for id, skipping results
// of other operations.
func readSkipping(t *testing.T, c *client, typ, id string) msg {
	t.Helper()
	for {
		m := c.read()
		if m.ID == id {
			if m.Type != typ {
				t.Fatalf("got %s, want %s for %s", m.Raw, typ, id)
			}
			return m
		}
		if m.Type == "error" || m.Type == "complete" {
			t.Fatalf("unexpected %s", m.Raw)
		}
	}
}

func TestJSClientMaxSubscriptions(t *testing.T) {
	t.Parallel()
	tr := groupedTransport()
	tr.MaxSubscriptions = 2
	e := newEnv(t, tr)
	events := runNode(t, e, "max-subscriptions.mjs")
	checkEvents(t, events, []map[string]any{
		{"event": "two running"},
		{"event": "refused", "errors": []any{map[string]any{
			"message":    "too many subscriptions: this connection already runs 2, the most allowed; complete one before subscribing again",
			"extensions": map[string]any{"code": "TOO_MANY_SUBSCRIPTIONS"},
		}}},
		{"event": "query", "result": map[string]any{"data": map[string]any{"hello": "world"}}},
		{"event": "third after one completed"},
		{"event": "closed", "code": websocket.CloseNormalClosure},
	})
}
