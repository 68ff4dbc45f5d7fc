package wstransport_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"roster/internal/wstransport"
)

// start sends a legacy start message.
func (c *client) start(id, query string) {
	c.t.Helper()
	c.send(map[string]any{"id": id, "type": "start", "payload": map[string]any{"query": query}})
}

// readSkippingKA reads the next message that is not a keep-alive.
func (c *client) readSkippingKA() msg {
	c.t.Helper()
	for {
		if m := c.read(); m.Type != "ka" {
			return m
		}
	}
}

func (c *client) expectLegacy(typ, id string) msg {
	c.t.Helper()
	m := c.readSkippingKA()
	if m.Type != typ || (id != "" && m.ID != id) {
		c.t.Fatalf("got %s, want type %q id %q", m.Raw, typ, id)
	}
	return m
}

func TestLegacyProtocol(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{})
	c := e.dial(legacy)
	if c.ws.Subprotocol() != legacy {
		t.Fatalf("subprotocol %q", c.ws.Subprotocol())
	}
	c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"token": "x"}})
	c.expect("connection_ack", "")
	c.expect("ka", "")

	// Queries: data, then complete.
	c.start("1", "{ hello }")
	if m := c.expectLegacy("data", "1"); string(m.Payload) != `{"data":{"hello":"world"}}` {
		t.Fatalf("data %s", m.Payload)
	}
	c.expectLegacy("complete", "1")

	// Subscriptions: data per event; stop is answered by complete and
	// cancels the resolver.
	c.start("2", `subscription { counter(topic: "l") }`)
	eventually(t, 5*time.Second, func() bool { return e.hub.count("l") == 1 }, "subscribed")
	e.hub.publish("l", 5)
	if m := c.expectLegacy("data", "2"); string(m.Payload) != `{"data":{"counter":5}}` {
		t.Fatalf("data %s", m.Payload)
	}
	c.send(map[string]any{"id": "2", "type": "stop"})
	c.expectLegacy("complete", "2")
	eventually(t, 5*time.Second, func() bool { return e.hub.count("l") == 0 }, "subscription cancelled")

	// A start with an id in use replaces the running operation.
	c.start("3", `subscription { counter(topic: "r") }`)
	eventually(t, 5*time.Second, func() bool { return e.hub.count("r") == 1 }, "subscribed")
	c.start("3", `subscription { finite(n: 1) }`)
	if m := c.expectLegacy("data", "3"); string(m.Payload) != `{"data":{"finite":1}}` {
		t.Fatalf("data %s", m.Payload)
	}
	c.expectLegacy("complete", "3")
	eventually(t, 5*time.Second, func() bool { return e.hub.count("r") == 0 }, "replaced subscription cancelled")

	// Validation errors: error for that id.
	c.start("4", "{ nope }")
	if m := c.expectLegacy("error", "4"); !strings.Contains(string(m.Payload), "nope") {
		t.Fatalf("error %s", m.Payload)
	}

	// Unparsable messages get connection_error without closing; unknown
	// types an error.
	c.sendRaw("{oops")
	c.expectLegacy("connection_error", "")
	c.send(map[string]any{"id": "5", "type": "subscribe"})
	c.expectLegacy("error", "5")
	c.start("6", "{ hello }")
	c.expectLegacy("data", "6")
	c.expectLegacy("complete", "6")

	c.send(map[string]any{"type": "connection_terminate"})
	c.expectClose(websocket.CloseNormalClosure, "")
	if codes := e.waitCodes(1); codes[0] != websocket.CloseNormalClosure {
		t.Fatalf("CloseFunc code %d", codes[0])
	}
}

func TestLegacyKeepAlive(t *testing.T) {
	t.Parallel()
	// The interval leaves a loaded machine time to answer the pings: a
	// socket silent for two intervals is dropped.
	e := newEnv(t, &wstransport.Transport{PingInterval: 250 * time.Millisecond})
	c := e.dial(legacy)
	c.init(nil)
	c.expect("ka", "")
	for range 3 {
		c.expect("ka", "")
	}
}

func TestLegacyInitRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{
		InitFunc: func(ctx context.Context, p map[string]any) (context.Context, map[string]any, error) {
			return ctx, nil, errors.New("bad token")
		},
	})
	c := e.dial(legacy)
	c.send(map[string]any{"type": "connection_init"})
	got := c.expectClose(4403, "Forbidden")
	if len(got) != 1 || got[0].Type != "connection_error" || !strings.Contains(string(got[0].Payload), "Forbidden") {
		t.Fatalf("before the close: %+v", got)
	}
}

func TestLegacyStartBeforeInit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{})
	c := e.dial(legacy)
	c.start("1", "{ hello }")
	c.expectClose(4401, "Unauthorized")
}
