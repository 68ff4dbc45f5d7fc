// apollo-upload-client (Apollo Client's UploadHttpLink): uploads a file
// with a GraphQL multipart request and prints the mutation's result.
// Usage: node upload.mjs http://host/graphql TOKEN QUERY FILE
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ApolloClient, InMemoryCache, gql } from '@apollo/client';
import UploadHttpLink from 'apollo-upload-client/UploadHttpLink.mjs';
import { out, fail } from './lib.mjs';

const [uri, token, query, path] = process.argv.slice(2);
const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: new UploadHttpLink({
    uri,
    // The server refuses multipart requests a browser could send without
    // a preflight: Apollo's header forces one.
    headers: { authorization: `Bearer ${token}`, 'Apollo-Require-Preflight': 'true' },
  }),
});

try {
  const file = new File([await readFile(path)], basename(path), { type: 'image/png' });
  const result = await client.mutate({ mutation: gql(query), variables: { file }, errorPolicy: 'all' });
  out({ event: 'result', data: result.data ?? null, errors: (result.error ? [String(result.error.message)] : []) });
} catch (err) {
  fail(err);
}
