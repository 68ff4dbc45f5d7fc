// graphql-ws client (graphql-transport-ws): a query, a subscription the
// server completes, and one the client completes.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { url, out, fail } from './lib.mjs';

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { tenant: 'js' },
  retryAttempts: 0,
  lazy: false, // one connection for the whole script
  on: {
    connected: (socket, payload) => out({ event: 'connected', protocol: socket.protocol, payload }),
    closed: (e) => out({ event: 'closed', code: e.code }),
  },
});

function run(payload, onNext) {
  return new Promise((resolve, reject) => {
    const dispose = client.subscribe(payload, {
      next: (result) => onNext(result, dispose),
      error: reject,
      complete: resolve,
    });
  });
}

try {
  await run({ query: '{ hello }' }, (result) => out({ event: 'query', result }));
  await run({ query: 'subscription { finite(n: 3) }' }, (result) => out({ event: 'next', result }));
  out({ event: 'complete' });
  let ticks = 0;
  await run({ query: 'subscription { ticks(everyMs: 10) }' }, (result, dispose) => {
    // Results already in flight when we completed may still be delivered
    // (PROTOCOL.md: the client ignores them).
    if (ticks >= 2) return;
    out({ event: 'tick', result });
    if (++ticks === 2) {
      dispose(); // sends complete; the promise then resolves
      out({ event: 'unsubscribed' });
    }
  });
  await run({ query: '{ nope }' }, () => {}).then(
    () => out({ event: 'unexpected success' }),
    (errors) => out({ event: 'error', errors }),
  );
  await client.dispose();
} catch (err) {
  fail(err);
}
