package wstransport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"roster/internal/wstransport"
)

const (
	tws    = wstransport.SubprotocolTransportWS
	legacy = wstransport.SubprotocolLegacy
)

func TestSubprotocolNegotiation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		offered []string
		want    string
	}{
		{"transport-ws only", []string{tws}, tws},
		{"both, transport-ws first", []string{tws, legacy}, tws},
		{"both, legacy first", []string{legacy, tws}, tws},
		{"legacy only", []string{legacy}, legacy},
		{"none", nil, ""},
		{"unknown", []string{"graphql-sse"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, &wstransport.Transport{})
			c := e.dial(tc.offered...)
			if got := c.ws.Subprotocol(); got != tc.want {
				t.Fatalf("negotiated %q, want %q", got, tc.want)
			}
			if tc.want == "" {
				c.expectClose(4406, "Subprotocol not acceptable")
				if codes := e.waitCodes(1); codes[0] != 4406 {
					t.Fatalf("CloseFunc code %d, want 4406", codes[0])
				}
				return
			}
			c.init(nil)
		})
	}
}

// TestCloseCodes covers every protocol violation and its close code; each
// case also checks that CloseFunc was called once with that code.
func TestCloseCodes(t *testing.T) {
	t.Parallel()
	refuse := func(err error) func(context.Context, map[string]any) (context.Context, map[string]any, error) {
		return func(ctx context.Context, _ map[string]any) (context.Context, map[string]any, error) {
			return ctx, nil, err
		}
	}
	const initMsg = `{"type":"connection_init"}`
	const sub1 = `{"id":"1","type":"subscribe","payload":{"query":"subscription { counter(topic: \"t\") }"}}`
	for _, tc := range []struct {
		name   string
		tr     func(*wstransport.Transport)
		init   bool     // send connection_init and expect the ack first
		send   []string // then send these
		code   int
		reason string
	}{
		{name: "malformed JSON", init: true, send: []string{`{"type":`}, code: 4400, reason: "Invalid message received"},
		{name: "not an object", init: true, send: []string{`[1,2]`}, code: 4400, reason: "Invalid message received"},
		{name: "unknown type", init: true, send: []string{`{"type":"hello"}`}, code: 4400, reason: `Unexpected message of type "hello" received`},
		{name: "missing type", init: true, send: []string{`{"id":"1"}`}, code: 4400, reason: `Unexpected message of type "" received`},
		{name: "type not a string", init: true, send: []string{`{"type":1}`}, code: 4400, reason: "Invalid message received"},
		{name: "server message from client", init: true, send: []string{`{"id":"1","type":"next","payload":{}}`}, code: 4400, reason: `Unexpected message of type "next"`},
		{name: "subscribe without id", init: true, send: []string{`{"type":"subscribe","payload":{"query":"{ hello }"}}`}, code: 4400, reason: "Invalid message received: subscribe requires an id"},
		{name: "subscribe without query", init: true, send: []string{`{"id":"1","type":"subscribe","payload":{}}`}, code: 4400, reason: "Invalid message received: payload.query"},
		{name: "subscribe with bad variables", init: true, send: []string{`{"id":"1","type":"subscribe","payload":{"query":"{ hello }","variables":[1]}}`}, code: 4400, reason: "Invalid message received"},
		{name: "complete without id", init: true, send: []string{`{"type":"complete"}`}, code: 4400, reason: "Invalid message received"},
		{name: "ping payload not an object", init: true, send: []string{`{"type":"ping","payload":"x"}`}, code: 4400, reason: "Invalid message received"},
		{name: "init payload not an object", send: []string{`{"type":"connection_init","payload":[1]}`}, code: 4400, reason: "Invalid message received"},
		{name: "subscribe before ack", send: []string{sub1}, code: 4401, reason: "Unauthorized"},
		{name: "second connection_init", init: true, send: []string{initMsg}, code: 4429, reason: "Too many initialisation requests"},
		{name: "subscriber id in use", init: true, send: []string{sub1, sub1}, code: 4409, reason: "Subscriber for 1 already exists"},
		{name: "init refused", tr: func(t *wstransport.Transport) { t.InitFunc = refuse(errors.New("bad token")) }, send: []string{initMsg}, code: 4403, reason: "Forbidden"},
		{
			name: "init refused with a close error",
			tr: func(t *wstransport.Transport) {
				t.InitFunc = refuse(&wstransport.CloseError{Code: 4499, Reason: "Token expired"})
			},
			send:   []string{initMsg},
			code:   4499,
			reason: "Token expired",
		},
		{
			name: "init panics",
			tr: func(t *wstransport.Transport) {
				t.ErrorLog = slog.New(slog.DiscardHandler)
				t.InitFunc = func(context.Context, map[string]any) (context.Context, map[string]any, error) { panic("init exploded") }
			},
			send:   []string{initMsg},
			code:   4500,
			reason: "Internal server error",
		},
		{name: "init timeout", tr: func(t *wstransport.Transport) { t.InitTimeout = 100 * time.Millisecond }, code: 4408, reason: "Connection initialisation timeout"},
		{name: "message too big", init: true, send: []string{`{"type":"ping","payload":{"x":"` + strings.Repeat("x", 70<<10) + `"}}`}, code: websocket.CloseMessageTooBig},
		{name: "custom message limit", tr: func(t *wstransport.Transport) { t.MaxMessageSize = 100 }, send: []string{`{"type":"connection_init","payload":{"x":"` + strings.Repeat("x", 100) + `"}}`}, code: websocket.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := &wstransport.Transport{}
			if tc.tr != nil {
				tc.tr(tr)
			}
			e := newEnv(t, tr)
			c := e.dial(tws)
			if tc.init {
				c.init(nil)
			}
			// A message over the limit may be cut off by the server's close
			// before the client has written it all; the close frame is then
			// lost to a reset, and only the server's code, below, is
			// certain.
			cutOff := false
			for _, s := range tc.send {
				if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
					if tc.code != websocket.CloseMessageTooBig {
						t.Fatalf("send %s: %v", s, err)
					}
					cutOff = true
				}
			}
			if !cutOff {
				c.expectClose(tc.code, tc.reason)
			}
			codes := e.waitCodes(1)
			time.Sleep(20 * time.Millisecond)
			if codes, _ = e.closes.snapshot(); len(codes) != 1 || codes[0] != tc.code {
				t.Fatalf("CloseFunc codes %v, want [%d]", codes, tc.code)
			}
		})
	}
}

func TestInitAckPayloadAndContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	e := newEnv(t, &wstransport.Transport{
		InitFunc: func(ctx context.Context, p map[string]any) (context.Context, map[string]any, error) {
			return context.WithValue(ctx, key{}, p["token"]), map[string]any{"server": "roster"}, nil
		},
	})
	c := e.dial(tws)
	ack := c.init(map[string]any{"token": "abc"})
	if string(ack.Payload) != `{"server":"roster"}` {
		t.Fatalf("ack payload %s", ack.Payload)
	}
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	codes := e.waitCodes(1)
	_, ctxs := e.closes.snapshot()
	if codes[0] != websocket.CloseNormalClosure || ctxs[0].Value(key{}) != "abc" {
		t.Fatalf("CloseFunc(%v, %d), want the InitFunc context and 1000", ctxs[0].Value(key{}), codes[0])
	}
}

func TestPingPong(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{})
	c := e.dial(tws)
	// ping is answered before connection_init too.
	c.sendRaw(`{"type":"ping"}`)
	if m := c.expect("pong", ""); m.Payload != nil {
		t.Fatalf("pong payload %s, want none", m.Payload)
	}
	c.init(nil)
	c.sendRaw(`{"type":"ping","payload":{"t":1}}`)
	if m := c.expect("pong", ""); string(m.Payload) != `{"t":1}` {
		t.Fatalf("pong payload %s", m.Payload)
	}
	// An unsolicited pong is ignored.
	c.sendRaw(`{"type":"pong","payload":{"n":2}}`)
	c.subscribe("q", "{ hello }", nil)
	c.expect("next", "q")
	c.expect("complete", "q")
}

func TestOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{})
	c := e.dial(tws)
	c.init(nil)

	c.subscribe("q", "{ hello }", nil)
	if m := c.expect("next", "q"); string(m.Payload) != `{"data":{"hello":"world"}}` {
		t.Fatalf("query result %s", m.Payload)
	}
	c.expect("complete", "q")

	c.subscribe("m", "mutation($m: String!) { echo(msg: $m) }", map[string]any{"m": "hi"})
	if m := c.expect("next", "m"); string(m.Payload) != `{"data":{"echo":"hi"}}` {
		t.Fatalf("mutation result %s", m.Payload)
	}
	c.expect("complete", "m")

	c.subscribe("s", "subscription { finite(n: 3) }", nil)
	for i := 1; i <= 3; i++ {
		m := c.expect("next", "s")
		if want := `{"data":{"finite":` + string(rune('0'+i)) + `}}`; string(m.Payload) != want {
			t.Fatalf("event %s, want %s", m.Payload, want)
		}
	}
	c.expect("complete", "s")

	// Operation-level errors: an error message with the list of errors,
	// and no complete.
	c.subscribe("v", "{ nope }", nil)
	m := c.expect("error", "v")
	var errs []struct{ Message string }
	if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 || !strings.Contains(errs[0].Message, "nope") {
		t.Fatalf("validation error payload %s (%v)", m.Payload, err)
	}
	c.subscribe("p", "{ hello", nil)
	c.expect("error", "p")
	c.subscribe("n", "query A { hello } query B { hello }", nil)
	c.expect("error", "n")

	// The ids of finished operations can be used again.
	c.subscribe("q", "{ hello }", nil)
	c.expect("next", "q")
	c.expect("complete", "q")
	if runs := e.runs.Load(); runs != 1 {
		t.Fatalf("%d subscription runs, want 1", runs)
	}
}

// TestCompleteStopsSubscription checks that after the client's complete the
// resolver context is cancelled and nothing more is sent for that id, while a
// fast producer races with it.
func TestCompleteStopsSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{SendQueue: 1 << 16})
	c := e.dial(tws)
	c.init(nil)
	for round := range 20 {
		id := "f" + string(rune('a'+round))
		c.subscribe(id, "subscription { flood(size: 10) }", nil)
		c.expect("next", id)
		c.send(map[string]any{"id": id, "type": "complete"})
		c.send(map[string]any{"type": "ping", "payload": map[string]any{"round": round}})
		// Results in flight before the complete may still arrive; none
		// after the pong, which the server queued after stopping id.
		for {
			m := c.read()
			if m.Type == "pong" {
				break
			}
			if m.Type != "next" || m.ID != id {
				t.Fatalf("unexpected %s", m.Raw)
			}
		}
		select {
		case <-e.floodEnded:
		case <-time.After(5 * time.Second):
			t.Fatal("the resolver context was not cancelled")
		}
		c.subscribe("q", "{ hello }", nil)
		if m := c.read(); m.Type != "next" || m.ID != "q" {
			t.Fatalf("after the pong: %s", m.Raw)
		}
		c.expect("complete", "q")
	}
	// A complete for an unknown or finished id is ignored.
	c.send(map[string]any{"id": "zz", "type": "complete"})
	c.subscribe("q", "{ hello }", nil)
	c.expect("next", "q")
	c.expect("complete", "q")
}

func TestCompleteCancelsPendingQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{})
	c := e.dial(tws)
	c.init(nil)
	c.subscribe("s", "{ slow }", nil)
	eventually(t, 5*time.Second, func() bool { return e.active.Load() == 1 }, "slow query running")
	c.send(map[string]any{"id": "s", "type": "complete"})
	select {
	case <-e.slowEnded:
	case <-time.After(5 * time.Second):
		t.Fatal("query context not cancelled")
	}
	c.send(map[string]any{"type": "ping"})
	if m := c.read(); m.Type != "pong" {
		t.Fatalf("got %s after completing a pending query, want pong", m.Raw)
	}
}

// TestPanicEndsOnlyItsOperation: a panic while producing a subscription's
// events, or in a query's execution, ends that operation with an error; the
// connection and other operations go on. A panicking field resolver is
// recovered by gqlgen itself into a field error.
func TestPanicEndsOnlyItsOperation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{})
	c := e.dial(tws)
	c.init(nil)
	c.subscribe("c", `subscription { counter(topic: "p") }`, nil)
	eventually(t, 5*time.Second, func() bool { return e.hub.count("p") == 1 }, "counter subscribed")

	c.subscribe("x", "subscription { panicky }", nil)
	m := c.expect("error", "x")
	if !strings.Contains(string(m.Payload), "internal system error") {
		t.Fatalf("panic error payload %s", m.Payload)
	}
	c.subscribe("b", "{ boom }", nil)
	c.expect("error", "b")

	c.subscribe("f", "{ fieldPanic }", nil)
	m = c.expect("next", "f")
	if !strings.Contains(string(m.Payload), `"data":{"fieldPanic":null}`) || !strings.Contains(string(m.Payload), "internal system error") {
		t.Fatalf("field panic result %s", m.Payload)
	}
	c.expect("complete", "f")

	e.hub.publish("p", 7)
	if m := c.expect("next", "c"); string(m.Payload) != `{"data":{"counter":7}}` {
		t.Fatalf("counter after panics: %s", m.Payload)
	}
	// The panicking ids are free again.
	c.subscribe("x", "{ hello }", nil)
	c.expect("next", "x")
	c.expect("complete", "x")
}

func TestServerCompletesSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{})
	c := e.dial(tws)
	c.init(nil)
	c.subscribe("c", `subscription { counter(topic: "end") }`, nil)
	eventually(t, 5*time.Second, func() bool { return e.hub.count("end") == 1 }, "counter subscribed")
	e.hub.publish("end", 1)
	c.expect("next", "c")
	e.hub.end("end")
	c.expect("complete", "c")
}

func TestKeepalive(t *testing.T) {
	t.Parallel()
	const interval = 50 * time.Millisecond

	t.Run("half-open client is dropped", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, &wstransport.Transport{PingInterval: interval})
		c := e.dial(tws)
		c.init(nil)
		c.subscribe("c", `subscription { counter(topic: "k") }`, nil)
		eventually(t, 5*time.Second, func() bool { return e.hub.count("k") == 1 }, "counter subscribed")
		// The client keeps reading but never answers pings, like a peer
		// behind a dead link.
		var pings atomic.Int32
		c.ws.SetPingHandler(func(string) error { pings.Add(1); return nil })
		start := time.Now()
		c.expectClose(websocket.CloseGoingAway, "Keepalive timeout")
		if d := time.Since(start); d > 2*interval+3*time.Second {
			t.Fatalf("dropped after %v, want about %v", d, 2*interval)
		}
		if pings.Load() == 0 {
			t.Fatal("no ping frames received")
		}
		if codes := e.waitCodes(1); codes[0] != websocket.CloseGoingAway {
			t.Fatalf("CloseFunc code %d", codes[0])
		}
		eventually(t, 5*time.Second, func() bool { return e.hub.count("k") == 0 }, "subscription cancelled")
	})

	t.Run("live client stays", func(t *testing.T) {
		t.Parallel()
		const interval = 150 * time.Millisecond // a pong may be late on a busy machine
		e := newEnv(t, &wstransport.Transport{PingInterval: interval})
		c := e.dial(tws)
		c.init(nil)
		var pings atomic.Int32
		pong := c.ws.PingHandler()
		c.ws.SetPingHandler(func(s string) error { pings.Add(1); return pong(s) })
		// Reading answers the pings; nothing else arrives for 6 intervals.
		if m, err := c.readTimeout(6 * interval); err == nil || !isTimeout(err) {
			t.Fatalf("got %v %v, want a read timeout", m.Raw, err)
		}
		if pings.Load() < 3 {
			t.Fatalf("%d pings in 6 intervals", pings.Load())
		}
		if codes, _ := e.closes.snapshot(); len(codes) != 0 {
			t.Fatalf("connection closed: %v", codes)
		}
	})

	t.Run("silent before init", func(t *testing.T) {
		t.Parallel()
		// The init timeout applies even with a shorter ping interval.
		e := newEnv(t, &wstransport.Transport{PingInterval: interval, InitTimeout: 300 * time.Millisecond})
		c := e.dial(tws)
		start := time.Now()
		c.expectClose(4408, "Connection initialisation timeout")
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("closed after %v", d)
		}
	})
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	allowAll := func(*http.Request) bool { return true }
	for _, tc := range []struct {
		name   string
		check  func(*http.Request) bool
		origin string // "host" is replaced by the server's host
		status int
	}{
		{"no origin", nil, "", http.StatusSwitchingProtocols},
		{"same origin", nil, "http://host", http.StatusSwitchingProtocols},
		{"other origin", nil, "https://evil.example", http.StatusForbidden},
		{"bad origin", nil, "::", http.StatusForbidden},
		{"custom check allows", allowAll, "https://app.example", http.StatusSwitchingProtocols},
		{"custom check refuses", func(*http.Request) bool { return false }, "http://host", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, &wstransport.Transport{CheckOrigin: tc.check})
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", strings.Replace(tc.origin, "host", strings.TrimPrefix(e.url, "ws://"), 1))
			}
			c, resp, err := e.tryDial(h, tws)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d (%v)", resp.StatusCode, tc.status, err)
			}
			if c != nil {
				c.init(nil)
			}
		})
	}
}

// TestSendQueueOverflow: a client that stops reading makes its queue
// overflow; the connection is closed with 1013 instead of dropping events.
func TestSendQueueOverflow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{SendQueue: 4})
	c := e.dial(tws)
	c.init(nil)
	c.subscribe("f", "subscription { flood(size: 65536) }", nil)
	// The client reads nothing until the server has given up.
	select {
	case <-e.floodEnded:
	case <-time.After(10 * time.Second):
		t.Fatal("the send queue never overflowed")
	}
	got := c.expectClose(websocket.CloseTryAgainLater, "send queue overflow")
	for _, m := range got {
		if m.Type != "next" {
			t.Fatalf("unexpected %s", m.Type)
		}
	}
	if codes := e.waitCodes(1); codes[0] != websocket.CloseTryAgainLater {
		t.Fatalf("CloseFunc code %d", codes[0])
	}
}

// TestServerInitiatedClose: ending the InitFunc context closes the socket at
// once, with the cause's code and reason when it is a *CloseError.
func TestServerInitiatedClose(t *testing.T) {
	t.Parallel()
	type key struct{}
	for _, tc := range []struct {
		name   string
		cause  error
		code   int
		reason string
	}{
		{"close error cause", &wstransport.CloseError{Code: 4498, Reason: "Token revoked"}, 4498, "Token revoked"},
		{"wrapped close error", errors.Join(errors.New("revoked"), &wstransport.CloseError{Code: 4401, Reason: "Unauthorized"}), 4401, "Unauthorized"},
		{"plain cancel", nil, 4403, "Forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cancels := make(chan context.CancelCauseFunc, 1)
			e := newEnv(t, &wstransport.Transport{
				InitFunc: func(ctx context.Context, _ map[string]any) (context.Context, map[string]any, error) {
					ctx, cancel := context.WithCancelCause(context.WithValue(ctx, key{}, "session"))
					cancels <- cancel
					return ctx, nil, nil
				},
			})
			c := e.dial(tws)
			c.init(nil)
			c.subscribe("c", `subscription { counter(topic: "r") }`, nil)
			eventually(t, 5*time.Second, func() bool { return e.hub.count("r") == 1 }, "counter subscribed")
			(<-cancels)(tc.cause)
			c.expectClose(tc.code, tc.reason)
			codes := e.waitCodes(1)
			_, ctxs := e.closes.snapshot()
			if codes[0] != tc.code || ctxs[0].Value(key{}) != "session" {
				t.Fatalf("CloseFunc(%v, %d)", ctxs[0].Value(key{}), codes[0])
			}
			eventually(t, 5*time.Second, func() bool { return e.hub.count("r") == 0 }, "subscription cancelled")
		})
	}
}

// TestHandleClose: a Handle kept from InitFunc's context closes the socket
// at once, with its code (4403 for one a server may not send) and reason,
// whatever the context InitFunc returned; the zero Handle closes nothing.
func TestHandleClose(t *testing.T) {
	t.Parallel()
	type key struct{}
	for _, tc := range []struct {
		name       string
		code, want int
	}{
		{"code", 4498, 4498},
		{"code a server may not send", websocket.CloseAbnormalClosure, 4403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			handles := make(chan wstransport.Handle, 1)
			e := newEnv(t, &wstransport.Transport{
				InitFunc: func(ctx context.Context, _ map[string]any) (context.Context, map[string]any, error) {
					handles <- wstransport.HandleFrom(ctx)
					wstransport.HandleFrom(context.Background()).Close(4403, "nothing to close")
					// A context of its own: nothing of ctx is kept.
					return context.WithValue(context.Background(), key{}, "session"), nil, nil
				},
			})
			c := e.dial(tws)
			c.init(nil)
			c.subscribe("c", `subscription { counter(topic: "h") }`, nil)
			eventually(t, 5*time.Second, func() bool { return e.hub.count("h") == 1 }, "counter subscribed")
			(<-handles).Close(tc.code, "Token revoked")
			c.expectClose(tc.want, "Token revoked")
			codes := e.waitCodes(1)
			_, ctxs := e.closes.snapshot()
			if codes[0] != tc.want || ctxs[0].Value(key{}) != "session" {
				t.Fatalf("CloseFunc(%v, %d)", ctxs[0].Value(key{}), codes[0])
			}
			eventually(t, 5*time.Second, func() bool { return e.hub.count("h") == 0 }, "subscription cancelled")
		})
	}
}

// TestServerInitiatedCloseAnswersNothing: operations cut short by the end
// of the InitFunc context, or by a Handle's Close, are answered by the
// close alone, never by what their cancellation made them return (here a
// query that answers once its context ends). Many sockets, since the
// operations race the close.
func TestServerInitiatedCloseAnswersNothing(t *testing.T) {
	t.Parallel()
	for _, byHandle := range []bool{false, true} {
		t.Run(fmt.Sprintf("handle=%v", byHandle), func(t *testing.T) {
			t.Parallel()
			closers := make(chan func(), 1)
			e := newEnv(t, &wstransport.Transport{
				InitFunc: func(ctx context.Context, _ map[string]any) (context.Context, map[string]any, error) {
					if byHandle {
						h := wstransport.HandleFrom(ctx)
						closers <- func() { h.Close(4403, "Forbidden: demoted") }
						return ctx, nil, nil
					}
					ctx, cancel := context.WithCancelCause(ctx)
					closers <- func() { cancel(&wstransport.CloseError{Code: 4403, Reason: "Forbidden: demoted"}) }
					return ctx, nil, nil
				},
			})
			for i := range 50 {
				c := e.dial(tws)
				c.init(nil)
				closeIt := <-closers
				for j := range 3 {
					c.subscribe(strconv.Itoa(j), `{ slow }`, nil)
				}
				eventually(t, 5*time.Second, func() bool { return e.active.Load() == 3 }, "slow queries running")
				closeIt()
				if got := c.expectClose(4403, "Forbidden: demoted"); len(got) != 0 {
					t.Fatalf("socket %d: answered %s before the close", i, got[0].Raw)
				}
				eventually(t, 5*time.Second, func() bool { return e.active.Load() == 0 }, "slow queries ended")
			}
		})
	}
}

// TestCloseFuncOnce checks CloseFunc's code and context for the ways a
// connection ends.
func TestCloseFuncOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(c *client)
		code int
	}{
		{"client closes normally", func(c *client) {
			c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
			c.ws.ReadMessage() // the server's answer
		}, websocket.CloseNormalClosure},
		{"client closes with its own code", func(c *client) {
			c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4321, ""), time.Now().Add(time.Second))
		}, 4321},
		{"TCP connection drops", func(c *client) { c.ws.NetConn().Close() }, websocket.CloseAbnormalClosure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, &wstransport.Transport{})
			c := e.dial(tws)
			c.init(nil)
			c.subscribe("c", `subscription { counter(topic: "o") }`, nil)
			eventually(t, 5*time.Second, func() bool { return e.hub.count("o") == 1 }, "counter subscribed")
			tc.end(c)
			codes := e.waitCodes(1)
			eventually(t, 5*time.Second, func() bool { return e.hub.count("o") == 0 }, "subscription cancelled")
			time.Sleep(20 * time.Millisecond)
			if codes, _ = e.closes.snapshot(); len(codes) != 1 || codes[0] != tc.code {
				t.Fatalf("CloseFunc codes %v, want [%d]", codes, tc.code)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &wstransport.Transport{})
	var clients []*client
	for range 3 {
		c := e.dial(tws)
		c.init(nil)
		c.subscribe("c", `subscription { counter(topic: "s") }`, nil)
		clients = append(clients, c)
	}
	legacyClient := e.dial(legacy)
	legacyClient.init(nil)
	eventually(t, 5*time.Second, func() bool { return e.hub.count("s") == 3 }, "subscribed")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.tr.Shutdown(ctx) }()
	for _, c := range append(clients, legacyClient) {
		c.expectClose(websocket.CloseServiceRestart, "Service Restart")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if codes, _ := e.closes.snapshot(); len(codes) != 4 {
		t.Fatalf("CloseFunc called %d times, want 4", len(codes))
	}
	// Their operations were cancelled; the resolvers end on their own
	// goroutines, soon after.
	eventually(t, 5*time.Second, func() bool { return e.hub.count("s") == 0 }, "subscriptions ended after Shutdown")
	_, resp, err := e.tryDial(nil, tws)
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Shutdown: %v %v", resp, err)
	}
}

// TestWriteTimeout: a client that stops reading blocks the writes to its
// socket once the buffers between them are full; a write blocked for
// WriteTimeout fails, and the connection ends (1006: nothing more can be
// written to it), while a client that reads on the same server keeps
// getting its events.
func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	e := newEnv(t, &wstransport.Transport{WriteTimeout: timeout, SendQueue: 1 << 20})
	reader := e.dial(tws)
	reader.init(nil)
	reader.subscribe("c", `subscription { counter(topic: "t") }`, nil)
	eventually(t, 5*time.Second, func() bool { return e.hub.count("t") == 1 }, "the counter subscription runs")

	stuck := e.dial(tws)
	stuck.init(nil)
	stuck.subscribe("f", "subscription { flood(size: 65536) }", nil)
	// stuck reads nothing from now on.
	start := time.Now()
	if codes := e.waitCodes(1); codes[0] != websocket.CloseAbnormalClosure {
		t.Fatalf("CloseFunc code %d, want %d", codes[0], websocket.CloseAbnormalClosure)
	}
	t.Logf("the stuck connection ended %v after it stopped reading", time.Since(start).Round(time.Millisecond))
	select {
	case <-e.floodEnded:
	case <-time.After(5 * time.Second):
		t.Fatal("the stuck connection's subscription was not stopped")
	}

	e.hub.publish("t", 7)
	if m := reader.expect("next", "c"); !strings.Contains(string(m.Payload), "7") {
		t.Fatalf("the reading client got %s", m.Payload)
	}
}
