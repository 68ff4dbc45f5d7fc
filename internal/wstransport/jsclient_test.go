package wstransport_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// jsDir holds the Node clients; `npm ci --prefix internal/wstransport/testdata/jsclient`
// installs their dependencies.
const jsDir = "testdata/jsclient"

// runNode runs a client script against the test server and returns the JSON
// objects it printed, one per line. Without node or the installed packages
// the test is skipped, except in CI (CI=true), where that is a failure.
func runNode(t *testing.T, e *env, script string) []map[string]any {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(jsDir, "node_modules", "graphql-ws"))
	}
	if err != nil {
		const msg = "\n\n*** JS CLIENT TESTS NOT RUN: %v ***\n*** install Node.js and run: npm ci --prefix internal/wstransport/testdata/jsclient ***\n\n"
		if os.Getenv("CI") == "true" {
			t.Fatalf(msg, err)
		}
		t.Skipf(msg, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, e.url)
	cmd.Dir = jsDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout, stderr.String())
	}
	var events []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("node %s printed %q: %v", script, sc.Text(), err)
		}
		events = append(events, ev)
	}
	return events
}

// normalize round-trips v through JSON so it compares with decoded output.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkEvents(t *testing.T, got []map[string]any, want []map[string]any) {
	t.Helper()
	if g, w := normalize(t, got), normalize(t, want); !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(got, "", " ")
		wb, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("events:\n%s\nwant:\n%s", gb, wb)
	}
}

func TestJSClientGraphQLWS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, groupedTransport())
	events := runNode(t, e, "graphql-ws.mjs")
	if len(events) == 0 || events[len(events)-1]["event"] != "closed" {
		t.Fatalf("events %v", events)
	}
	errEvent := events[len(events)-2]
	if errEvent["event"] != "error" {
		t.Fatalf("want an error event for the invalid query, got %v", errEvent)
	}
	checkEvents(t, events[:len(events)-2], []map[string]any{
		{"event": "connected", "protocol": tws},
		{"event": "query", "result": map[string]any{"data": map[string]any{"hello": "world"}}},
		{"event": "next", "result": map[string]any{"data": map[string]any{"finite": 1}}},
		{"event": "next", "result": map[string]any{"data": map[string]any{"finite": 2}}},
		{"event": "next", "result": map[string]any{"data": map[string]any{"finite": 3}}},
		{"event": "complete"},
		{"event": "tick", "result": map[string]any{"data": map[string]any{"ticks": 1}}},
		{"event": "tick", "result": map[string]any{"data": map[string]any{"ticks": 2}}},
		{"event": "unsubscribed"},
	})
	if code := events[len(events)-1]["code"]; code != float64(websocket.CloseNormalClosure) {
		t.Fatalf("closed with %v", code)
	}
	// The client's complete cancelled the ticking resolver, and the
	// connection's end was reported.
	eventually(t, 5*time.Second, func() bool { return e.active.Load() == 0 }, "operations ended")
	if codes := e.waitCodes(1); codes[0] != websocket.CloseNormalClosure {
		t.Fatalf("CloseFunc code %d", codes[0])
	}
}

func TestJSClientApollo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, groupedTransport())
	events := runNode(t, e, "apollo.mjs")
	checkEvents(t, events, []map[string]any{
		{"event": "query", "data": map[string]any{"hello": "world"}},
		{"event": "mutation", "data": map[string]any{"echo": "apollo"}},
		{"event": "next", "data": map[string]any{"finite": 1}},
		{"event": "next", "data": map[string]any{"finite": 2}},
		{"event": "next", "data": map[string]any{"finite": 3}},
		{"event": "complete"},
		{"event": "closed", "code": websocket.CloseNormalClosure},
	})
}

func TestJSClientSubscriptionsTransportWS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, groupedTransport())
	events := runNode(t, e, "subscriptions-transport-ws.mjs")
	checkEvents(t, events, []map[string]any{
		{"event": "connected"},
		{"event": "query", "result": map[string]any{"data": map[string]any{"hello": "world"}}},
		{"event": "next", "result": map[string]any{"data": map[string]any{"finite": 1}}},
		{"event": "next", "result": map[string]any{"data": map[string]any{"finite": 2}}},
		{"event": "next", "result": map[string]any{"data": map[string]any{"finite": 3}}},
		{"event": "complete"},
		{"event": "tick", "result": map[string]any{"data": map[string]any{"ticks": 1}}},
		{"event": "tick", "result": map[string]any{"data": map[string]any{"ticks": 2}}},
		{"event": "unsubscribed"},
		{"event": "disconnected"},
	})
	eventually(t, 5*time.Second, func() bool { return e.active.Load() == 0 }, "operations ended")
	e.waitCodes(1)
}
