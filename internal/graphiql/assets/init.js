// Renders GraphiQL into #graphiql. Loaded as an external script (no inline
// script) so the page works under a Content-Security-Policy of
// script-src 'self'. The GraphQL endpoint comes from the element's
// data-endpoint attribute.
//
// Queries and mutations go by HTTP POST; subscriptions over the websocket
// at the same path (graphql-ws's graphql-transport-ws protocol), with the
// client options that resume after a server restart or deploy: retry on
// refused or dropped connections, never after 4403 (the session ended or
// its authority shrank: a new token is needed).
(function () {
  'use strict';
  var el = document.getElementById('graphiql');
  if (!el) {
    return;
  }
  var endpoint = el.getAttribute('data-endpoint') || '/graphql';
  var wsURL = new URL(endpoint, window.location.href);
  wsURL.protocol = wsURL.protocol === 'https:' ? 'wss:' : 'ws:';

  // The headers of GraphiQL's headers editor, which it keeps in
  // localStorage (shouldPersistHeaders), sent as connection_init's payload:
  // {"Authorization": "Bearer …"}.
  function headers() {
    try {
      var h = JSON.parse(window.localStorage.getItem('graphiql:headers') || '{}');
      return h && typeof h === 'object' ? h : {};
    } catch (e) {
      return {};
    }
  }

  var wsClient = graphqlWs.createClient({
    url: wsURL.toString(),
    connectionParams: headers,
    // Connect while a subscription runs only, so that edited headers
    // apply to the next one.
    lazy: true,
    retryAttempts: Infinity,
    shouldRetry: function (event) {
      return !(event && typeof event.code === 'number' && event.code === 4403);
    },
    retryWait: function (retries) {
      // 0.5 s, 1 s, 2 s … at most 10 s, with jitter.
      var wait = Math.min(10000, 500 * Math.pow(2, retries));
      return new Promise(function (resolve) {
        setTimeout(resolve, wait / 2 + Math.random() * wait / 2);
      });
    },
  });

  var fetcher = GraphiQL.createFetcher({ url: endpoint, wsClient: wsClient });
  el.textContent = '';
  ReactDOM.createRoot(el).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      // Headers start empty; a token pasted once is kept in localStorage.
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    })
  );
})();
