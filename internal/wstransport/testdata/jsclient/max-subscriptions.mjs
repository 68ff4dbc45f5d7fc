// graphql-ws client: two subscriptions fill the connection's cap, a third
// is refused with an error, and the connection goes on serving.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { url, out, fail } from './lib.mjs';

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  lazy: false,
  on: {
    closed: (e) => out({ event: 'closed', code: e.code }),
  },
});

// open subscribes and resolves at its first result, leaving it running.
function open(query) {
  return new Promise((resolve, reject) => {
    const dispose = client.subscribe({ query }, {
      next: () => resolve(dispose),
      error: reject,
      complete: () => reject(new Error('completed early')),
    });
  });
}

try {
  const a = await open('subscription { ticks(everyMs: 20) }');
  const b = await open('subscription B { ticks(everyMs: 20) }');
  out({ event: 'two running' });
  await open('subscription C { ticks(everyMs: 20) }').then(
    () => out({ event: 'unexpected success' }),
    (errors) => out({ event: 'refused', errors }),
  );
  const result = await new Promise((resolve, reject) => {
    client.subscribe({ query: '{ hello }' }, { next: resolve, error: reject, complete: () => {} });
  });
  out({ event: 'query', result });
  a();
  await new Promise((r) => setTimeout(r, 50));
  const c = await open('subscription D { ticks(everyMs: 20) }');
  out({ event: 'third after one completed' });
  b();
  c();
  await client.dispose();
} catch (err) {
  fail(err);
}
