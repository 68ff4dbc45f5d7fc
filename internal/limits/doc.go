// Package limits protects the GraphQL endpoint against abusive queries: too
// long, too many tokens, too deep, too many aliases, too costly, pages too
// large, introspection and field-name suggestions in production, and it
// serves automatic persisted queries.
//
// # Use
//
//	gql := handler.New(schema)
//	gql.AddTransport(...)
//	gql.SetQueryCache(lru.New[*ast.QueryDocument](1000))
//	limits.Install(gql, limits.Defaults(production))
//
// Install replaces gql.Use(extension.Introspection{}) and
// gql.Use(extension.AutomaticPersistedQuery{...}): it adds them itself
// according to the Config. Extensions returns the handler extensions alone,
// for a server that sets the suggestion options itself.
//
// The request body is bounded before any of this runs: the server wraps the
// handler in http.MaxBytesHandler (1 MiB), so no query text, variables or
// extensions larger than that are ever decoded.
//
// # Errors
//
// Every rejection is a GraphQL error (no data) whose extensions.code is one
// of:
//
//   - BAD_REQUEST: the query text is longer than MaxQueryLength characters;
//     the operation uses __schema or __type while introspection is off; an
//     automatic persisted query extension is malformed, of an unknown
//     version, or its hash does not match the query sent with it.
//   - QUERY_TOO_COMPLEX: more than MaxTokens tokens, fields nested deeper
//     than MaxDepth, more than MaxAliases aliases, or a cost above
//     MaxComplexity.
//   - BAD_USER_INPUT, with extensions.field "first" or "last": a page size
//     above MaxPageSize. The message reads "first: must be at most 100",
//     like the API's other input errors.
//   - PERSISTED_QUERY_NOT_FOUND (message "PersistedQueryNotFound", gqlgen's
//     own): the client sent only the hash of a query the server does not
//     hold; it must send the query with its hash.
//
// The code is set on the error where it is made, so it is there whatever
// error presenter the server uses. The error messages give the measured
// value and the limit, and nothing else. BAD_REQUEST, QUERY_TOO_COMPLEX and
// BAD_USER_INPUT are registered with gqlgen as protocol errors, so these
// rejections are answered with HTTP 422 (400 when the client accepts
// application/graphql-response+json), as gqlgen's parse and validation
// errors are. PERSISTED_QUERY_NOT_FOUND keeps gqlgen's status, 200.
//
// # Where each limit runs
//
// gqlgen builds an operation in this order: operation parameter mutators
// (raw query text, variables and extensions), then parsing and validation
// (cached by query text), variable coercion, and operation context mutators
// (parsed document and coerced variables).
//
//   - Query length and tokens: an OperationParameterMutator, before the
//     parser sees the text. Tokens are counted with gqlparser's lexer, which
//     stops at the first token over the limit. gqlgen's own parser token
//     limit (Server.SetParserTokenLimit) is not used: it fails with
//     GRAPHQL_PARSE_FAILED, not QUERY_TOO_COMPLEX.
//   - Automatic persisted queries: the same mutator wraps gqlgen's
//     extension.AutomaticPersistedQuery. The text a client sends with its
//     hash is checked before it is stored, so the cache only ever holds
//     queries within the limits; a text found by hash is checked again.
//   - Introspection, page size, depth, aliases and cost: an
//     OperationContextMutator, after validation, on the selected operation
//     with the coerced variables. One walk measures everything; its results
//     are kept in the operation's stats (see GetStats).
//   - Introspection also decides whether gqlgen's own introspection
//     resolvers run: Install adds extension.Introspection only when
//     Config.Introspection is set. The check above still rejects __schema
//     and __type with a coded error before execution, where gqlgen alone
//     fails the field with a plain "introspection disabled" error, which
//     the API's error presenter reports as INTERNAL.
//   - Suggestions: gqlgen's Server.SetDisableSuggestion only covers two
//     validation rules (FieldsOnCorrectType, ScalarLeafs). Install also
//     swaps in the suggestion-free variants of KnownArgumentNames,
//     KnownTypeNames and ValuesOfCorrectType (Server.SetValidationRulesFn),
//     and a ResponseInterceptor cuts any remaining " Did you mean …?" from
//     error messages, whatever produced them.
//
// # What is measured
//
// The walk follows the selected operation through inline fragments and
// fragment spreads. Fields skipped by @skip(if: true) or @include(if:
// false) are left out. A fragment spread a second time in the same
// selection set counts once, as gqlgen collects it once; a fragment spread
// in different places counts in each. Fragment results are memoized, so
// fragments that spread each other many times over cost linear time, and a
// fragment cycle (which validation rejects anyway) ends the walk there.
//
// Depth is the number of fields on the longest path: { me { id } } is 2
// deep. Fragments add no level of their own. The subtree of an
// introspection field (__schema, __type) counts as one level and no cost:
// gqlparser's MaxIntrospectionDepth rule bounds it, and the GraphiQL
// introspection query nests further than any real query should.
//
// Aliases are the fields whose response name differs from the field name,
// counted in the operation as expanded by its fragments (a fragment with
// three aliases spread in four places counts twelve).
//
// # The cost model
//
// The cost estimates how many objects the server may load. Leaf fields
// (scalars and enums, lists of them, __typename) cost nothing. A field with
// a selection set costs, for each object it may return, one plus the cost
// of its selection set:
//
//	cost(field) = count(field) × (1 + cost(selection set))
//
// count is 1 for a field of a single object. For a list field it is:
//
//   - inside a connection — a list field (edges, nodes) directly in the
//     selection set of a field that takes a first or last Int argument —
//     the page size: first or last (the larger if both are given; negative
//     counts as 0), or AssumedPageSize (100) when neither is given;
//   - for a plain list that takes first or last itself, that page size;
//   - otherwise the length of the longest list the field is given as an
//     argument (Query.nodes(ids:) loads one object per ID);
//   - otherwise AssumedListSize (5): unpaginated edges such as
//     User.divisions are short.
//
// The connection object itself, pageInfo and other single objects cost 1.
// Examples (the default MaxComplexity is 1000):
//
//	users(first: 100) { edges { node { id } } }
//	    1 + 100×(1 + 1) = 201
//	users(first: 100) { edges { node { role { name } divisions { name } } } }
//	    1 + 100×(1 + 1 + 1 + 5×1) = 801
//	users(first: 100) { edges { node { divisions {
//	    members(first: 100) { edges { node { id } } } } } } }
//	    1 + 100×(1 + 1 + 5×(1 + 1 + 100×(1 + 1))) = 101201
//
// so a full page of users with their role and divisions is allowed, and
// the users of every division of every user is not. Page sizes come from
// literals, variables or their defaults. A field selected more than once
// at the same level is counted each time, although gqlgen resolves it
// once: there the estimate errs high. Sums and products saturate instead
// of overflowing.
//
// The assumed sizes are estimates, not bounds: the entgql resolvers return
// every row of a connection queried without first or last, and a plain
// list edge as long as the data makes it. Only MaxPageSize caps what a
// client can ask for.
//
// # Zero values
//
// A limit of 0 or less is not enforced, and an APQCacheSize of 0 or less
// turns automatic persisted queries off. Defaults gives the values meant
// for the server.
package limits
