// Package graph is the GraphQL layer: the gqlgen executor generated from
// ent.graphql and schema.graphql, and resolvers that translate each field to
// ent builders. Rules live in ent (schema hooks and privacy) and in the
// packages that own them, not here.
package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"roster/ent"
	"roster/internal/account"
	"roster/internal/auth"
	"roster/internal/realtime"
)

// Resolver is the root resolver; it holds the services resolvers call.
type Resolver struct {
	client  *ent.Client
	auth    *auth.Service
	hub     *realtime.Hub
	account *account.Service
	// pageSize is the page of a connection queried without first or last.
	pageSize int
}

// NewSchema returns the executable schema of the API.
func NewSchema(client *ent.Client, authn *auth.Service, hub *realtime.Hub, accounts *account.Service, pageSize int) graphql.ExecutableSchema {
	return NewExecutableSchema(Config{Resolvers: &Resolver{client: client, auth: authn, hub: hub, account: accounts, pageSize: pageSize}})
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
