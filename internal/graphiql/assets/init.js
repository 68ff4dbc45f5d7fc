// Renders GraphiQL into #graphiql. Loaded as an external script (no inline
// script) so the page works under a Content-Security-Policy of
// script-src 'self'. The GraphQL endpoint comes from the element's
// data-endpoint attribute.
(function () {
  'use strict';
  var el = document.getElementById('graphiql');
  if (!el) {
    return;
  }
  var endpoint = el.getAttribute('data-endpoint') || '/graphql';
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
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
