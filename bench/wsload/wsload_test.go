package main

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 100 * time.Millisecond}, {99, 198 * time.Millisecond}, {100, 200 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of no samples = %v, want 0", got)
	}
	// With 20 samples, as one run has events, p99 is the largest.
	s := summarize(d[:20])
	if s.P50 != 10*time.Millisecond || s.P99 != 20*time.Millisecond || s.Max != 20*time.Millisecond {
		t.Errorf("summary of 20 = %+v", s)
	}
	one := summarize([]time.Duration{7})
	if one.P50 != 7 || one.P99 != 7 || one.Max != 7 {
		t.Errorf("summary of one = %+v", one)
	}
}

func TestAccountAllDelivered(t *testing.T) {
	ms := time.Millisecond
	events := []event{{sent: 100 * ms, version: 11}, {sent: 600 * ms, version: 12}}
	logs := [][]delivery{
		{{version: 10, at: 50 * ms}, {version: 11, at: 110 * ms}, {version: 12, at: 605 * ms}},
		{{version: 11, at: 130 * ms}, {version: 12, at: 640 * ms}},
		{{version: 12, at: 620 * ms}, {version: 11, at: 120 * ms}}, // order does not matter
	}
	a := account(events, logs, []int{10})
	if a.sent != 2 || a.complete != 2 || a.missing != 0 || a.duplicates != 0 || a.unexpected != 0 {
		t.Fatalf("accounting = %+v", a)
	}
	// To the last subscriber: event 11 at 130 ms (30 ms), event 12 at 640 ms (40 ms).
	if want := []time.Duration{30 * ms, 40 * ms}; !slices.Equal(a.toLast, want) {
		t.Errorf("toLast = %v, want %v", a.toLast, want)
	}
	if want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 20 * ms, 30 * ms, 40 * ms}; !slices.Equal(a.perDelivery, want) {
		t.Errorf("perDelivery = %v, want %v", a.perDelivery, want)
	}
	if a.received[0] != 3 || a.received[1] != 3 {
		t.Errorf("received = %v", a.received)
	}
}

func TestAccountLostDuplicatedUnexpected(t *testing.T) {
	ms := time.Millisecond
	events := []event{
		{sent: 0, version: 5},
		{sent: 500 * ms, version: 6},
		{sent: 1000 * ms, err: errTest}, // failed: left out
		{sent: 1500 * ms, version: 8},
	}
	logs := [][]delivery{
		{{version: 5, at: 10 * ms}, {version: 5, at: 12 * ms}, {version: 6, at: 510 * ms}, {version: 8, at: 1510 * ms}},
		{{version: 5, at: 20 * ms}, {version: 7, at: 1005 * ms}, {version: 8, at: 1520 * ms}},
		{{version: 6, at: 530 * ms}, {version: 8, at: 1530 * ms}, {version: 8, at: 1540 * ms}, {version: 8, at: 1550 * ms}},
	}
	a := account(events, logs, nil)
	if a.sent != 3 {
		t.Errorf("sent = %d, want 3", a.sent)
	}
	// Version 5 missed by the third subscriber, 6 by the second.
	if a.missing != 2 {
		t.Errorf("missing = %d, want 2", a.missing)
	}
	// One extra 5 for the first, two extra 8s for the third.
	if a.duplicates != 3 {
		t.Errorf("duplicates = %d, want 3", a.duplicates)
	}
	if a.unexpected != 1 { // version 7: no successful event had it
		t.Errorf("unexpected = %d, want 1", a.unexpected)
	}
	// Only event 8 reached everyone; its last first delivery came 30 ms
	// after it was sent (the later duplicates do not count).
	if a.complete != 1 || !slices.Equal(a.toLast, []time.Duration{30 * ms}) {
		t.Errorf("complete = %d, toLast = %v", a.complete, a.toLast)
	}
	if len(a.perDelivery) != 7 {
		t.Errorf("perDelivery has %d samples, want 7 first deliveries", len(a.perDelivery))
	}
	// The third subscriber's missing 5 was followed by 6 and 8, the
	// second's missing 6 by 8: both superseded.
	if a.superseded != 2 {
		t.Errorf("superseded = %d, want 2", a.superseded)
	}
	want := []string{"#1 (version 5) reached 2", "#2 (version 6) reached 2"}
	if got := incomplete(events, a, 10); !slices.Equal(got, want) {
		t.Errorf("incomplete = %q, want %q", got, want)
	}
	if got := incomplete(events, a, 1); !slices.Equal(got, []string{want[0], "…"}) {
		t.Errorf("incomplete, limit 1 = %q", got)
	}
}

func TestAccountLastEventLost(t *testing.T) {
	// A change missed with nothing after it is lost, not superseded.
	events := []event{{sent: 0, version: 1}, {sent: time.Second, version: 2}}
	logs := [][]delivery{{{version: 1, at: 1}}, {{version: 1, at: 1}, {version: 2, at: time.Second + 1}}}
	a := account(events, logs, nil)
	if a.missing != 1 || a.superseded != 0 || a.complete != 1 {
		t.Errorf("accounting = %+v", a)
	}
}

func TestAccountNoSubscribers(t *testing.T) {
	a := account([]event{{version: 1}}, nil, nil)
	if a.missing != 0 || a.complete != 1 || len(a.perDelivery) != 0 {
		t.Errorf("accounting = %+v", a)
	}
}

func TestClassifyFrame(t *testing.T) {
	needle := []byte(`"user":{"id":"42"}`)
	for _, c := range []struct {
		msg     string
		kind    frameKind
		version int
	}{
		{`{"id":"1","type":"next","payload":{"data":{"userStatusChanged":{"user":{"id":"42"},"availability":"BUSY","online":false,"version":17,"at":"2026-01-01T00:00:00Z"}}}}`, frameEvent, 17},
		{`{"id":"1","type":"next","payload":{"data":{"userStatusChanged":{"user":{"id":"1"},"availability":"OFFLINE","online":true,"version":3,"at":"2026-01-01T00:00:00Z"}}}}`, frameOther, 0},
		// A user whose ID merely starts with the watched one's.
		{`{"id":"1","type":"next","payload":{"data":{"userStatusChanged":{"user":{"id":"421"},"availability":"BUSY","online":false,"version":9,"at":"x"}}}}`, frameOther, 0},
		{`{"id":"1","type":"next","payload":{"data":{"userStatusChanged":{"user":{"id":"42"},"availability":"BUSY"}}}}`, frameEvent, -1},
		{`{"type":"pong"}`, framePong, 0},
		{`{"type":"ping"}`, framePing, 0},
		{`{"type":"connection_ack"}`, frameAck, 0},
		{`{"id":"1","type":"complete"}`, frameEnd, 0},
		{`{"id":"1","type":"error","payload":[{"message":"boom"}]}`, frameEnd, 0},
		{`{"id":"2","type":"next","payload":{}}`, frameEnd, 0},
		{`hello`, frameUnknown, 0},
	} {
		kind, version := classifyFrame([]byte(c.msg), needle)
		if kind != c.kind || version != c.version {
			t.Errorf("classifyFrame(%.60s…) = %v, %d; want %v, %d", c.msg, kind, version, c.kind, c.version)
		}
	}
}

func TestHandleCountsDeliveries(t *testing.T) {
	f := newFleet(time.Now(), "http://127.0.0.1:1", []string{"tok"}, "42", 100, 16, 4)
	s := &subscriber{got: make([]delivery, 0, 4)}
	ev := func(v string) []byte {
		return []byte(`{"id":"1","type":"next","payload":{"data":{"userStatusChanged":{"user":{"id":"42"},"availability":"AWAY","online":false,"version":` + v + `,"at":"x"}}}}`)
	}
	f.handle(s, ev("101"), time.Second)
	f.handle(s, ev("101"), 2*time.Second)
	f.handle(s, ev("99"), 3*time.Second)   // below the base: logged, not counted live
	f.handle(s, ev("5000"), 4*time.Second) // beyond the slots: the same
	f.handle(s, []byte(`{"id":"1","type":"next","payload":{"data":{"userStatusChanged":{"user":{"id":"7"},"version":3}}}}`), 5*time.Second)
	if got := f.delivered(101); got != 2 {
		t.Errorf("delivered(101) = %d, want 2", got)
	}
	if got := f.delivered(99); got != -1 {
		t.Errorf("delivered(99) = %d, want -1 (not counted live)", got)
	}
	if len(s.got) != 4 || s.got[0] != (delivery{version: 101, at: time.Second}) || s.others != 1 {
		t.Errorf("subscriber = %+v", s)
	}
	if f.wsURL != "ws://127.0.0.1:1/graphql" || len(f.initMsgs) != 1 || !bytes.Contains(f.initMsgs[0], []byte(`"authorization":"Bearer tok"`)) {
		t.Errorf("url %s, init %s", f.wsURL, f.initMsgs)
	}
}

func TestReadInto(t *testing.T) {
	long := strings.Repeat("x", 3000)
	got, err := readInto(make([]byte, 0, 16), strings.NewReader(long))
	if err != nil || string(got) != long {
		t.Errorf("readInto = %d bytes, %v", len(got), err)
	}
}

func TestProcParsing(t *testing.T) {
	rss, err := parseVmRSS([]byte("Name:\troster\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n"))
	if err != nil || rss != 12345*1024 {
		t.Errorf("parseVmRSS = %d, %v", rss, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("parseVmRSS without VmRSS: no error")
	}
	// The command name may hold spaces and parentheses.
	stat := []byte("4242 (odd (name) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 25 0 0 20 0 9 0 100 2000000 3000 18446744073709551615")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 175*clockTick {
		t.Errorf("parseStatCPU = %v, %v; want %v", cpu, err, 175*clockTick)
	}
	if name := statCommand(stat); name != "odd (name) x" {
		t.Errorf("statCommand = %q", name)
	}
	m0, err := parseMachineCPU([]byte("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n"))
	if err != nil || m0.busy != 150 || m0.total != 1000 {
		t.Errorf("parseMachineCPU = %+v, %v", m0, err)
	}
	m1 := machineCPU{busy: 250, total: 1200}
	if got := busyShare(m0, m1); got != 0.5 {
		t.Errorf("busyShare = %v, want 0.5", got)
	}
	if got := busyTime(m0, m1); got != 100*clockTick {
		t.Errorf("busyTime = %v", got)
	}
}

func TestPostgresProcesses(t *testing.T) {
	for title, want := range map[string]bool{
		"postgres: 15/main: postgres roster_bench_ab12 127.0.0.1(41234) idle\x00":  true,
		"postgres: 15/main: postgres roster_bench_ab12 [local] idle":               true,
		"postgres: 15/main: postgres test 127.0.0.1(41235) idle":                   false, // another database
		"postgres: 15/main: postgres roster_bench_ab123 127.0.0.1(41236) idle":     false,
		"postgres: 15/main: walwriter ":                                            true,
		"postgres: 15/main: checkpointer ":                                         true,
		"/usr/lib/postgresql/15/bin/postgres\x00-D\x00/var/lib/postgresql/15/main": true,
	} {
		if got := postgresServes([]byte(title), "roster_bench_ab12"); got != want {
			t.Errorf("postgresServes(%q) = %v, want %v", title, got, want)
		}
	}
	before := map[int]time.Duration{1: 100, 2: 50, 3: 70}
	after := map[int]time.Duration{1: 130, 2: 50, 4: 20} // 3 ended, 4 started
	if got := cpuDelta(before, after); got != 50 {
		t.Errorf("cpuDelta = %v, want 50", got)
	}
	if got := cpuDelta(nil, nil); got != 0 {
		t.Errorf("cpuDelta of nothing = %v", got)
	}
}

func TestParseFlags(t *testing.T) {
	getenv := func(k string) string {
		if k == "ROSTER_TEST_DATABASE_URL" {
			return "postgres://x@db/postgres"
		}
		return ""
	}
	o, err := parseFlags([]string{"-subscribers", "19000", "-sqlite", "-json"}, getenv, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if o.subscribers != 19000 || o.events != 20 || o.rate != 2 || o.concurrency != 200 || !o.sqlite || !o.json || o.databaseURL != "postgres://x@db/postgres" {
		t.Errorf("options = %+v", o)
	}
	for _, args := range [][]string{{"-subscribers", "0"}, {"-rate", "0"}, {"-events", "-1"}, {"extra"}} {
		if _, err := parseFlags(args, getenv, new(bytes.Buffer)); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

var errTest = errors.New("test")

func TestParseRestartFlags(t *testing.T) {
	o, err := parseFlags([]string{"-restart", "-subscribers", "300", "-group", "4"}, func(string) string { return "" }, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	// Each client is a user of its own, changes come at 20/s.
	if !o.restart || o.users != 300 || o.rate != 20 || o.group != 4 || o.grace != 2*time.Minute {
		t.Errorf("options = %+v", o)
	}
	if o, _ := parseFlags([]string{"-restart", "-subscribers", "300", "-users", "30", "-rate", "5"}, func(string) string { return "" }, new(bytes.Buffer)); o.users != 30 || o.rate != 5 {
		t.Errorf("options = %+v", o)
	}
	if _, err := parseFlags([]string{"-restart", "-group", "0"}, func(string) string { return "" }, new(bytes.Buffer)); err == nil {
		t.Error("-group 0 accepted")
	}
}

func TestRestartChecks(t *testing.T) {
	seeded := []seededUser{{id: "1", division: "10"}, {id: "2", division: "10"}, {id: "3", division: "20"}}
	client := func(view map[string]userState, seen map[string]map[int]bool, snapshotted map[string]int) *restartClient {
		return &restartClient{division: "10", view: view, seen: seen, snapshotted: snapshotted}
	}
	truth := map[string]userState{"1": {5, "BUSY", true, 1}, "2": {7, "AWAY", true, 1}, "3": {2, "ONLINE", true, 1}}
	clients := []*restartClient{
		// Heard of 1@4 as an event and of 1@5 in a snapshot; 2@6 and
		// 2@7 as events. It holds 2 at an older version of the same
		// status: the version after it changed nothing it is told of.
		client(map[string]userState{"1": truth["1"], "2": {6, "AWAY", true, 1}},
			map[string]map[int]bool{"1": {4: true}, "2": {6: true, 7: true}}, map[string]int{"1": 5, "2": 3}),
		// Missed 2@6 (a later event does not make up for it) and holds
		// an old state of 2.
		client(map[string]userState{"1": truth["1"], "2": {6, "BUSY", true, 1}},
			map[string]map[int]bool{"1": {4: true, 5: true}, "2": {7: true}}, map[string]int{"1": 3, "2": 3}),
		// Holds a user its division no longer has, and is missing 2.
		client(map[string]userState{"1": truth["1"], "3": truth["3"]},
			map[string]map[int]bool{"1": {4: true, 5: true}, "2": {6: true, 7: true}}, nil),
	}
	// 3@2 is another division's: no client of division 10 must hear of it.
	changes := []change{{user: "1", version: 4}, {user: "1", version: 5}, {user: "2", version: 6}, {user: "2", version: 7}, {user: "3", version: 2}}
	if lost, first := lostChanges(clients, changes, seeded); lost != 1 || !strings.Contains(first, "client 1 never heard of user 2 at version 6") {
		t.Errorf("lostChanges = %d, %q; want 1, client 1's 2@6", lost, first)
	}
	if wrong, first := compareViews(clients, truth, seeded); wrong != 2 || !strings.Contains(first, "client 1 holds user 2") {
		t.Errorf("compareViews = %d, %q; want 2, client 1 first", wrong, first)
	}
	r := &restartReport{Lost: 1, Flaps: 2}
	if p := r.problems(); len(p) != 2 {
		t.Errorf("problems = %q", p)
	}
}

// TestRestartScenario runs -restart at a small scale on SQLite: every
// check passes.
func TestRestartScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs roster")
	}
	o, err := parseFlags([]string{"-restart", "-sqlite", "-subscribers", "12", "-group", "4", "-phase", "1s"}, func(string) string { return "" }, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	var out, log bytes.Buffer
	if err := runRestart(t.Context(), o, &out, &log); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), log.String())
	}
	if !strings.Contains(out.String(), "PASS") || !strings.Contains(out.String(), "lost 0") {
		t.Errorf("report:\n%s", out.String())
	}
}
