package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/ent"
	"roster/internal/apierr"
	"roster/internal/store"
)

// standalone are the mutation fields that must be their operation's only
// field, because they count attempts: against rate limits, whose counts
// commit on their own before the operation's transaction begins, and, for
// verifyMfa, against the login challenge, in the operation's transaction,
// which then commits even when the field fails (commitOnFailure): a wrong
// code must count.
var standalone = map[string]struct{ commitOnFailure bool }{
	"login":                {},
	"verifyMfa":            {commitOnFailure: true},
	"changeMyPassword":     {},
	"disableTotp":          {},
	"acceptInvitation":     {},
	"requestPasswordReset": {},
	"resetPassword":        {},
}

// Transactional runs every mutation operation, whatever its transport, in
// exactly one database transaction (store.Transact): its fields run one
// after the other, and it commits when none failed; otherwise nothing it
// did is kept, unless its only field is standalone and commits on failure
// (then only an unexpected, INTERNAL, failure rolls it back).
type Transactional struct {
	Client *ent.Client
	Log    *slog.Logger
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.OperationInterceptor
} = Transactional{}

// ExtensionName names the extension.
func (Transactional) ExtensionName() string { return "Transactional" }

// Validate accepts any schema.
func (Transactional) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses, before anything runs, a mutation that
// combines a standalone field with other fields, and keeps the resolvers
// of a mutation from using its transaction at the same time.
func (Transactional) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return nil
	}
	if err := checkStandalone(oc.Operation.SelectionSet); err != nil {
		gqlErr := err.GraphQL()
		gqlErr.Err = err
		return gqlErr
	}
	previous := oc.ResolverMiddleware
	var mu sync.Mutex
	oc.ResolverMiddleware = func(ctx context.Context, next graphql.Resolver) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		return previous(ctx, next)
	}
	return nil
}

// checkStandalone refuses a standalone field that is not its operation's
// only field (__typename aside), whether other fields come beside it,
// through fragments, or as aliases of the same field.
func checkStandalone(set ast.SelectionSet) *apierr.Error {
	names, alone := rootFields(set)
	if len(alone) == 0 || len(names) == 1 {
		return nil
	}
	sort.Strings(names)
	return apierr.Input(alone[0], "must be sent alone, in a mutation of its own (this one has %s)", strings.Join(names, ", "))
}

// rootFields lists the names of the fields set selects (through fragments,
// __typename aside), and those of them that are standalone.
func rootFields(set ast.SelectionSet) (names, alone []string) {
	for _, s := range set {
		var sub ast.SelectionSet
		switch s := s.(type) {
		case *ast.Field:
			if s.Name != "__typename" {
				names = append(names, s.Name)
				if _, ok := standalone[s.Name]; ok {
					alone = append(alone, s.Name)
				}
			}
		case *ast.InlineFragment:
			sub = s.SelectionSet
		case *ast.FragmentSpread:
			if s.Definition != nil {
				sub = s.Definition.SelectionSet
			}
		}
		n, a := rootFields(sub)
		names, alone = append(names, n...), append(alone, a...)
	}
	return names, alone
}

// errRollBack ends the transaction of an operation that failed.
var errRollBack = errors.New("the operation failed")

// InterceptOperation runs a mutation operation in its transaction.
func (t Transactional) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return next(ctx)
	}
	// An operation with a standalone field has no other.
	_, alone := rootFields(oc.Operation.SelectionSet)
	commitOnFailure := len(alone) > 0 && standalone[alone[0]].commitOnFailure
	var rsp *graphql.Response
	err := store.Transact(ctx, t.Client, func(ctx context.Context) error {
		rsp = next(ctx)(ctx)
		switch {
		case rsp == nil: // the client went away
			return errRollBack
		case len(rsp.Errors) == 0:
			return nil
		}
		for _, e := range rsp.Errors {
			if store.Retryable(e) {
				return e
			}
		}
		if commitOnFailure && !unexpected(rsp.Errors) {
			return nil
		}
		return errRollBack
	})
	switch {
	case err == nil:
	case rsp != nil && len(rsp.Errors) > 0 && (errors.Is(err, errRollBack) || store.Retryable(err)):
		// A field failed: its errors tell why, and no data is kept.
		rsp = &graphql.Response{Errors: rsp.Errors, Extensions: rsp.Extensions}
	case rsp == nil && errors.Is(err, errRollBack):
	default: // beginning or committing failed
		if t.Log != nil {
			t.Log.ErrorContext(ctx, "mutation transaction", "err", err)
		}
		gqlErr := apierr.New(apierr.Internal, "internal error").GraphQL()
		gqlErr.Err = fmt.Errorf("mutation transaction: %w", err)
		rsp = &graphql.Response{Errors: gqlerror.List{gqlErr}}
	}
	return graphql.OneShot(rsp)
}

// unexpected reports whether one of errs is INTERNAL.
func unexpected(errs gqlerror.List) bool {
	for _, e := range errs {
		if c := fmt.Sprint(e.Extensions["code"]); c == string(apierr.Internal) || c == "<nil>" {
			return true
		}
	}
	return false
}
