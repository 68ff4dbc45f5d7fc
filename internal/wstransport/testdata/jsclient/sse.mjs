// Subscribes over Server-Sent Events with the graphql-sse client (distinct
// connections mode, as a browser app on a network that breaks websockets
// would), then sends a mutation over HTTP until an event arrives (the
// server does not acknowledge a subscription), prints each mutation's
// result and the first event, and disposes of the subscription, printing
// its completion.
// usage: node sse.mjs http://host/graphql TOKEN MUTATION_TOKEN SUBSCRIPTION MUTATION VARIABLES
// The subscription is sent with TOKEN; each mutation with MUTATION_TOKEN,
// VARIABLES (JSON) and $n: "Renamed <attempt>".
import { createClient } from 'graphql-sse';
import { url, out, fail } from './lib.mjs';

const [token, mutationToken, subscription, mutation, variables] = process.argv.slice(3);
const client = createClient({ url, headers: { authorization: `Bearer ${token}` }, retryAttempts: 0 });

let received = false;
const dispose = client.subscribe({ query: subscription }, {
  next(result) {
    if (received) return;
    received = true;
    out({ event: 'next', ...result });
    dispose();
  },
  error: fail,
  complete() {
    out({ event: 'complete' });
  },
});

for (let attempt = 1; !received; attempt++) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${mutationToken}`, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query: mutation, variables: { ...JSON.parse(variables), n: `Renamed ${attempt}` } }),
  });
  out({ event: 'mutation', ...(await res.json()) });
  await new Promise((resolve) => setTimeout(resolve, 250));
}
