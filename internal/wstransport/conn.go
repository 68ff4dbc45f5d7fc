package wstransport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/internal/apierr"
)

// closeMode says what a closing connection writes before dropping the TCP
// connection.
type closeMode uint8

const (
	closeSilent closeMode = iota // peer closed or the connection broke: write nothing
	closeSend                    // write the close frame, dropping queued messages
	closeFlush                   // write the queued messages, then the close frame
)

// conn is one WebSocket connection.
//
// Every idle connection keeps one: its fields are ordered so that it
// packs into as few bytes as it can.
type conn struct {
	t      *Transport
	ws     *websocket.Conn
	exec   graphql.GraphExecutor
	base   context.Context // the upgrade request's values, without its cancellation
	opened time.Time
	opsRun atomic.Int64 // operations received, for the session's log
	proto  protocol

	// Owned by the reader goroutine; read by the writer only after the
	// reader has ended (readerEnded).
	initReceived bool
	acked        bool
	ctx          context.Context // InitFunc's context
	stopWatch    func() bool     // unregisters the InitFunc context watch
	handling     sync.WaitGroup  // the reader waits on it for each message handled

	// writeSince is 0 while no write is going on, 1 + the watchdog's
	// period in which the current write began, or -1 once the watchdog
	// has timed a write out (the connection then fails every write).
	writeSince  atomic.Int64
	legacyAcked atomic.Bool // the writer sends ka once set
	pingDue     atomic.Bool
	closed      atomic.Bool // set once the connection starts closing, after mode

	mu      sync.Mutex
	writing bool // a writer goroutine runs
	// pprof holds the profiler labels of the upgrade request (nil when it
	// has none), which the connection's writers and teardown carry as the
	// goroutines of its handler would.
	pprof   context.Context
	closing bool
	mode    closeMode
	// readerEnded is set when the reader has ended; readerDone, made by
	// a teardown that waits for it, is closed then.
	readerEnded bool
	readerDone  chan struct{}
	code        int
	reason      string
	queue       []outMsg
	spare       []outMsg // a small queue the writer is done with, for reuse
	// The running operations, fully set up: the first in op, any others
	// in more (an idle connection usually runs one subscription).
	op   *operation
	more map[string]*operation
	subs int // how many of them are subscriptions
}

// outMsg is a message waiting for the writer.
type outMsg struct {
	op   *operation // if set and stopped by the client, the message is dropped
	body []byte
	next bool // body is a result payload to frame with op.prefix
}

// operation is one subscribe (or legacy start) of a connection. Its cancel
// and group fields are set before it is added to conn.ops and never change.
type operation struct {
	c  *conn
	id string
	// prefix is the start of its result frames when id needs escaping
	// in JSON (see appendPrefix).
	prefix   []byte
	cancel   context.CancelFunc // its own run; nil for group members
	group    *group             // shared run, if any
	gidx     int                // index in group.members, guarded by group.mu
	stopped  atomic.Bool        // the client completed it, or the connection ended
	finished bool               // guarded by conn.mu: the server ended it
	// subscription is set before the operation is tracked and never
	// changes.
	subscription bool
}

func newConn(t *Transport, ws *websocket.Conn, r *http.Request, exec graphql.GraphExecutor) *conn {
	c := &conn{
		t:      t,
		ws:     ws,
		exec:   exec,
		base:   context.WithoutCancel(r.Context()),
		opened: time.Now(),
		pprof:  profilerLabels(r.Context()),
	}
	switch ws.Subprotocol() {
	case SubprotocolTransportWS:
		c.proto = protoTransportWS
	case SubprotocolLegacy:
		c.proto = protoLegacy
	}
	return c
}

// signal starts the writer unless it runs: an idle connection has no
// writer goroutine, only its reader.
func (c *conn) signal() {
	c.mu.Lock()
	c.startWriterLocked()
	c.mu.Unlock()
}

// startWriterLocked starts the writer unless it runs; c.mu is held.
func (c *conn) startWriterLocked() {
	if !c.writing {
		c.writing = true
		writerPool.run(c)
	}
}

// close starts closing the connection; only the first call counts.
func (c *conn) close(code int, reason string, mode closeMode) {
	c.mu.Lock()
	c.closeLocked(code, reason, mode)
	c.mu.Unlock()
}

func (c *conn) closeLocked(code int, reason string, mode closeMode) {
	if c.closing {
		return
	}
	c.closing = true
	c.code, c.reason, c.mode = code, truncate(reason), mode
	if mode != closeFlush {
		c.queue = nil
	}
	c.closed.Store(true)
	c.startWriterLocked() // it tears the connection down
	// Stop the operations now, not after the close handshake (which may
	// wait for a slow client). A goroutine, because the caller may hold a
	// group's lock.
	go c.endOps()
}

// endOps stops every running operation of a closing connection.
func (c *conn) endOps() {
	c.mu.Lock()
	op, more, subs := c.op, c.more, c.subs
	c.op, c.more, c.subs = nil, nil, 0
	c.mu.Unlock()
	if subs > 0 {
		c.t.subscriptionsChanged(-subs)
	}
	if op != nil {
		op.end()
	}
	for _, op := range more {
		op.end()
	}
}

// opLocked returns the running operation id; c.mu is held.
func (c *conn) opLocked(id string) *operation {
	if c.op != nil && c.op.id == id {
		return c.op
	}
	return c.more[id]
}

// interrupted reports whether the writer must stop writing queued messages:
// the connection is closing and they are not to be flushed.
func (c *conn) interrupted() bool {
	return c.closed.Load() && c.mode != closeFlush // mode is written before closed
}

func (c *conn) isClosing() bool { return c.closed.Load() }

// enqueue hands a message to the writer. A full queue closes the connection
// with 1013; after closing, messages are discarded.
func (c *conn) enqueue(m outMsg) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if len(c.queue) >= c.t.sendQueue {
		c.closeLocked(websocket.CloseTryAgainLater, "send queue overflow", closeSend)
		c.mu.Unlock()
		return
	}
	if c.queue == nil {
		c.queue, c.spare = c.spare, nil
	}
	c.queue = append(c.queue, m)
	c.startWriterLocked()
	c.mu.Unlock()
}

func (c *conn) send(body []byte) { c.enqueue(outMsg{body: body}) }

// --- reader ---

func (c *conn) readLoop() {
	defer c.readerEnd()
	c.ws.SetReadLimit(c.t.maxMessage)
	if c.t.initTimeout > 0 {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.t.initTimeout))
	}
	c.ws.SetPongHandler(func(string) error { c.touch(); return nil })
	ping := c.ws.PingHandler()
	c.ws.SetPingHandler(func(data string) error { c.touch(); return ping(data) })

	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		c.touch()
		if c.isClosing() {
			continue // wait for the client's close frame
		}
		// Handled on a goroutine of its own, one message at a time, in
		// order: the deep stack an operation's start needs goes with it,
		// and an idle connection's reader keeps a small one.
		start := graphql.Now()
		c.handling.Add(1)
		go c.handleMessage(data, start)
		c.handling.Wait()
	}
}

// readerEnd records that the reader has ended.
func (c *conn) readerEnd() {
	c.mu.Lock()
	c.readerEnded = true
	if c.readerDone != nil {
		close(c.readerDone)
	}
	c.mu.Unlock()
}

// readerEnding returns a channel closed once the reader has ended.
func (c *conn) readerEnding() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readerDone == nil {
		c.readerDone = make(chan struct{})
		if c.readerEnded {
			close(c.readerDone)
		}
	}
	return c.readerDone
}

// handleMessage handles one message and then tells the reader. A panic
// closes the connection.
func (c *conn) handleMessage(data []byte, start time.Time) {
	defer c.handling.Done()
	defer func() {
		if r := recover(); r != nil {
			c.t.log.Error("wstransport: panic while handling a message", "panic", r)
			if c.proto == protoLegacy {
				c.close(websocket.CloseInternalServerErr, "Internal server error", closeSend)
			} else {
				c.close(4500, "Internal server error", closeSend)
			}
		}
	}()
	if c.proto == protoLegacy {
		c.handleLegacy(data, start)
	} else {
		c.handle(data, start)
	}
}

// touch pushes the read deadline back once the connection is acknowledged.
func (c *conn) touch() {
	if c.acked && c.t.pingInterval > 0 {
		_ = c.ws.SetReadDeadline(time.Now().Add(2 * c.t.pingInterval))
	}
}

func (c *conn) readFailed(err error) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		c.close(ce.Code, ce.Text, closeSilent) // gorilla has answered the close frame
	case errors.Is(err, websocket.ErrReadLimit):
		c.close(websocket.CloseMessageTooBig, "", closeSilent) // gorilla has sent 1009
	case errors.As(err, &ne) && ne.Timeout():
		if !c.acked {
			c.close(4408, "Connection initialisation timeout", closeSend)
		} else {
			c.close(websocket.CloseGoingAway, "Keepalive timeout", closeSend)
		}
	default:
		if !c.isClosing() {
			c.t.log.Debug("wstransport: read failed", "err", err)
		}
		c.close(websocket.CloseAbnormalClosure, "", closeSilent)
	}
}

// handle processes one graphql-transport-ws message.
func (c *conn) handle(data []byte, start time.Time) {
	var m inMessage
	if err := json.Unmarshal(data, &m); err != nil {
		c.close(4400, "Invalid message received", closeSend)
		return
	}
	switch m.Type {
	case msgConnectionInit:
		if !isObjectOrNull(m.Payload) {
			c.close(4400, "Invalid message received: connection_init payload must be an object", closeSend)
			return
		}
		c.init(m.Payload)
	case msgPing:
		if !isObjectOrNull(m.Payload) {
			c.close(4400, "Invalid message received: ping payload must be an object", closeSend)
			return
		}
		if len(m.Payload) > 0 && string(m.Payload) != "null" {
			c.send(message(msgPong, "", m.Payload))
		} else {
			c.send(message(msgPong, "", nil))
		}
	case msgPong:
		if !isObjectOrNull(m.Payload) {
			c.close(4400, "Invalid message received: pong payload must be an object", closeSend)
		}
	case msgSubscribe:
		if !c.acked {
			c.close(4401, "Unauthorized", closeSend)
			return
		}
		if m.ID == nil || *m.ID == "" {
			c.close(4400, "Invalid message received: subscribe requires an id", closeSend)
			return
		}
		params, err := parseSubscribe(m.Payload)
		if err != nil {
			c.close(4400, "Invalid message received: "+err.Error(), closeSend)
			return
		}
		id := *m.ID
		c.mu.Lock()
		busy := c.opLocked(id) != nil
		c.mu.Unlock()
		if busy {
			c.close(4409, "Subscriber for "+id+" already exists", closeSend)
			return
		}
		c.start(c.newOp(id), params, start)
	case msgComplete:
		if m.ID == nil || *m.ID == "" {
			c.close(4400, "Invalid message received: complete requires an id", closeSend)
			return
		}
		c.stopOp(*m.ID)
	default:
		c.close(4400, fmt.Sprintf("Unexpected message of type %q received", m.Type), closeSend)
	}
}

// handleLegacy processes one graphql-ws (subscriptions-transport-ws) message.
func (c *conn) handleLegacy(data []byte, start time.Time) {
	var m inMessage
	if err := json.Unmarshal(data, &m); err != nil {
		// The legacy protocol answers unparsable messages without closing.
		c.send(message(msgConnectionError, "", errorPayload("invalid message: "+err.Error())))
		return
	}
	id := ""
	if m.ID != nil {
		id = *m.ID
	}
	switch m.Type {
	case msgConnectionInit:
		if !isObjectOrNull(m.Payload) {
			c.send(message(msgConnectionError, "", errorPayload("connection_init payload must be an object")))
			c.close(4400, "Invalid message received", closeFlush)
			return
		}
		c.init(m.Payload)
	case msgStart:
		if !c.acked {
			c.close(4401, "Unauthorized", closeSend)
			return
		}
		if id == "" {
			c.send(message(msgConnectionError, "", errorPayload("start requires an id")))
			return
		}
		params, err := parseSubscribe(m.Payload)
		if err != nil {
			c.send(message(msgError, id, encodeErrors(gqlerror.List{{Message: "invalid start payload: " + err.Error()}})))
			return
		}
		c.stopOp(id) // a start with an id in use replaces that operation
		c.start(c.newOp(id), params, start)
	case msgStop:
		if c.stopOp(id) {
			c.send(message(msgComplete, id, nil))
		}
	case msgConnectionTerminate:
		c.close(websocket.CloseNormalClosure, "", closeSend)
	default:
		c.send(message(msgError, id, encodeErrors(gqlerror.List{{Message: fmt.Sprintf("unexpected message type %q", m.Type)}})))
	}
}

// init handles connection_init.
func (c *conn) init(raw json.RawMessage) {
	if c.initReceived {
		c.close(4429, "Too many initialisation requests", closeSend)
		return
	}
	c.initReceived = true
	var payload map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &payload); err != nil {
			c.close(4400, "Invalid message received", closeSend)
			return
		}
	}
	ctx := c.base
	var ack map[string]any
	if f := c.t.InitFunc; f != nil {
		nctx, a, err := f(context.WithValue(ctx, connKey{}, c), payload)
		if err != nil {
			code, reason := 4403, "Forbidden"
			var ce *CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Reason
			}
			if !validCloseCode(code) {
				code = 4403
			}
			mode := closeSend
			if c.proto == protoLegacy {
				c.send(message(msgConnectionError, "", errorPayload(reason)))
				mode = closeFlush
			}
			c.close(code, reason, mode)
			return
		}
		if nctx != nil {
			ctx = nctx
		}
		ack = a
	}
	var ackPayload []byte
	if ack != nil {
		var err error
		if ackPayload, err = json.Marshal(ack); err != nil {
			c.t.log.Error("wstransport: encoding the connection_ack payload", "err", err)
			c.close(4500, "Internal server error", closeSend)
			return
		}
	}
	c.ctx = ctx
	c.base = nil // what the operations keep of the upgrade request is in ctx
	if ctx.Done() != nil {
		c.stopWatch = context.AfterFunc(ctx, func() { c.closeIfEnded() })
	}
	c.acked = true
	c.touch()
	c.send(message(msgConnectionAck, "", ackPayload))
	if c.proto == protoLegacy {
		c.send(message(msgKeepAlive, "", nil))
		c.legacyAcked.Store(true)
	}
}

func (c *conn) newOp(id string) *operation {
	op := &operation{c: c, id: id, gidx: -1}
	if needsEscape(id) {
		op.prefix = nextPrefix(c.proto, id)
	}
	return op
}

// track adds a started operation to the running ones, unless it has already
// finished or the connection is closing (then it is stopped at once).
func (c *conn) track(op *operation) {
	c.mu.Lock()
	closing := c.closing
	if !closing && !op.finished {
		switch {
		case c.op == nil:
			c.op = op
		case c.more == nil:
			c.more = map[string]*operation{op.id: op}
		default:
			c.more[op.id] = op
		}
		if op.subscription {
			c.subs++
			c.t.subscriptionsChanged(1)
		}
	}
	c.mu.Unlock()
	if closing {
		op.end()
	}
}

// start prepares an operation and runs it, alone or in a shared group.
func (c *conn) start(op *operation, params *graphql.RawParams, start time.Time) {
	c.opsRun.Add(1)
	ctx := graphql.StartOperationTrace(c.ctx)
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		c.finish(op, resp.Errors)
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	op.subscription = rc.Operation != nil && rc.Operation.Operation == ast.Subscription
	if op.subscription && c.t.MaxSubscriptions > 0 && c.subscriptions() >= c.t.MaxSubscriptions {
		c.fail(op, ctx, apierr.New(apierr.TooManySubscriptions,
			"too many subscriptions: this connection already runs %d, the most allowed; complete one before subscribing again", c.t.MaxSubscriptions).GraphQL())
		return
	}
	if f := c.t.OperationFunc; f != nil {
		nctx, err := f(ctx)
		var ce *CloseError
		switch {
		case errors.As(err, &ce):
			code := ce.Code
			if !validCloseCode(code) {
				code = 4403
			}
			if c.t.Observer != nil {
				c.t.Observer.Refused(ctx)
			}
			c.close(code, ce.Reason, closeSend)
			return
		case err != nil:
			c.fail(op, ctx, &gqlerror.Error{Message: err.Error(), Err: err})
			return
		}
		if nctx != nil {
			ctx = nctx
		}
	}
	if c.t.GroupKey != nil && op.subscription {
		if key := c.t.GroupKey(ctx); key != "" {
			if ok, shared := c.t.join(op, ctx, rc, key, c.exec); ok {
				c.track(op)
				if shared && c.t.Observer != nil {
					c.t.Observer.Shared(ctx)
				}
				return
			}
		}
	}
	ctx, op.cancel = context.WithCancel(ctx)
	c.track(op)
	go c.run(op, ctx, rc)
}

// fail ends an operation that cannot run with err, presented by the
// executor like the errors of a run.
func (c *conn) fail(op *operation, ctx context.Context, err *gqlerror.Error) {
	resp := c.exec.DispatchError(ctx, gqlerror.List{err})
	c.finish(op, resp.Errors)
}

// subscriptions counts the connection's running subscriptions.
func (c *conn) subscriptions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs
}

// run executes an operation of its own.
func (c *conn) run(op *operation, ctx context.Context, rc *graphql.OperationContext) {
	defer op.cancel()
	errs := execute(ctx, c.exec, rc, c.t, func(payload []byte) {
		if !c.closeIfEnded() {
			c.enqueue(outMsg{op: op, body: payload, next: true})
		}
	})
	c.finish(op, errs)
}

// finish ends an operation from the server side: error if errs is not empty,
// else complete; nothing if the client has completed it.
func (c *conn) finish(op *operation, errs gqlerror.List) {
	var body []byte
	if len(errs) > 0 {
		body = message(msgError, op.id, encodeErrors(errs))
	} else {
		body = message(msgComplete, op.id, nil)
	}
	c.mu.Lock()
	op.finished = true
	c.untrack(op)
	c.mu.Unlock()
	// An operation cut short by the end of the connection's context (the
	// viewer's authority shrank) is answered by the close, never by the
	// error its cancellation caused: close now rather than race the
	// close the context's end schedules.
	if !op.stopped.Load() && !c.closeIfEnded() {
		c.enqueue(outMsg{op: op, body: body})
	}
}

type connKey struct{}

// Handle is a connection as InitFunc sees it, to close it later.
type Handle struct{ c *conn }

// HandleFrom returns the connection whose InitFunc was called with ctx (or
// a context derived from it); its zero value when there is none.
func HandleFrom(ctx context.Context) Handle {
	c, _ := ctx.Value(connKey{}).(*conn)
	return Handle{c}
}

// Close closes the connection with code and reason (4403 when code is not
// one a server may send), as the end of InitFunc's context would: at once,
// stopping its operations. It does nothing on the zero Handle or a
// connection already closing.
func (h Handle) Close(code int, reason string) {
	if h.c == nil {
		return
	}
	if !validCloseCode(code) {
		code = 4403
	}
	h.c.close(code, reason, closeSend)
}

// closeIfEnded closes the connection with the code its context's cause
// names (4403 by default) once that context has ended, and reports whether
// it has.
func (c *conn) closeIfEnded() bool {
	if c.ctx == nil || c.ctx.Err() == nil {
		return false
	}
	code, reason := closeCause(c.ctx)
	if !validCloseCode(code) {
		code = 4403
	}
	c.close(code, reason, closeSend)
	return true
}

// untrack removes op from the running operations; c.mu is held.
func (c *conn) untrack(op *operation) {
	switch {
	case c.op == op:
		c.op = nil
	case c.more[op.id] == op:
		delete(c.more, op.id)
	default:
		return
	}
	if op.subscription {
		c.subs--
		c.t.subscriptionsChanged(-1)
	}
}

// stopOp handles the client's complete (or legacy stop): nothing more is
// written for operation id. It reports whether id was active.
func (c *conn) stopOp(id string) bool {
	c.mu.Lock()
	op := c.opLocked(id)
	if op != nil {
		c.untrack(op)
	}
	c.mu.Unlock()
	if op == nil {
		return false
	}
	op.end()
	return true
}

// end marks the operation stopped and releases its run.
func (op *operation) end() {
	op.stopped.Store(true)
	if op.group != nil {
		op.c.t.leave(op)
	} else if op.cancel != nil {
		op.cancel()
	}
}

// execute runs an operation to its end, calling emit with each encoded
// result. A panic ends the operation with an error.
func execute(ctx context.Context, exec graphql.GraphExecutor, rc *graphql.OperationContext, t *Transport, emit func([]byte)) (errs gqlerror.List) {
	defer func() {
		if r := recover(); r != nil {
			errs = gqlerror.List{recovered(ctx, rc, t, r)}
		}
	}()
	responses, ctx := exec.DispatchOperation(ctx, rc)
	for {
		resp := responses(ctx)
		if resp == nil {
			return nil
		}
		emit(encodeResponse(resp))
	}
}

// recovered turns a panic value into the error sent to the client, through
// the executor's recover function when there is one.
func recovered(ctx context.Context, rc *graphql.OperationContext, t *Transport, r any) *gqlerror.Error {
	var err error
	if rc != nil && rc.RecoverFunc != nil {
		err = rc.Recover(ctx, r)
	} else {
		t.log.Error("wstransport: panic in an operation", "panic", r)
		err = gqlerror.Errorf("internal system error")
	}
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) {
		return gqlErr
	}
	if err == nil {
		return &gqlerror.Error{Message: "internal system error"}
	}
	return &gqlerror.Error{Message: err.Error()}
}

// --- writer ---

// drain writes what is queued. It returns false once the queue is empty,
// the writer then ended (writing is false), or true when the connection
// is closing: the writer still runs, and the caller tears the connection
// down.
func (c *conn) drain() (closing bool) {
	for {
		if c.isClosing() {
			return true
		}
		if c.pingDue.Swap(false) {
			if err := c.ping(); err != nil {
				c.writeFailed(err)
				continue
			}
		}
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 && !c.pingDue.Load() && !c.closing {
			c.writing = false
			c.mu.Unlock()
			return false
		}
		c.mu.Unlock()
		for i := range batch {
			if c.interrupted() {
				break
			}
			if err := c.write(&batch[i]); err != nil {
				c.writeFailed(err)
				break
			}
		}
		clear(batch)
		if cap(batch) <= 4 { // do not keep a burst's memory on an idle connection
			c.mu.Lock()
			c.spare = batch[:0]
			c.mu.Unlock()
		}
	}
}

func (c *conn) writeFailed(err error) {
	if !c.isClosing() {
		c.t.log.Debug("wstransport: write failed", "err", err)
	}
	c.close(websocket.CloseAbnormalClosure, "", closeSilent)
}

func (c *conn) ping() error {
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.t.writeTimeout)); err != nil {
		return fmt.Errorf("writing ping: %w", err)
	}
	if c.legacyAcked.Load() {
		return c.write(&outMsg{body: []byte(`{"type":"ka"}`)})
	}
	return nil
}

// The start of a result frame, around an id that needs no escaping.
const (
	prefixHead       = `{"id":"`
	prefixTailNext   = `","type":"next","payload":`
	prefixTailLegacy = `","type":"data","payload":`
)

// needsEscape reports whether id is written differently in JSON (as
// json.Marshal writes it) than as it is between quotes.
func needsEscape(id string) bool {
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b < 0x20, b > 0x7e, b == '"', b == '\\', b == '<', b == '>', b == '&':
			return true
		}
	}
	return false
}

func (op *operation) prefixTail() string {
	if op.c.proto == protoLegacy {
		return prefixTailLegacy
	}
	return prefixTailNext
}

// appendPrefix appends the start of op's result frames to b.
func (op *operation) appendPrefix(b []byte) []byte {
	if op.prefix != nil {
		return append(b, op.prefix...)
	}
	return append(append(append(b, prefixHead...), op.id...), op.prefixTail()...)
}

// framePool holds buffers for assembling result frames.
var framePool = sync.Pool{New: func() any { return new([]byte) }}

func (c *conn) write(m *outMsg) error {
	if m.op != nil && m.op.stopped.Load() {
		return nil
	}
	if !c.writeSince.CompareAndSwap(0, c.t.writeTick.Load()+1) {
		return errWriteTimeout
	}
	err := c.writeFrame(m)
	if c.endWrite() {
		return errWriteTimeout
	}
	return err
}

// writeFrame writes m as one message; write bounds it in time.
func (c *conn) writeFrame(m *outMsg) error {
	body := m.body
	if m.next {
		// The result frame, assembled in a kept buffer: gorilla's
		// WriteMessage writes one frame, and, unlike NextWriter, allocates
		// no writer for it.
		bp := framePool.Get().(*[]byte)
		b := append(append(m.op.appendPrefix((*bp)[:0]), m.body...), '}')
		defer func() {
			if cap(b) <= 1<<20 {
				*bp = b[:0]
				framePool.Put(bp)
			}
		}()
		body = b
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, body); err != nil {
		return fmt.Errorf("writing message: %w", err)
	}
	return nil
}

// errWriteTimeout fails the writes of a connection whose write went on for
// the transport's WriteTimeout.
var errWriteTimeout = errors.New("writing message: timed out")

// endWrite ends the write that began in write, and reports whether the
// watchdog timed it out.
func (c *conn) endWrite() (timedOut bool) {
	for {
		s := c.writeSince.Load()
		if s == -1 {
			return true
		}
		if c.writeSince.CompareAndSwap(s, 0) {
			return false
		}
	}
}

// writeLate is the watchdog's check in its period now: it reports whether a
// write that began WriteTimeout ago or earlier is still going on (or was
// timed out before and may still be blocked), marking it timed out.
func (c *conn) writeLate(now int64) bool {
	s := c.writeSince.Load()
	switch {
	case s == -1:
		return true
	case s > 0 && now-(s-1) > watchdogPeriods:
		return c.writeSince.CompareAndSwap(s, -1)
	}
	return false
}

// teardown closes the socket, stops every operation and calls CloseFunc. It
// runs once, on the writer goroutine.
func (c *conn) teardown() {
	c.mu.Lock()
	code, reason, mode := c.code, c.reason, c.mode
	pending := c.queue
	c.queue = nil
	c.mu.Unlock()

	if mode == closeFlush {
		for i := range pending {
			if err := c.write(&pending[i]); err != nil {
				mode = closeSilent
				break
			}
		}
	}
	readerDone := c.readerEnding()
	if mode != closeSilent && validCloseCode(code) {
		// Fails harmlessly if the close frame was already sent.
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(c.t.writeTimeout))
		// Let the client answer with its close frame before dropping TCP.
		timer := time.NewTimer(closeGrace)
		select {
		case <-readerDone:
		case <-timer.C:
		}
		timer.Stop()
	}
	_ = c.ws.Close()
	<-readerDone
	if c.stopWatch != nil {
		c.stopWatch()
	}

	ctx := c.ctx
	if ctx == nil {
		ctx = c.base
	}
	if f := c.t.CloseFunc; f != nil {
		func() {
			defer func() {
				if r := recover(); r != nil {
					c.t.log.Error("wstransport: panic in CloseFunc", "panic", r)
				}
			}()
			f(ctx, code)
		}()
	}
	if o := c.t.Observer; o != nil {
		o.Ended(ctx, Session{
			Code: code, Reason: reason, Duration: time.Since(c.opened),
			Operations: int(c.opsRun.Load()), Acknowledged: c.acked, Protocol: c.ws.Subprotocol(),
		})
	}
	c.t.unregister(c)
}

// labels returns a context with the profiler labels of the connection.
func (c *conn) labels() context.Context {
	if c.pprof == nil {
		return context.Background()
	}
	return c.pprof
}

// profilerLabels returns a context holding only the profiler labels of
// ctx, or nil when it has none.
func profilerLabels(ctx context.Context) context.Context {
	var kv []string
	pprof.ForLabels(ctx, func(k, v string) bool {
		kv = append(kv, k, v)
		return true
	})
	if len(kv) == 0 {
		return nil
	}
	return pprof.WithLabels(context.Background(), pprof.Labels(kv...))
}
