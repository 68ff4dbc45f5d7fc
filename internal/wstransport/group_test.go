package wstransport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"roster/internal/wstransport"
)

type tenantKey struct{}

// groupedTransport groups subscriptions by the tenant given in
// connection_init.
func groupedTransport() *wstransport.Transport {
	return &wstransport.Transport{
		InitFunc: func(ctx context.Context, p map[string]any) (context.Context, map[string]any, error) {
			tenant, _ := p["tenant"].(string)
			return context.WithValue(ctx, tenantKey{}, tenant), nil, nil
		},
		GroupKey: func(ctx context.Context) string {
			tenant, _ := ctx.Value(tenantKey{}).(string)
			return tenant
		},
	}
}

// payloadOf returns the raw payload bytes of a next/data frame.
func payloadOf(t *testing.T, m msg) string {
	t.Helper()
	var frame struct{ Payload json.RawMessage }
	if err := json.Unmarshal([]byte(m.Raw), &frame); err != nil {
		t.Fatal(err)
	}
	return string(frame.Payload)
}

const counterSub = `subscription S($t: String!, $l: String) { counter(topic: $t, label: $l) }`

// observed counts what an Observer is told of operations.
type observed struct{ shared, refused atomic.Int64 }

func (o *observed) Opened()                                    {}
func (o *observed) Ended(context.Context, wstransport.Session) {}
func (o *observed) SubscriptionsChanged(int)                   {}
func (o *observed) Shared(context.Context)                     { o.shared.Add(1) }
func (o *observed) Refused(context.Context)                    { o.refused.Add(1) }

func TestGroupedSubscriptions(t *testing.T) {
	t.Parallel()
	tr := groupedTransport()
	obs := &observed{}
	tr.Observer = obs
	e := newEnv(t, tr)
	a := e.dial(tws)
	a.init(map[string]any{"tenant": "acme"})
	b := e.dial(legacy) // members may speak either protocol
	b.init(map[string]any{"tenant": "acme"})
	b.expect("ka", "")
	other := e.dial(tws)
	other.init(map[string]any{"tenant": "globex"})

	a.subscribe("a1", counterSub, map[string]any{"t": "g", "l": "x"})
	// Same variables in another order: canonical JSON makes them equal.
	b.send(map[string]any{"id": "b1", "type": "start", "payload": map[string]any{
		"query": counterSub, "variables": json.RawMessage(`{"l":"x","t":"g"}`),
	}})
	// Both subscribes are handled (and b1 has joined a1's run, or
	// started one) before the events below.
	handled(a)
	handledLegacy(b)
	eventually(t, 5*time.Second, func() bool { return e.runs.Load() == 1 && e.hub.count("g") == 1 }, "one run")
	// Another tenant, or other variables, run on their own.
	other.subscribe("o1", counterSub, map[string]any{"t": "g", "l": "x"})
	a.subscribe("a2", counterSub, map[string]any{"t": "g", "l": "y"})
	handled(other)
	eventually(t, 5*time.Second, func() bool { return e.runs.Load() == 3 && e.hub.count("g") == 3 }, "three runs")
	// Of the four subscriptions, one joined a run going: the executor
	// never saw it, the observer was told.
	if n := obs.shared.Load(); n != 1 {
		t.Fatalf("the observer was told of %d shared subscriptions, want 1", n)
	}
	// Queries never share a run.
	a.subscribe("q", "{ hello }", nil)
	a.expect("next", "q")
	a.expect("complete", "q")

	e.hub.publish("g", 1)
	ma := readIDs(t, a, "a1", "a2")["a1"]
	mb := b.expectLegacy("data", "b1")
	if pa, pb := payloadOf(t, ma), payloadOf(t, mb); pa != pb || pa != `{"data":{"counter":1}}` {
		t.Fatalf("payloads differ: %s vs %s", pa, pb)
	}
	other.expect("next", "o1")

	// A member joining a running group gets the next results.
	late := e.dial(tws)
	late.init(map[string]any{"tenant": "acme"})
	late.subscribe("l1", counterSub, map[string]any{"t": "g", "l": "x"})
	handled(late)
	if runs := e.runs.Load(); runs != 3 {
		t.Fatalf("%d runs after a member joined, want 3", runs)
	}
	e.hub.publish("g", 2)
	want := `{"data":{"counter":2}}`
	for _, got := range []string{payloadOf(t, readIDs(t, a, "a1", "a2")["a1"]), payloadOf(t, b.expectLegacy("data", "b1")), payloadOf(t, late.expect("next", "l1"))} {
		if got != want {
			t.Fatalf("payload %s, want %s", got, want)
		}
	}
	other.expect("next", "o1")

	// Members leave; the run goes on until the last one has left.
	a.send(map[string]any{"id": "a1", "type": "complete"})
	b.send(map[string]any{"id": "b1", "type": "stop"})
	b.expectLegacy("complete", "b1")
	handled(a)
	e.hub.publish("g", 3)
	late.expect("next", "l1")
	a.expect("next", "a2")
	other.expect("next", "o1")
	if n := e.hub.count("g"); n != 3 {
		t.Fatalf("%d streams, want 3", n)
	}
	late.ws.Close() // the last member goes away: the group's run is cancelled
	eventually(t, 5*time.Second, func() bool { return e.hub.count("g") == 2 }, "group run cancelled")

	// When the run ends, every member gets complete.
	c1 := e.dial(tws)
	c1.init(map[string]any{"tenant": "acme"})
	c2 := e.dial(tws)
	c2.init(map[string]any{"tenant": "acme"})
	c1.subscribe("x", counterSub, map[string]any{"t": "end"})
	c2.subscribe("y", counterSub, map[string]any{"t": "end"})
	handled(c1)
	handled(c2)
	eventually(t, 5*time.Second, func() bool { return e.hub.count("end") == 1 }, "one run")
	e.hub.end("end")
	c1.expect("complete", "x")
	c2.expect("complete", "y")
	// ...and the ids are free again.
	c1.subscribe("x", "{ hello }", nil)
	c1.expect("next", "x")
}

// handled waits until the server has handled every message c sent before:
// messages are handled in order, and a subscribe has joined its group or
// started its run by the time the next message is read, so the pong to a
// ping sent now comes after.
func handled(c *client) {
	c.t.Helper()
	c.send(map[string]any{"type": "ping"})
	c.expect("pong", "")
}

// handledLegacy is handled for the legacy protocol, which has no ping: a
// query started now is answered after the earlier messages were handled.
func handledLegacy(c *client) {
	c.t.Helper()
	c.start("sync", "{ hello }")
	c.expectLegacy("data", "sync")
	c.expectLegacy("complete", "sync")
}

// readIDs reads one message for each id, in any order.
func readIDs(t *testing.T, c *client, ids ...string) map[string]msg {
	t.Helper()
	got := make(map[string]msg)
	for range ids {
		m := c.read()
		got[m.ID] = m
	}
	for _, id := range ids {
		if _, ok := got[id]; !ok {
			t.Fatalf("no message for %q in %v", id, got)
		}
	}
	return got
}

func TestGroupedPanicErrorsEveryMember(t *testing.T) {
	t.Parallel()
	e := newEnv(t, groupedTransport())
	c1 := e.dial(tws)
	c1.init(map[string]any{"tenant": "acme"})
	c2 := e.dial(legacy)
	c2.init(map[string]any{"tenant": "acme"})
	vars := map[string]any{"t": "p", "l": "panic"}
	c1.subscribe("1", counterSub, vars)
	c2.send(map[string]any{"id": "2", "type": "start", "payload": map[string]any{"query": counterSub, "variables": vars}})
	// Both have joined the run before it is fed: a member joining after
	// the panic would start a run of its own.
	handled(c1)
	handledLegacy(c2)
	eventually(t, 5*time.Second, func() bool { return e.hub.count("p") == 1 }, "one run")
	if e.runs.Load() != 1 {
		t.Fatalf("%d runs", e.runs.Load())
	}
	// The shared run panics on its first event: every member gets the
	// error, and the connections stay usable.
	e.hub.publish("p", 1)
	c1.expect("error", "1")
	c2.expectLegacy("error", "2")
	c1.subscribe("1", "{ hello }", nil)
	c1.expect("next", "1")
	c2.start("2", "{ hello }")
	c2.expectLegacy("data", "2")
}

func TestUngroupedWithoutKey(t *testing.T) {
	t.Parallel()
	tr := groupedTransport()
	e := newEnv(t, tr)
	c1 := e.dial(tws)
	c1.init(nil) // no tenant: empty key
	c2 := e.dial(tws)
	c2.init(nil)
	c1.subscribe("1", counterSub, map[string]any{"t": "u"})
	c2.subscribe("1", counterSub, map[string]any{"t": "u"})
	eventually(t, 5*time.Second, func() bool { return e.runs.Load() == 2 && e.hub.count("u") == 2 }, "two runs")
}

// TestLongResultFrames: a result frame longer than the connection's write
// buffer, and one whose subscription ID needs escaping, reach the client as
// one message each, whole.
func TestLongResultFrames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, groupedTransport())
	c := e.dial(tws)
	c.init(map[string]any{"tenant": "acme"})
	long := strings.Repeat("id-", 700) // over the 1 KiB write buffer
	quoted := `a "quoted" \ id`
	for _, id := range []string{long, quoted, "short"} {
		c.subscribe(id, counterSub, map[string]any{"t": "long"})
	}
	handled(c)
	eventually(t, 5*time.Second, func() bool { return e.hub.count("long") >= 1 }, "subscribed")
	for i := 1; i <= 3; i++ {
		e.hub.publish("long", i)
		got := readIDs(t, c, long, quoted, "short")
		want := fmt.Sprintf(`{"data":{"counter":%d}}`, i)
		for _, id := range []string{long, quoted, "short"} {
			if p := payloadOf(t, got[id]); p != want {
				t.Fatalf("event %d, id of %d bytes: payload %s, want %s", i, len(id), p, want)
			}
		}
	}
}
