package wstransport_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestGoroutinesReturnToBaseline opens 1,000 subscriptions (half of them in
// shared groups), receives an event on each, then leaves in every way a
// client can, and waits for the goroutine count to come back.
func TestGoroutinesReturnToBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const conns = 1000
	e := newEnv(t, groupedTransport())
	runtime.GC()
	baseline := runtime.NumGoroutine()

	clients := make([]*client, conns)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	const workers = 16
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < conns; i += workers {
				ws, _, err := (&websocket.Dialer{Subprotocols: []string{tws}, HandshakeTimeout: 10 * time.Second}).Dial(e.url, nil)
				if err != nil {
					errs <- err
					return
				}
				c := &client{t: t, ws: ws}
				clients[i] = c
				tenant := ""
				if i%2 == 0 {
					tenant = fmt.Sprintf("t%d", i%10) // 5 groups
				}
				if err := ws.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"tenant": tenant}}); err != nil {
					errs <- err
					return
				}
				if m, err := c.readTimeout(10 * time.Second); err != nil || m.Type != "connection_ack" {
					errs <- fmt.Errorf("init %d: %v %s", i, err, m.Raw)
					return
				}
				if err := ws.WriteJSON(map[string]any{"id": "s", "type": "subscribe", "payload": map[string]any{
					"query": counterSub, "variables": map[string]any{"t": "leak"},
				}}); err != nil {
					errs <- err
					return
				}
				// The pong comes once the subscribe has been handled (and
				// a grouped one has joined its group).
				if err := ws.WriteJSON(map[string]any{"type": "ping"}); err != nil {
					errs <- err
					return
				}
				if m, err := c.readTimeout(10 * time.Second); err != nil || m.Type != "pong" {
					errs <- fmt.Errorf("subscribe %d: %v %s", i, err, m.Raw)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// 500 ungrouped runs + 5 groups.
	eventually(t, 20*time.Second, func() bool { return e.hub.count("leak") == conns/2+5 }, "all subscriptions running")
	e.hub.publish("leak", 1)
	for i, c := range clients {
		if m, err := c.readTimeout(10 * time.Second); err != nil || m.Type != "next" {
			t.Fatalf("client %d: %v %s", i, err, m.Raw)
		}
	}
	// A reader per connection and a run per ungrouped subscription (an
	// idle connection has no writer goroutine).
	if n := runtime.NumGoroutine(); n < baseline+conns+conns/2 {
		t.Fatalf("%d goroutines with %d connections open, baseline %d", n, conns, baseline)
	}

	for i, c := range clients {
		switch i % 3 {
		case 0: // complete, then a normal close
			_ = c.ws.WriteJSON(map[string]any{"id": "s", "type": "complete"})
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			c.ws.Close()
		case 1: // close frame without completing
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
			c.ws.Close()
		default: // the TCP connection just goes away
			c.ws.NetConn().Close()
		}
	}

	deadline := time.Now().Add(20 * time.Second)
	for n := runtime.NumGoroutine(); n > baseline; n = runtime.NumGoroutine() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left, baseline %d", n, baseline)
		}
		time.Sleep(10 * time.Millisecond)
	}
	eventually(t, 5*time.Second, func() bool { return e.hub.count("leak") == 0 }, "every run cancelled")
	if codes, _ := e.closes.snapshot(); len(codes) != conns {
		t.Fatalf("CloseFunc called %d times for %d connections", len(codes), conns)
	}
}
