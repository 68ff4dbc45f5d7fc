// Package wstransport serves GraphQL over WebSocket for gqlgen on top of
// github.com/gorilla/websocket.
//
// It speaks the graphql-transport-ws subprotocol as specified by the
// graphql-ws project's PROTOCOL.md, and the legacy graphql-ws subprotocol of
// subscriptions-transport-ws for older Apollo clients. Add it to a gqlgen
// handler like any other transport:
//
//	ws := &wstransport.Transport{InitFunc: authenticate}
//	srv := handler.New(schema)
//	srv.AddTransport(ws)
//	srv.AddTransport(transport.POST{})
//	httpSrv.RegisterOnShutdown(ws.Close) // http.Server.Shutdown leaves hijacked connections alone
//
// # Subprotocol negotiation
//
// graphql-transport-ws is chosen whenever the client offers it; graphql-ws
// only when it is the sole supported subprotocol offered. A client offering
// neither gets the WebSocket handshake completed without a subprotocol and the
// socket closed at once with 4406 "Subprotocol not acceptable", which is what
// the graphql-ws reference server does.
//
// # Close codes
//
//	4400  malformed message, unknown or unexpected message type (graphql-transport-ws;
//	      on graphql-ws only a connection_init whose payload is not an object)
//	4401  "Unauthorized": subscribe/start before connection_ack
//	4403  "Forbidden": InitFunc or OperationFunc refused, or the InitFunc
//	      context ended (a *CloseError they return or set as the context's
//	      cause overrides code and reason)
//	4406  "Subprotocol not acceptable": no supported subprotocol offered
//	4408  "Connection initialisation timeout": no connection_init within InitTimeout
//	4409  "Subscriber for <id> already exists" (graphql-transport-ws)
//	4429  "Too many initialisation requests": second connection_init
//	4500  "Internal server error": a panic in InitFunc or GroupKey (1011 on graphql-ws)
//	1000  legacy connection_terminate
//	1001  "Keepalive timeout": no frame arrived within two ping intervals
//	      (the client rarely sees it)
//	1012  "Service Restart" from Close/Shutdown: graphql-ws clients retry on
//	      it (as on 1001), to another instance or the restarted one
//	1009  message larger than MaxMessageSize (sent by gorilla/websocket)
//	1013  "send queue overflow": the client does not read fast enough
//	1006  not sent: given to CloseFunc when the connection broke or a write
//	      failed or timed out (WriteTimeout)
//
// Operations: subscribe runs queries, mutations and subscriptions alike (next
// per result, then complete), each in the context OperationFunc gives it at
// its start (the upgrade request's context values are there; its headers are
// not kept, so the operations' Headers are nil). A subscription beyond MaxSubscriptions is answered by an error
// message coded TOO_MANY_SUBSCRIPTIONS; the connection goes on. Parse and validation errors are sent as an
// error message with the list of GraphQL errors. A panic while executing an
// operation or producing its events ends that operation with an error
// message (through the executor's recover function); the connection and its
// other operations go on. After the client's complete the operation's
// context is cancelled and nothing more is written for its id.
//
// # Legacy graphql-ws
//
// connection_init is answered by connection_ack and a first ka, then ka
// follows every PingInterval. start runs an operation (data for each result,
// then complete), stop cancels it and is answered by complete, a start with an
// id in use replaces the running operation, connection_terminate closes with
// 1000. As that protocol says, a message that is not JSON is answered by
// connection_error without closing and an unknown message type by an error
// for its id. A refused connection_init is answered by connection_error
// before the socket is closed with the code above.
//
// # Resources
//
// Each connection has one reader goroutine, and a writer goroutine only
// while it has something to write; a 512-byte read buffer and 1 KiB write
// buffers (from a pool shared by all connections), a send queue that
// only grows while messages wait, and no timers: init
// timeout and keepalive are read deadlines, and one ticker goroutine per
// Transport, running while connections are open, asks every writer to send a
// ping frame. Each operation runs in its own goroutine; see GroupKey for
// subscriptions that share one.
package wstransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
)

// Subprotocol names.
const (
	// SubprotocolTransportWS is the graphql-ws project's protocol.
	SubprotocolTransportWS = "graphql-transport-ws"
	// SubprotocolLegacy is the protocol of subscriptions-transport-ws.
	SubprotocolLegacy = "graphql-ws"
)

// Defaults applied to zero fields of Transport.
const (
	DefaultInitTimeout    = 10 * time.Second
	DefaultPingInterval   = 15 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxMessageSize = 64 << 10
	DefaultSendQueue      = 256
)

const (
	// bufferSize is the size of the write buffers.
	bufferSize = 1024
	// readBufferSize is the size of each connection's read buffer, which
	// it keeps while idle: a client's usual message (connection_init, a
	// subscribe, a ping) fits, and a larger one takes a few more reads.
	readBufferSize = 512
	// closeGrace bounds how long a closing connection waits for the
	// client's close frame before the TCP connection is dropped.
	closeGrace = time.Second
)

// Transport is a gqlgen transport serving GraphQL over WebSocket. Configure
// it before its first request and do not change it afterwards. The zero value
// is usable.
type Transport struct {
	// InitFunc is called with the connection_init payload before the
	// connection is acknowledged. It returns the context every operation of
	// the connection runs in, an optional connection_ack payload, or an
	// error to refuse the connection: the socket is then closed with 4403
	// "Forbidden", or with the code and reason of a *CloseError found in
	// the error.
	//
	// ctx carries the values of the upgrade request's context but not its
	// cancellation. The connection keeps the returned context, and only
	// it, until it ends: one derived from ctx keeps everything the upgrade
	// request's context holds, while a new one holding only the values the
	// operations read keeps an idle connection smaller.
	//
	// To close the connection later (its credentials were revoked), keep
	// HandleFrom(ctx) and call its Close. Alternatively, when the returned
	// context ends, the connection is closed at once with the code and
	// reason of context.Cause if it is a *CloseError, else with 4403
	// "Forbidden" (a context that can end is watched, at a cost per
	// connection).
	InitFunc func(ctx context.Context, payload map[string]any) (context.Context, map[string]any, error)

	// OperationFunc, if set, is called with the context of each operation
	// (InitFunc's context and the gqlgen operation context) before it runs,
	// and returns the context it runs in: the place to load the viewer as it
	// is now rather than as it was at connection_init. An error that is or
	// wraps a *CloseError closes the connection with its code and reason;
	// any other error ends that operation alone with an error message,
	// through the executor's error presenter.
	OperationFunc func(ctx context.Context) (context.Context, error)

	// MaxSubscriptions caps the subscriptions running at once on one
	// connection (0: no cap). A subscribe beyond it is answered by an error
	// message for its id, coded TOO_MANY_SUBSCRIPTIONS; the connection and
	// its other operations go on.
	MaxSubscriptions int

	// CloseFunc, if set, is called exactly once when a connection ends,
	// whatever the reason, with the context InitFunc returned (the upgrade
	// request's context if the connection was never acknowledged) and the
	// close code: the one sent by the server, or the client's, or 1006 when
	// the connection broke.
	CloseFunc func(ctx context.Context, code int)

	// CheckOrigin decides whether a cross-origin upgrade is allowed. Nil
	// allows requests without an Origin header and requests whose Origin
	// host equals the request's Host. A refused request gets HTTP 403.
	CheckOrigin func(r *http.Request) bool

	// GroupKey, if set, lets subscriptions share one execution. It is
	// called with each subscription operation's context (InitFunc's values
	// and the gqlgen operation context). Subscriptions whose query text,
	// operation name, variables and non-empty GroupKey are all equal are
	// served by one executor run: each result is encoded once and the same
	// bytes are written to every member. The run's context is the first
	// member's, detached from its cancellation; it is cancelled when the
	// last member leaves, and when the run ends every member gets complete
	// (or error). The key must therefore cover everything that makes the
	// results differ between subscribers (viewer, role, tenant...). An
	// empty key runs the subscription on its own. Queries and mutations
	// never share. A Transport must serve a single gqlgen handler when
	// GroupKey is set.
	GroupKey func(ctx context.Context) string

	// InitTimeout is how long the server waits for connection_init
	// (default 10s; negative: forever).
	InitTimeout time.Duration

	// PingInterval is the interval of WebSocket ping frames (and legacy
	// ka messages). A connection on which no frame arrives within two
	// intervals is dropped. Default 15s; negative disables pings and the
	// read deadline.
	PingInterval time.Duration

	// WriteTimeout bounds each write to the socket (default 10s): one that
	// goes on for it, up to a quarter longer, fails and ends the connection.
	WriteTimeout time.Duration

	// MaxMessageSize is the largest message accepted from a client
	// (default 64 KiB); a larger one closes the connection with 1009.
	MaxMessageSize int64

	// SendQueue is the number of messages that may wait for a slow client
	// (default 256). When it is exceeded the connection is closed with 1013
	// "send queue overflow": events are never dropped silently.
	SendQueue int

	// Observer, if set, is told of connections opening and ending and of
	// subscriptions starting and ending: for metrics and session logs.
	Observer Observer

	// ErrorLog receives panics and unexpected failures (default
	// slog.Default()); normal disconnections are logged at debug level.
	ErrorLog *slog.Logger

	once         sync.Once
	upgrader     websocket.Upgrader
	initTimeout  time.Duration
	pingInterval time.Duration
	writeTimeout time.Duration
	maxMessage   int64
	sendQueue    int
	log          *slog.Logger

	mu         sync.Mutex
	closed     bool
	conns      map[*conn]struct{}
	tickerStop chan struct{}
	watchStop  chan struct{}
	writeTick  atomic.Int64  // periods of the write watchdog so far
	idle       chan struct{} // closed when the last connection is gone after Close

	gmu    sync.Mutex
	groups map[groupID]*group
}

var _ graphql.Transport = (*Transport)(nil)

// writeBufferPool is shared by the connections of every Transport: all of
// them use the same write buffer size, as gorilla/websocket requires.
var writeBufferPool sync.Pool

// Observer is told what happens on a Transport's connections. Its methods
// must not block.
type Observer interface {
	// Opened is called when a connection is upgraded.
	Opened()
	// Ended is called once when a connection has ended, after CloseFunc,
	// with the same context.
	Ended(ctx context.Context, s Session)
	// SubscriptionsChanged is called with +1 when a subscription starts
	// running and -n when n of them end.
	SubscriptionsChanged(delta int)
	// Shared is called with the context of a subscription that joined
	// the run of equal ones already going (see GroupKey), and Refused with
	// that of an operation OperationFunc refused with a *CloseError (the
	// connection closes instead of answering it): neither reaches the
	// executor, so the executor's extensions never see them. Every other
	// operation, refused ones included, goes through the executor
	// (CreateOperationContext, then DispatchOperation or DispatchError)
	// exactly once.
	Shared(ctx context.Context)
	Refused(ctx context.Context)
}

// Session describes a connection that ended.
type Session struct {
	// Code and Reason are how it closed: sent by the server, or by the
	// client, or 1006 when the connection broke.
	Code   int
	Reason string
	// Duration is how long it was open.
	Duration time.Duration
	// Operations counts the subscribe (or legacy start) messages received.
	Operations int
	// Acknowledged reports whether connection_init was accepted.
	Acknowledged bool
	// Protocol is the subprotocol spoken.
	Protocol string
}

// CloseError is a WebSocket close code and reason. Return it (or wrap it)
// from InitFunc, or set it as the cause of InitFunc's context, to choose how
// the connection is closed.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket close %d %q", e.Code, e.Reason)
}

func (t *Transport) setup() {
	t.initTimeout = durationOr(t.InitTimeout, DefaultInitTimeout)
	t.pingInterval = durationOr(t.PingInterval, DefaultPingInterval)
	t.writeTimeout = durationOr(t.WriteTimeout, DefaultWriteTimeout)
	if t.writeTimeout < 0 {
		t.writeTimeout = DefaultWriteTimeout
	}
	t.maxMessage = t.MaxMessageSize
	if t.maxMessage <= 0 {
		t.maxMessage = DefaultMaxMessageSize
	}
	t.sendQueue = t.SendQueue
	if t.sendQueue <= 0 {
		t.sendQueue = DefaultSendQueue
	}
	t.log = t.ErrorLog
	if t.log == nil {
		t.log = slog.Default()
	}
	t.upgrader = websocket.Upgrader{
		HandshakeTimeout: t.writeTimeout,
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  bufferSize,
		WriteBufferPool:  &writeBufferPool,
		Subprotocols:     []string{SubprotocolTransportWS, SubprotocolLegacy},
		CheckOrigin:      t.CheckOrigin, // nil: gorilla's same-origin check
	}
}

func durationOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Supports reports whether r is a WebSocket upgrade request.
func (t *Transport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && websocket.IsWebSocketUpgrade(r)
}

// Do upgrades the request and returns at once; the connection is served by
// its own reader and writer goroutines.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	t.once.Do(t.setup)
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	ws, err := t.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has already answered with an HTTP error.
		t.log.Debug("wstransport: upgrade failed", "err", err, "remote", r.RemoteAddr)
		return
	}
	c := newConn(t, ws, r, exec)
	if t.Observer != nil {
		t.Observer.Opened()
	}
	closed = t.register(c)
	go c.readLoop()
	switch {
	case c.proto == protoNone:
		c.close(4406, "Subprotocol not acceptable", closeSend)
	case closed:
		c.close(websocket.CloseServiceRestart, "Service Restart", closeSend)
	}
}

// Close closes every open connection with 1012 "Service Restart" and refuses new
// ones with HTTP 503. It does not wait; see Shutdown. Its signature fits
// http.Server.RegisterOnShutdown.
func (t *Transport) Close() {
	t.mu.Lock()
	t.closed = true
	conns := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.CloseServiceRestart, "Service Restart", closeSend)
	}
}

// Shutdown calls Close and waits until every connection has ended (and its
// CloseFunc has returned) or ctx is done.
func (t *Transport) Shutdown(ctx context.Context) error {
	t.Close()
	t.mu.Lock()
	if len(t.conns) == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wstransport: shutdown: %w", ctx.Err())
	}
}

// register adds c to the open connections, starting the ping ticker with the
// first one. It reports whether the Transport is closed.
func (t *Transport) register(c *conn) (closed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns == nil {
		t.conns = make(map[*conn]struct{})
	}
	t.conns[c] = struct{}{}
	if t.tickerStop == nil && t.pingInterval > 0 && !t.closed {
		t.tickerStop = make(chan struct{})
		go t.tick(t.tickerStop)
	}
	if t.watchStop == nil && !t.closed {
		t.watchStop = make(chan struct{})
		go t.watchWrites(t.watchStop)
	}
	return t.closed
}

// unregister removes c; the ticker stops with the last connection.
func (t *Transport) unregister(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
	if len(t.conns) > 0 {
		return
	}
	if t.tickerStop != nil {
		close(t.tickerStop)
		t.tickerStop = nil
	}
	if t.watchStop != nil {
		close(t.watchStop)
		t.watchStop = nil
	}
	if t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// tick asks every connection's writer to send a ping each interval.
func (t *Transport) tick(stop <-chan struct{}) {
	tk := time.NewTicker(t.pingInterval)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			t.mu.Lock()
			for c := range t.conns {
				c.pingDue.Store(true)
				c.signal()
			}
			t.mu.Unlock()
		}
	}
}

// watchdogPeriods is how many periods of the write watchdog make the write
// timeout: a write is timed out between 1 and 1+1/watchdogPeriods times
// WriteTimeout after it began.
const watchdogPeriods = 4

// watchWrites times out the writes of every connection that have gone on
// for WriteTimeout. One watchdog for all connections replaces a deadline set
// on each socket before each message, which is a timer update under a lock:
// a cost paid at every delivery of a fan-out to thousands of sockets, for
// the rare client that stops reading.
func (t *Transport) watchWrites(stop <-chan struct{}) {
	tk := time.NewTicker(max(t.writeTimeout/watchdogPeriods, time.Millisecond))
	defer tk.Stop()
	var late []*conn
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			now := t.writeTick.Add(1)
			late = late[:0]
			t.mu.Lock()
			for c := range t.conns {
				if c.writeLate(now) {
					late = append(late, c)
				}
			}
			t.mu.Unlock()
			for _, c := range late {
				// Wakes the write up with a timeout error; the writer then
				// tears the connection down.
				_ = c.ws.UnderlyingConn().SetWriteDeadline(time.Unix(1, 0))
			}
			clear(late)
		}
	}
}

// closeCause returns the close code and reason for an ended InitFunc context.
func closeCause(ctx context.Context) (int, string) {
	var ce *CloseError
	if errors.As(context.Cause(ctx), &ce) {
		return ce.Code, ce.Reason
	}
	return 4403, "Forbidden"
}

func (t *Transport) subscriptionsChanged(delta int) {
	if t.Observer != nil {
		t.Observer.SubscriptionsChanged(delta)
	}
}
