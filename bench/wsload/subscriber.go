package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// subscriptionID is the graphql-transport-ws operation ID every
// subscriber uses for its one subscription.
const subscriptionID = "1"

// statusSubscription is the document every subscriber sends. All use the
// same text and the same viewer's organization, so roster can serve them
// from one execution.
const statusSubscription = `subscription { userStatusChanged { user { id } availability online version at } }`

// The messages a subscriber sends.
var (
	subscribeMessage = []byte(`{"id":"` + subscriptionID + `","type":"subscribe","payload":{"query":"` + statusSubscription + `"}}`)
	pingMessage      = []byte(`{"type":"ping"}`)
	pongMessage      = []byte(`{"type":"pong"}`)
)

// setupTimeout bounds the steps of opening one connection: the dial and
// upgrade, the connection_ack and the pong that follows the subscribe.
// Generous: with many connections opening at once, each waits its turn
// for roster's database work.
const setupTimeout = 2 * time.Minute

// dialAttempts is how often a connection is tried when dialing fails in a
// way that may pass (refused, reset, timed out).
const dialAttempts = 5

// delivery is one event a subscriber received about the user whose
// availability changes: the version it carried and when it arrived.
type delivery struct {
	version int32
	at      time.Duration // since fleet.base
}

// subscriber is one subscribed websocket connection.
type subscriber struct {
	conn *websocket.Conn
	// init is the connection_init message it sends.
	init []byte
	// got is owned by the connection's reader until the reader has
	// ended, and preallocated for the expected events.
	got []delivery
	// others counts next messages about other users (the admin coming
	// online, for one).
	others int
	// failure is set when the server ended the subscription or the
	// connection broke, with when.
	failure   string
	failureAt time.Duration
	// setup is how long opening and subscribing took.
	setup time.Duration
}

// fleet is the set of subscribers and what they share.
type fleet struct {
	base   time.Time
	dialer websocket.Dialer
	wsURL  string
	// initMsgs are the connection_init messages, one per subscribing
	// user: connection i sends initMsgs[i % len(initMsgs)].
	initMsgs [][]byte
	// needle is how a next message about the watched user starts its
	// event: `"user":{"id":"<ID>"}`.
	needle []byte
	// counts[v-baseVersion] counts the deliveries of version v, for
	// waiting until an event has reached everyone.
	baseVersion int
	counts      []atomic.Int32
	// gotCap is the capacity each subscriber's deliveries start with.
	gotCap int

	subs    []*subscriber
	readers sync.WaitGroup
	// closing is set once the run is over, after which a broken
	// connection is no failure.
	closing     atomic.Bool
	dialRetries atomic.Int64
	bufs        sync.Pool
}

func newFleet(base time.Time, httpURL string, tokens []string, userID string, baseVersion, slots, gotCap int) *fleet {
	f := &fleet{
		base: base,
		dialer: websocket.Dialer{
			Subprotocols:     []string{"graphql-transport-ws"},
			HandshakeTimeout: setupTimeout,
			ReadBufferSize:   1024,
			WriteBufferSize:  1024,
			// Subscribers write only while subscribing: share the
			// write buffers instead of keeping one per connection.
			WriteBufferPool: &sync.Pool{},
		},
		wsURL:       "ws" + strings.TrimPrefix(httpURL, "http") + "/graphql",
		needle:      []byte(`"user":{"id":"` + userID + `"}`),
		baseVersion: baseVersion,
		counts:      make([]atomic.Int32, slots),
		gotCap:      gotCap,
	}
	for _, token := range tokens {
		f.initMsgs = append(f.initMsgs, []byte(`{"type":"connection_init","payload":{"authorization":"Bearer `+token+`"}}`))
	}
	f.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return f
}

// now returns the time since f.base.
func (f *fleet) now() time.Duration { return time.Since(f.base) }

// delivered returns how many deliveries of version v were counted.
func (f *fleet) delivered(v int) int {
	i := v - f.baseVersion
	if i < 0 || i >= len(f.counts) {
		return -1
	}
	return int(f.counts[i].Load())
}

// open opens n subscribed connections, at most concurrency at a time,
// and starts their readers. It returns on the first connection that
// could not be opened, with those opened so far in f.subs.
func (f *fleet) open(ctx context.Context, n, concurrency int, progress func(string, ...any)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	subs := make([]*subscriber, n)
	next := make(chan int)
	var done atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range min(concurrency, n) {
		wg.Go(func() {
			for i := range next {
				s := &subscriber{got: make([]delivery, 0, f.gotCap), init: f.initMsgs[i%len(f.initMsgs)]}
				began := time.Now()
				if err := f.subscribe(ctx, s); err != nil {
					cancel(fmt.Errorf("connection %d of %d: %w", i+1, n, err))
					continue
				}
				s.setup = time.Since(began)
				subs[i] = s
				f.readers.Add(1)
				go f.read(s)
				if d := done.Add(1); d%5000 == 0 && int(d) < n {
					progress("%d of %d connections subscribed after %.0f s", d, n, time.Since(start).Seconds())
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, s := range subs {
		if s != nil {
			f.subs = append(f.subs, s)
		}
	}
	return context.Cause(ctx)
}

// subscribe opens one connection: dial and upgrade (retrying failures
// that may pass), connection_init with the token until connection_ack,
// then the subscription followed by a ping. The server handles a
// connection's messages in order, so its pong means the subscription is
// registered.
func (f *fleet) subscribe(ctx context.Context, s *subscriber) error {
	var conn *websocket.Conn
	for attempt := 1; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, setupTimeout)
		c, resp, err := f.dialer.DialContext(dctx, f.wsURL, nil)
		cancel()
		if err == nil {
			conn = c
			break
		}
		if resp != nil {
			return fmt.Errorf("upgrade refused: %s", resp.Status)
		}
		if attempt == dialAttempts || !transient(err) || ctx.Err() != nil {
			return fmt.Errorf("dial (attempt %d): %w", attempt, err)
		}
		f.dialRetries.Add(1)
		select {
		case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	s.conn = conn
	fail := func(stage string, err error) error {
		conn.Close()
		return fmt.Errorf("%s: %w", stage, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(setupTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, s.init); err != nil {
		return fail("send connection_init", err)
	}
	_, msg, err := conn.ReadMessage()
	if err != nil {
		return fail("wait for connection_ack", err)
	}
	if !bytes.Contains(msg, []byte(`"type":"connection_ack"`)) {
		return fail("wait for connection_ack", fmt.Errorf("got %.200s", msg))
	}
	if err := conn.WriteMessage(websocket.TextMessage, subscribeMessage); err != nil {
		return fail("send subscribe", err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, pingMessage); err != nil {
		return fail("send ping", err)
	}
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return fail("wait for the pong after subscribe", err)
		}
		kind := f.handle(s, msg, f.now())
		if kind == framePong {
			break
		}
		if kind == frameEnd || kind == frameUnknown {
			return fail("wait for the pong after subscribe", fmt.Errorf("got %.300s", msg))
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	return nil
}

// transient reports whether a dial error may pass on a second try.
func transient(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EADDRNOTAVAIL) || errors.As(err, &ne) && ne.Timeout()
}

// read reads s's messages until the connection ends. Each message is read
// into a buffer borrowed from a shared pool only once it has started to
// arrive, so an idle connection holds no buffer of its own besides
// gorilla's 1 KiB read buffer.
func (f *fleet) read(s *subscriber) {
	defer f.readers.Done()
	for {
		_, r, err := s.conn.NextReader()
		if err != nil {
			if !f.closing.Load() {
				s.failure, s.failureAt = "connection ended: "+err.Error(), f.now()
			}
			return
		}
		at := f.now()
		bp := f.bufs.Get().(*[]byte)
		msg, err := readInto((*bp)[:0], r)
		if err != nil {
			if !f.closing.Load() {
				s.failure, s.failureAt = "read: "+err.Error(), f.now()
			}
			return
		}
		kind := f.handle(s, msg, at)
		if cap(msg) <= 64<<10 {
			*bp = msg[:0]
			f.bufs.Put(bp)
		}
		switch kind {
		case framePing:
			if err := s.conn.WriteMessage(websocket.TextMessage, pongMessage); err != nil && !f.closing.Load() {
				s.failure, s.failureAt = "send pong: "+err.Error(), f.now()
				return
			}
		case frameEnd, frameUnknown:
			if s.failure == "" && !f.closing.Load() {
				s.failure, s.failureAt = fmt.Sprintf("unexpected message: %.300s", msg), at
			}
		}
	}
}

// readInto appends everything r holds to b.
func readInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// handle records one message received at at and returns its kind.
func (f *fleet) handle(s *subscriber, msg []byte, at time.Duration) frameKind {
	kind, version := classifyFrame(msg, f.needle)
	switch kind {
	case frameEvent:
		s.got = append(s.got, delivery{version: int32(version), at: at})
		if i := version - f.baseVersion; i >= 0 && i < len(f.counts) {
			f.counts[i].Add(1)
		}
	case frameOther:
		s.others++
	}
	return kind
}

// frameKind is what a message from the server is, for a subscriber.
type frameKind uint8

const (
	frameUnknown frameKind = iota
	frameEvent             // next: an event about the watched user
	frameOther             // next: an event about another user
	framePong
	framePing
	frameAck
	frameEnd // error or complete: the subscription is over
)

var (
	nextPrefix = []byte(`{"id":"` + subscriptionID + `","type":"next","payload":`)
	versionKey = []byte(`"version":`)
)

// classifyFrame tells what msg is without decoding it: roster writes a next
// message as {"id":…,"type":"next","payload":{"data":…}}, with the fields
// of the event in the order of the subscription document, so the user's ID
// (needle) and the version following it are found by scanning. For an
// event about the watched user it also returns the version, or -1 when
// none could be read.
func classifyFrame(msg, needle []byte) (frameKind, int) {
	if bytes.HasPrefix(msg, nextPrefix) {
		rest := msg[len(nextPrefix):]
		i := bytes.Index(rest, needle)
		if i < 0 {
			return frameOther, 0
		}
		rest = rest[i+len(needle):]
		j := bytes.Index(rest, versionKey)
		if j < 0 {
			return frameEvent, -1
		}
		rest = rest[j+len(versionKey):]
		v, digits := 0, 0
		for _, c := range rest {
			if c < '0' || c > '9' || digits > 9 {
				break
			}
			v = v*10 + int(c-'0')
			digits++
		}
		if digits == 0 || digits > 9 {
			return frameEvent, -1
		}
		return frameEvent, v
	}
	switch {
	case bytes.Contains(msg, []byte(`"type":"pong"`)):
		return framePong, 0
	case bytes.Contains(msg, []byte(`"type":"ping"`)):
		return framePing, 0
	case bytes.Contains(msg, []byte(`"type":"connection_ack"`)):
		return frameAck, 0
	case bytes.Contains(msg, []byte(`"type":"error"`)), bytes.Contains(msg, []byte(`"type":"complete"`)),
		bytes.Contains(msg, []byte(`"type":"next"`)): // a next for another operation ID
		return frameEnd, 0
	}
	return frameUnknown, 0
}

// closeAll closes every connection without a close handshake.
func (f *fleet) closeAll() {
	f.closing.Store(true)
	for _, s := range f.subs {
		s.conn.Close()
	}
}

// waitReaders waits up to timeout for the readers to end, and reports
// whether they did.
func (f *fleet) waitReaders(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { f.readers.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}
