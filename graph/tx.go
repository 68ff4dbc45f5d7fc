package graph

import (
	"context"
	"fmt"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/ent"
)

// Transactional runs every mutation operation in one database transaction:
// its fields run one after the other, and the first error rolls back what
// the others did. An operation with a field that keeps its own
// transactions (login, second factors, password changes: see
// ownTransactions) runs without one.
type Transactional struct{ Client *ent.Client }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.ResponseInterceptor
} = Transactional{}

// ExtensionName names the extension.
func (Transactional) ExtensionName() string { return "Transactional" }

// Validate accepts any schema.
func (Transactional) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext keeps the resolvers of a mutation from using its
// transaction at the same time.
func (Transactional) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if needsTx(oc.Operation) {
		previous := oc.ResolverMiddleware
		var mu sync.Mutex
		oc.ResolverMiddleware = func(ctx context.Context, next graphql.Resolver) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			return previous(ctx, next)
		}
	}
	return nil
}

// InterceptResponse opens the transaction, and commits it only when no
// field failed.
func (t Transactional) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	op := graphql.GetOperationContext(ctx).Operation
	if !needsTx(op) {
		return next(ctx)
	}
	tx, err := t.Client.Tx(ctx)
	if err != nil {
		return failed(ctx, fmt.Errorf("begin transaction: %w", err))
	}
	ctx = ent.NewTxContext(ctx, tx)
	ctx = ent.NewContext(ctx, tx.Client())
	defer func() {
		if r := recover(); r != nil {
			_ = tx.Rollback()
			panic(r)
		}
	}()
	rsp := next(ctx)
	if len(rsp.Errors) > 0 {
		_ = tx.Rollback()
		return &graphql.Response{Errors: rsp.Errors, Extensions: rsp.Extensions}
	}
	if err := tx.Commit(); err != nil {
		return failed(ctx, fmt.Errorf("commit transaction: %w", err))
	}
	return rsp
}

// failed is the response of an operation that failed as a whole.
func failed(ctx context.Context, err error) *graphql.Response {
	graphql.AddError(ctx, err)
	return &graphql.Response{Errors: graphql.GetErrors(ctx)}
}

// ownTransactions are the fields that keep their own transactions: what
// they record must outlive the request's failure (a wrong second-factor
// code still counts), or they hash passwords, which must not hold a
// transaction open.
var ownTransactions = map[string]bool{
	"login": true, "logout": true, "verifyMfa": true, "resendMfaCode": true,
	"acceptInvitation": true, "changeMyPassword": true,
	"beginTotpEnrollment": true, "confirmTotpEnrollment": true, "disableTotp": true,
	"__typename": true,
}

// needsTx reports whether op is a mutation to run in one transaction: one
// with no field that keeps its own.
func needsTx(op *ast.OperationDefinition) bool {
	if op == nil || op.Operation != ast.Mutation {
		return false
	}
	for _, s := range op.SelectionSet {
		if f, ok := s.(*ast.Field); ok && ownTransactions[f.Name] && f.Name != "__typename" {
			return false
		}
	}
	return true
}
