package wstransport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/internal/wstransport"
)

// testSchema is a small schema whose resolvers the tests drive.
var testSchema = gqlparser.MustLoadSchema(&ast.Source{Input: `
	type Query {
		hello: String!
		boom: String!
		fieldPanic: String
		slow: String!
	}
	type Mutation {
		echo(msg: String!): String!
	}
	type Subscription {
		counter(topic: String!, label: String): Int!
		flood(size: Int!): String!
		panicky: Int!
		finite(n: Int!): Int!
		ticks(everyMs: Int!): Int!
	}
`})

// env is one test server: its schema's state and the Transport under test.
type env struct {
	t   testing.TB
	tr  *wstransport.Transport
	url string // ws:// URL of the endpoint

	hub        *hub
	runs       atomic.Int64  // subscription executions started
	active     atomic.Int64  // operations whose context is not done yet
	floodEnded chan struct{} // a flood subscription's context ended
	slowEnded  chan struct{} // a slow query's context ended
	closes     *closeRecorder
}

// newEnv starts an httptest server with tr as its only transport.
func newEnv(t testing.TB, tr *wstransport.Transport) *env {
	t.Helper()
	e := &env{
		t:          t,
		tr:         tr,
		hub:        newHub(),
		floodEnded: make(chan struct{}, 64),
		slowEnded:  make(chan struct{}, 64),
		closes:     &closeRecorder{},
	}
	user := tr.CloseFunc
	tr.CloseFunc = func(ctx context.Context, code int) {
		e.closes.record(ctx, code)
		if user != nil {
			user(ctx, code)
		}
	}
	srv := handler.New(&graphql.ExecutableSchemaMock{
		ExecFunc:   e.exec,
		SchemaFunc: func() *ast.Schema { return testSchema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 0, false
		},
	})
	srv.SetRecoverFunc(func(ctx context.Context, err any) error {
		return gqlerror.Errorf("internal system error")
	})
	srv.AddTransport(tr)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		tr.Close()
		hs.Close()
	})
	e.url = "ws" + strings.TrimPrefix(hs.URL, "http")
	return e
}

// rootField returns the first selected field other than __typename.
func rootField(op *graphql.OperationContext) *ast.Field {
	for _, sel := range op.Operation.SelectionSet {
		if f, ok := sel.(*ast.Field); ok && f.Name != "__typename" {
			return f
		}
	}
	return nil
}

// once returns a response handler yielding resp once.
func once(f func(ctx context.Context) *graphql.Response) graphql.ResponseHandler {
	ran := false
	return func(ctx context.Context) *graphql.Response {
		if ran {
			return nil
		}
		ran = true
		return f(ctx)
	}
}

func data(alias string, v any) *graphql.Response {
	b, _ := json.Marshal(map[string]any{alias: v})
	return &graphql.Response{Data: b}
}

// track counts the operation as active until its context ends.
func (e *env) track(ctx context.Context) {
	e.active.Add(1)
	context.AfterFunc(ctx, func() { e.active.Add(-1) })
}

func (e *env) exec(ctx context.Context) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	f := rootField(op)
	args := f.ArgumentMap(op.Variables)
	alias := f.Alias
	switch op.Operation.Operation {
	case ast.Query:
		switch f.Name {
		case "hello":
			return once(func(context.Context) *graphql.Response { return data(alias, "world") })
		case "boom":
			return func(context.Context) *graphql.Response { panic("boom") }
		case "fieldPanic":
			// What generated code does for a field: graphql.ResolveField
			// recovers a panicking resolver into a field error.
			return once(func(ctx context.Context) *graphql.Response {
				fields := graphql.CollectFields(op, op.Operation.SelectionSet, []string{"Query"})
				m := graphql.ResolveField(ctx, op, fields[0],
					func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
						return &graphql.FieldContext{Object: "Query", Field: field, IsResolver: true}, nil
					},
					func(ctx context.Context) (any, error) { panic("resolver exploded") },
					nil,
					func(ctx context.Context, sel ast.SelectionSet, v string) graphql.Marshaler {
						return graphql.MarshalString(v)
					},
					true, false)
				var buf bytes.Buffer
				buf.WriteString(`{"` + alias + `":`)
				m.MarshalGQL(&buf)
				buf.WriteString("}")
				return &graphql.Response{Data: buf.Bytes()}
			})
		case "slow":
			e.track(ctx)
			context.AfterFunc(ctx, func() { e.slowEnded <- struct{}{} })
			return once(func(c context.Context) *graphql.Response {
				<-ctx.Done()
				return data(alias, "late")
			})
		}
	case ast.Mutation:
		return once(func(context.Context) *graphql.Response { return data(alias, args["msg"]) })
	case ast.Subscription:
		e.runs.Add(1)
		e.track(ctx)
		switch f.Name {
		case "counter":
			ch := e.hub.subscribe(args["topic"].(string))
			context.AfterFunc(ctx, func() { e.hub.unsubscribe(args["topic"].(string), ch) })
			return func(context.Context) *graphql.Response {
				select {
				case v, ok := <-ch:
					if !ok {
						return nil
					}
					if args["label"] == "panic" {
						panic("event production exploded")
					}
					return data(alias, v)
				case <-ctx.Done():
					return nil
				}
			}
		case "flood":
			payload := strings.Repeat("x", int(toInt(args["size"])))
			context.AfterFunc(ctx, func() {
				select {
				case e.floodEnded <- struct{}{}:
				default:
				}
			})
			return func(context.Context) *graphql.Response {
				if ctx.Err() != nil {
					return nil
				}
				return data(alias, payload)
			}
		case "panicky":
			return func(context.Context) *graphql.Response { panic("event production exploded") }
		case "finite":
			n, i := toInt(args["n"]), int64(0)
			return func(context.Context) *graphql.Response {
				if i >= n || ctx.Err() != nil {
					return nil
				}
				i++
				return data(alias, i)
			}
		case "ticks":
			every := time.Duration(toInt(args["everyMs"])) * time.Millisecond
			i := 0
			return func(context.Context) *graphql.Response {
				timer := time.NewTimer(every)
				defer timer.Stop()
				select {
				case <-timer.C:
					i++
					return data(alias, i)
				case <-ctx.Done():
					return nil
				}
			}
		}
	}
	return graphql.OneShot(graphql.ErrorResponse(ctx, "unsupported field %s", f.Name))
}

func toInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	panic(fmt.Sprintf("not an int: %T", v))
}

// hub publishes counter events by topic.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan int]struct{}
}

func newHub() *hub { return &hub{subs: make(map[string]map[chan int]struct{})} }

func (h *hub) subscribe(topic string) chan int {
	ch := make(chan int, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[topic] == nil {
		h.subs[topic] = make(map[chan int]struct{})
	}
	h.subs[topic][ch] = struct{}{}
	return ch
}

func (h *hub) unsubscribe(topic string, ch chan int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[topic], ch)
}

func (h *hub) count(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[topic])
}

func (h *hub) publish(topic string, v int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[topic] {
		ch <- v
	}
}

// end closes the topic's streams: their runs end normally.
func (h *hub) end(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[topic] {
		close(ch)
	}
	delete(h.subs, topic)
}

// closeRecorder records CloseFunc calls.
type closeRecorder struct {
	mu    sync.Mutex
	codes []int
	ctxs  []context.Context
}

func (r *closeRecorder) record(ctx context.Context, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.codes = append(r.codes, code)
	r.ctxs = append(r.ctxs, ctx)
}

func (r *closeRecorder) snapshot() ([]int, []context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.codes...), append([]context.Context(nil), r.ctxs...)
}

// waitCodes waits until CloseFunc has been called n times and returns the codes.
func (e *env) waitCodes(n int) []int {
	e.t.Helper()
	var codes []int
	eventually(e.t, 5*time.Second, func() bool {
		codes, _ = e.closes.snapshot()
		return len(codes) >= n
	}, "CloseFunc called %d times", n)
	return codes
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: "+format, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// --- client ---

// msg is a message received by the test client.
type msg struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	Raw     string          `json:"-"`
}

type client struct {
	t  testing.TB
	ws *websocket.Conn
}

func (e *env) dial(protocols ...string) *client {
	e.t.Helper()
	c, resp, err := e.tryDial(nil, protocols...)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("dial: %v (HTTP %d)", err, status)
	}
	return c
}

func (e *env) tryDial(header http.Header, protocols ...string) (*client, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 5 * time.Second}
	return e.dialWith(&d, header)
}

func (e *env) dialWith(d *websocket.Dialer, header http.Header) (*client, *http.Response, error) {
	ws, resp, err := d.Dial(e.url, header)
	if err != nil {
		return nil, resp, fmt.Errorf("dialing %s: %w", e.url, err)
	}
	c := &client{t: e.t, ws: ws}
	e.t.Cleanup(func() { ws.Close() })
	return c, resp, nil
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send %s: %v", s, err)
	}
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

func (c *client) subscribe(id, query string, vars map[string]any) {
	c.t.Helper()
	payload := map[string]any{"query": query}
	if vars != nil {
		payload["variables"] = vars
	}
	c.send(map[string]any{"id": id, "type": "subscribe", "payload": payload})
}

func (c *client) readTimeout(d time.Duration) (msg, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		return msg{}, err
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		return msg{}, fmt.Errorf("decoding %s: %w", b, err)
	}
	m.Raw = string(b)
	return m, nil
}

func (c *client) read() msg {
	c.t.Helper()
	m, err := c.readTimeout(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// expect reads the next message and checks its type (and id when not empty).
func (c *client) expect(typ, id string) msg {
	c.t.Helper()
	m := c.read()
	if m.Type != typ || (id != "" && m.ID != id) {
		c.t.Fatalf("got %s, want type %q id %q", m.Raw, typ, id)
	}
	return m
}

// init sends connection_init and expects connection_ack.
func (c *client) init(payload any) msg {
	c.t.Helper()
	m := map[string]any{"type": "connection_init"}
	if payload != nil {
		m["payload"] = payload
	}
	c.send(m)
	return c.expect("connection_ack", "")
}

// expectClose reads until the server closes the socket and checks the code
// and the reason's prefix. Messages before the close frame are returned.
func (c *client) expectClose(code int, reason string) []msg {
	c.t.Helper()
	var got []msg
	for {
		m, err := c.readTimeout(5 * time.Second)
		if err == nil {
			got = append(got, m)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("want close %d %q, got %v (after %d messages)", code, reason, err, len(got))
		}
		if ce.Code != code || !strings.HasPrefix(ce.Text, reason) {
			c.t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Text, code, reason)
		}
		return got
	}
}
