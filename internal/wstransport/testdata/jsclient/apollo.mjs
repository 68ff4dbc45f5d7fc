// Apollo Client with GraphQLWsLink (graphql-transport-ws).
import { ApolloClient, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { url, out, fail } from './lib.mjs';

const wsClient = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  lazy: false, // one connection for the whole script
  on: { closed: (e) => out({ event: 'closed', code: e.code }) },
});
const client = new ApolloClient({ link: new GraphQLWsLink(wsClient), cache: new InMemoryCache() });

try {
  const q = await client.query({ query: gql`query Hello { hello }` });
  out({ event: 'query', data: q.data });
  const m = await client.mutate({ mutation: gql`mutation Echo($msg: String!) { echo(msg: $msg) }`, variables: { msg: 'apollo' } });
  out({ event: 'mutation', data: m.data });
  await new Promise((resolve, reject) => {
    client.subscribe({ query: gql`subscription Finite { finite(n: 3) }` }).subscribe({
      next: (r) => out({ event: 'next', data: r.data }),
      error: reject,
      complete: resolve,
    });
  });
  out({ event: 'complete' });
  await wsClient.dispose();
  client.stop();
} catch (err) {
  fail(err);
}
