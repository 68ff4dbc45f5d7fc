// Package graph is the GraphQL layer: the gqlgen executor generated from
// ent.graphql and schema.graphql, and resolvers that translate each field to
// ent builders. Rules live in ent (schema hooks and privacy) and in the
// packages that own them, not here.
package graph

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"roster/ent"
	"roster/internal/account"
	"roster/internal/allocation"
	"roster/internal/auth"
	"roster/internal/avatar"
	"roster/internal/realtime"
)

// Resolver is the root resolver; it holds the services resolvers call.
type Resolver struct {
	client  *ent.Client
	auth    *auth.Service
	hub     *realtime.Hub
	account *account.Service
	alloc   *allocation.Service
	avatars *avatar.Store
	// pageSize is the page of a connection queried without first or last.
	pageSize int
}

// NewSchema returns the executable schema of the API.
func NewSchema(client *ent.Client, authn *auth.Service, hub *realtime.Hub, accounts *account.Service, alloc *allocation.Service, avatars *avatar.Store, pageSize int) graphql.ExecutableSchema {
	return NewExecutableSchema(Config{Resolvers: &Resolver{client: client, auth: authn, hub: hub, account: accounts, alloc: alloc, avatars: avatars, pageSize: pageSize}})
}

// page gives a connection queried without first or last its default page:
// the first pageSize items (or all, when pageSize is 0).
func (r *Resolver) page(first, last *int) *int {
	if first == nil && last == nil && r.pageSize > 0 {
		return &r.pageSize
	}
	return first
}

// db returns the client of the request's transaction, if it has one, or the
// root client.
func (r *Resolver) db(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return r.client
}

// pageContext returns the context to paginate the connection field of ctx
// in. ent loads no nodes for a connection whose edges are not selected, and
// then answers pageInfo without cursors and with a guess for hasNextPage;
// when pageInfo is selected without edges, the context asks for edges too
// (the response still holds only what the client selected), so pageInfo
// is computed from the page itself.
func pageContext(ctx context.Context) context.Context {
	pctx, _ := pageInfoOnly(ctx)
	return pctx
}

// pageInfoOnly is pageContext, and reports whether it changed ctx.
func pageInfoOnly(ctx context.Context) (context.Context, bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return ctx, false
	}
	var edges, pageInfo bool
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, nil) {
		edges = edges || f.Name == "edges"
		pageInfo = pageInfo || f.Name == "pageInfo"
	}
	if !pageInfo || edges {
		return ctx, false
	}
	page := *fc
	page.Field.Selections = append(slices.Clip(fc.Field.Selections), &ast.Field{Alias: "edges", Name: "edges"})
	return graphql.WithFieldContext(ctx, &page), true
}
