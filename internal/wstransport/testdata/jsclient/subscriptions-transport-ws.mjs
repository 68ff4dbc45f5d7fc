// subscriptions-transport-ws SubscriptionClient (legacy graphql-ws protocol).
import pkg from 'subscriptions-transport-ws';
import WebSocket from 'ws';
import { url, out, fail } from './lib.mjs';

const { SubscriptionClient } = pkg;

const client = new SubscriptionClient(
  url,
  {
    reconnect: false,
    connectionParams: { tenant: 'legacy' },
    connectionCallback: (error) => out(error ? { event: 'connection_error', error } : { event: 'connected' }),
  },
  WebSocket,
);
client.onDisconnected(() => out({ event: 'disconnected' }));

function run(request, onNext) {
  return new Promise((resolve, reject) => {
    const sub = client.request(request).subscribe({
      next: (result) => onNext(result, sub),
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
  await new Promise((resolve, reject) => {
    const sub = client.request({ query: 'subscription { ticks(everyMs: 10) }' }).subscribe({
      next: (result) => {
        if (ticks >= 2) return; // in flight when we stopped
        out({ event: 'tick', result });
        if (++ticks === 2) {
          sub.unsubscribe(); // sends stop
          out({ event: 'unsubscribed' });
          resolve();
        }
      },
      error: reject,
    });
  });
  client.close();
} catch (err) {
  fail(err);
}
