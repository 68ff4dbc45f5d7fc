package wstransport_test

import (
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkFanout measures delivering one event to many subscribers, each on
// its own connection, with and without shared execution. Run it with
//
//	go test -run '^$' -bench Fanout ./wstransport/
func BenchmarkFanout(b *testing.B) {
	for _, bc := range []struct {
		name   string
		tenant string
	}{
		{"grouped", "acme"},
		{"separate", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const subscribers = 500
			e := newEnv(b, groupedTransport())
			var received atomic.Int64
			for range subscribers {
				ws, _, err := (&websocket.Dialer{Subprotocols: []string{tws}}).Dial(e.url, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { ws.Close() })
				c := &client{t: b, ws: ws}
				c.init(map[string]any{"tenant": bc.tenant})
				c.subscribe("s", counterSub, map[string]any{"t": "bench"})
				c.send(map[string]any{"type": "ping"}) // answered once the subscribe is handled
				c.expect("pong", "")
				_ = ws.SetReadDeadline(time.Time{}) // init left one
				go func() {
					for {
						if _, _, err := ws.ReadMessage(); err != nil {
							return
						}
						received.Add(1)
					}
				}()
			}
			runs := 1
			if bc.tenant == "" {
				runs = subscribers
			}
			eventually(b, 10*time.Second, func() bool { return e.hub.count("bench") == runs }, "subscribed")

			b.ResetTimer()
			start, cpuStart := time.Now(), cpuTime()
			for i := range b.N {
				e.hub.publish("bench", i)
				want := int64(i+1) * subscribers
				deadline := time.Now().Add(10 * time.Second)
				for received.Load() < want {
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d deliveries after 10s", received.Load(), want)
					}
					time.Sleep(50 * time.Microsecond)
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*subscribers), "ns/delivery")
			// CPU time, the server's and the reading clients', does not
			// count waiting for a CPU another process holds.
			b.ReportMetric(float64((cpuTime()-cpuStart).Nanoseconds())/float64(b.N*subscribers), "cpu-ns/delivery")
		})
	}
}

// cpuTime is the CPU time this process has used, in user and system mode.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
