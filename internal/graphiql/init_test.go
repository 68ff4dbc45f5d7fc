package graphiql

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// initCheck runs the page's scripts graphql-ws.min.js and init.js in a
// Node.js sandbox with GraphiQL and React stubbed, and checks how the page
// wires subscriptions: over a graphql-ws client on the endpoint's
// websocket, lazy, authenticated with the headers GraphiQL keeps, retrying
// refused and dropped connections but not a 4403.
const initCheck = `
const fs = require('fs'), vm = require('vm'), assert = require('assert');
let created, fetcherOptions;
const store = { 'graphiql:headers': '{"Authorization": "Bearer rst_x"}' };
const ctx = {
  URL, setTimeout, clearTimeout, Promise, console,
  // Never opened: the client is lazy and nothing subscribes.
  WebSocket: class { static get CONNECTING() { return 0; } static get OPEN() { return 1; } static get CLOSING() { return 2; } static get CLOSED() { return 3; } },
  document: { getElementById: () => ({ getAttribute: () => '/graphql', textContent: '' }) },
  localStorage: { getItem: (k) => (k in store ? store[k] : null) },
  GraphiQL: { createFetcher: (o) => { fetcherOptions = o; return () => {}; } },
  React: { createElement: () => ({}) },
  ReactDOM: { createRoot: () => ({ render: () => {} }) },
};
ctx.window = ctx; ctx.self = ctx; ctx.globalThis = ctx;
ctx.window.location = { href: 'https://roster.example.com/' };
vm.createContext(ctx);
vm.runInContext(fs.readFileSync('assets/graphql-ws.min.js', 'utf8'), ctx);
const real = ctx.graphqlWs.createClient;
ctx.graphqlWs.createClient = (o) => { created = o; return real(o); };
vm.runInContext(fs.readFileSync('assets/init.js', 'utf8'), ctx);
assert.ok(created, 'no graphql-ws client');
assert.strictEqual(fetcherOptions.wsClient && typeof fetcherOptions.wsClient.subscribe, 'function', 'the fetcher has no wsClient');
assert.strictEqual(fetcherOptions.url, '/graphql');
assert.strictEqual(created.url, 'wss://roster.example.com/graphql');
assert.strictEqual(created.lazy, true);
assert.strictEqual(created.retryAttempts, Infinity);
assert.strictEqual(created.shouldRetry({ code: 4403 }), false, '4403 retried');
for (const code of [1001, 1006, 1011, 1012, 4408]) assert.strictEqual(created.shouldRetry({ code }), true, code + ' not retried');
assert.deepStrictEqual(JSON.parse(JSON.stringify(created.connectionParams())), { Authorization: 'Bearer rst_x' });
store['graphiql:headers'] = 'not json';
assert.deepStrictEqual(JSON.parse(JSON.stringify(created.connectionParams())), {});
(async () => {
  const t = Date.now(); await created.retryWait(0);
  assert.ok(Date.now() - t <= 1000, 'first retry waits too long');
  console.log('ok');
})().catch((e) => { console.error(e); process.exit(1); });
`

func TestInitWiresSubscriptions(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is needed to check init.js")
		}
		t.Skip("SKIPPED: node not found, init.js not checked")
	}
	out, err := exec.Command(node, "-e", initCheck).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		if len(out) > 2000 {
			out = out[len(out)-2000:]
		}
		t.Fatalf("init.js: %v\n%s", err, out)
	}
}
