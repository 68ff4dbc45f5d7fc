package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"roster/internal/store/storetest"
)

// idleSubscription is the subscription of bench/wsload and of
// ../shared/loadlab's wsload: every socket sends the same one with the
// same token, so they share one run.
const idleSubscription = `subscription { userStatusChanged { user { id } availability online at } }`

// TestIdleSocketMemory pins what an idle websocket with one subscription
// keeps in the server (see measureIdleSockets): the heap it keeps, and one
// goroutine, its reader. The heap bound is about 25 % above what it
// measured (4.0 KB, of which the test's own client socket is about 300
// bytes), and far below what it was when each socket kept its upgrade
// request's context (7.1 KB). Not parallel: it reads the memory of the
// whole process.
func TestIdleSocketMemory(t *testing.T) {
	srv, token := startIdleSocketServer(t)
	m := measureIdleSockets(t, srv, token, 500)
	if m.heap > 5000 {
		t.Errorf("an idle subscribed socket keeps %.0f bytes of heap, more than 5,000", m.heap)
	}
	if m.goroutines != 1 {
		t.Errorf("an idle subscribed socket keeps %.2f goroutines, not 1 (its reader)", m.goroutines)
	}
	t.Logf("per idle subscribed socket: %.0f bytes of heap, %.0f of goroutine stacks, %.0f allocated to open it", m.heap, m.stack, m.alloc)
}

// BenchmarkIdleSocket reports what an idle websocket with one
// subscription costs the server (see measureIdleSockets), over 2,000 of
// them. Run it with
//
//	go test -run '^$' -bench IdleSocket -benchtime 1x ./server
func BenchmarkIdleSocket(b *testing.B) {
	srv, token := startIdleSocketServer(b)
	var sum idleSocketCost
	for range b.N {
		m := measureIdleSockets(b, srv, token, 2000)
		sum.heap += m.heap
		sum.stack += m.stack
		sum.alloc += m.alloc
		sum.goroutines += m.goroutines
	}
	n := float64(b.N)
	b.ReportMetric(sum.heap/n, "heap-B/socket")
	b.ReportMetric(sum.stack/n, "stack-B/socket")
	b.ReportMetric(sum.alloc/n, "alloc-B/socket")
	b.ReportMetric(sum.goroutines/n, "goroutines/socket")
	b.ReportMetric(0, "ns/op")
}

// startIdleSocketServer starts a server on PostgreSQL for idle sockets
// (pings far apart: the clients answer none) and returns it with the
// admin's token. It keeps no log lines.
func startIdleSocketServer(tb testing.TB) (*server, string) {
	tb.Helper()
	srv := startServer(tb, storetest.PostgresURL(tb), "ROSTER_WS_PING_INTERVAL", "1h")
	token := srv.login(tb, "admin@acme.test", adminPassword).token
	srv.logs.drop()
	// A first socket starts the shared run and brings the admin online:
	// what the others add is the steady cost of one more.
	first := openIdleSocket(tb, strings.TrimPrefix(srv.url, "http://"), token)
	tb.Cleanup(func() { first.Close() })
	return srv, token
}

// idleSocketCost is what one idle socket costs, on average.
type idleSocketCost struct {
	heap       float64 // bytes of heap in use after a collection
	stack      float64 // bytes of goroutine stacks
	alloc      float64 // bytes allocated to open it
	goroutines float64
}

// measureIdleSockets opens n sockets as token, each subscribed to
// idleSubscription, and returns what each costs the process once they are
// idle (runtime.MemStats after a collection, less before), then closes
// them. The clients are bare TCP connections in the same process that
// read nothing once subscribed: each adds its net.Conn (about 300 bytes)
// to the heap, and no goroutine. With ROSTER_BENCH_HEAPPROFILE set, it
// writes a heap profile of every allocation there, taken with the sockets
// idle.
func measureIdleSockets(tb testing.TB, srv *server, token string, n int) idleSocketCost {
	tb.Helper()
	profile := os.Getenv("ROSTER_BENCH_HEAPPROFILE")
	if profile != "" {
		runtime.MemProfileRate = 1
	}
	addr := strings.TrimPrefix(srv.url, "http://")
	before := quietMemStats(tb, srv)
	conns := make([]net.Conn, 0, n)
	for range n {
		conns = append(conns, openIdleSocket(tb, addr, token))
	}
	after := quietMemStats(tb, srv)
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			tb.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			tb.Fatal(err)
		}
		f.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	quietMemStats(tb, srv)
	per := func(a, b uint64) float64 { return float64(int64(a)-int64(b)) / float64(n) }
	return idleSocketCost{
		heap:       per(after.HeapAlloc, before.HeapAlloc),
		stack:      per(after.StackInuse, before.StackInuse),
		alloc:      per(after.TotalAlloc, before.TotalAlloc),
		goroutines: float64(after.goroutines-before.goroutines) / float64(n),
	}
}

type memStats struct {
	runtime.MemStats
	goroutines int
}

// quietMemStats waits until the process's goroutines stop changing in
// number (sockets opened or closed are settled), then collects garbage and
// reads the memory statistics.
func quietMemStats(tb testing.TB, srv *server) memStats {
	tb.Helper()
	last, stable := -1, 0
	for deadline := time.Now().Add(time.Minute); stable < 5; time.Sleep(100 * time.Millisecond) {
		n := runtime.NumGoroutine()
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the goroutines did not settle (%d)", n)
		}
	}
	var m memStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m.MemStats)
	m.goroutines = last
	return m
}

// openIdleSocket opens a graphql-transport-ws socket on addr as token,
// subscribes it to idleSubscription and returns once the server has
// registered the subscription (its pong to a ping sent after subscribe).
// The connection then reads nothing more.
func openIdleSocket(tb testing.TB, addr, token string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	fail := func(format string, args ...any) {
		tb.Helper()
		c.Close()
		tb.Fatalf(format, args...)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /graphql HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n", addr)
	r := bufio.NewReaderSize(c, 512)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			fail("upgrade: %v", err)
		}
		if strings.HasPrefix(line, "HTTP/") && !strings.Contains(line, " 101 ") {
			fail("upgrade answered %q", line)
		}
		if line == "\r\n" {
			break
		}
	}
	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]string{"authorization": "Bearer " + token}})
	writeFrame(c, init)
	if m := readUntil(r, `"connection_ack"`); m == "" {
		fail("no connection_ack")
	}
	sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]string{"query": idleSubscription}})
	writeFrame(c, sub)
	writeFrame(c, []byte(`{"type":"ping"}`))
	if m := readUntil(r, `"pong"`); m == "" {
		fail("no pong")
	}
	_ = c.SetDeadline(time.Time{})
	return c
}

// writeFrame writes a masked text frame (the mask is zero: the payload
// goes as it is).
func writeFrame(w io.Writer, payload []byte) {
	var h [8]byte
	h[0] = 0x81
	n := 2
	if len(payload) < 126 {
		h[1] = 0x80 | byte(len(payload))
	} else {
		h[1] = 0x80 | 126
		binary.BigEndian.PutUint16(h[2:], uint16(len(payload)))
		n = 4
	}
	_, _ = w.Write(append(append(h[:n:n], 0, 0, 0, 0), payload...))
}

// readUntil reads frames until a text frame containing want, and returns
// it ("" on error).
func readUntil(r *bufio.Reader, want string) string {
	for {
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return ""
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			if _, err := io.ReadFull(r, l[:]); err != nil {
				return ""
			}
			n = int(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			if _, err := io.ReadFull(r, l[:]); err != nil {
				return ""
			}
			n = int(binary.BigEndian.Uint64(l[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return ""
		}
		if h[0]&0x0f == 1 && bytes.Contains(p, []byte(want)) {
			return string(p)
		}
	}
}
