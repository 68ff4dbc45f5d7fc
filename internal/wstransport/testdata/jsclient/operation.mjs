// graphql-ws client (graphql-transport-ws): one operation, sent with a
// bearer token, and how it ended: its results, then complete or error.
// Usage: node operation.mjs ws://host/graphql TOKEN QUERY
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { url, out, fail } from './lib.mjs';

const [token, query] = process.argv.slice(3);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
});

try {
  await new Promise((resolve) => {
    client.subscribe({ query }, {
      next: (result) => out({ event: 'next', result }),
      error: (errors) => { out({ event: 'error', errors: String(errors && (errors.message || JSON.stringify(errors))) }); resolve(); },
      complete: () => { out({ event: 'complete' }); resolve(); },
    });
  });
  await client.dispose();
} catch (err) {
  fail(err);
}
