package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/ent"
	"roster/ent/privacy"
	"roster/internal/apierr"
	"roster/internal/auth"
)

// ErrorPresenter returns the presenter that gives every error a stable
// extensions.code. Errors the client should not see the detail of are
// logged to log and shown as "internal error".
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		// Errors gqlgen made itself (parsing, validation, variable
		// coercion) already carry a code and a safe message.
		var own *gqlerror.Error
		if errors.As(err, &own) && own.Err == nil {
			if field, ok := variableField(gqlErr.Path); ok {
				// A variable's value does not fit its type.
				msg := strings.Replace(gqlErr.Message, "must be defined", "is required", 1)
				gqlErr.Message = field + ": " + msg
				setCode(gqlErr, apierr.BadUserInput, field)
			} else if code, ok := gqlErr.Extensions["code"]; !ok || !apierr.Known(apierr.Code(fmt.Sprint(code))) {
				// No code, or one of gqlgen's or entgql's outside the
				// API's vocabulary (INVALID_PAGINATION): the arguments
				// do not fit together.
				setCode(gqlErr, apierr.BadUserInput, backquotedArgument(gqlErr.Message))
			}
			return gqlErr
		}
		e := Classify(ctx, err)
		if field, ok := argumentField(ctx, gqlErr.Path); ok && (e.Code == apierr.Internal || e.Code == apierr.BadUserInput && e.Field == "") {
			// An argument's value could not be read (a malformed ID or
			// cursor, say): the client's mistake, not the server's.
			msg := e.Message
			if e.Code == apierr.Internal {
				msg = "is not valid: " + rootCause(err)
			}
			e = apierr.Input(field, "%s", msg)
		}
		switch {
		case e.Code != apierr.Internal:
		case canceled(ctx, err):
			log.InfoContext(ctx, "request canceled", "path", gqlErr.Path.String(), "err", err)
		default:
			log.ErrorContext(ctx, "request failed", "path", gqlErr.Path.String(), "err", err)
		}
		gqlErr.Message = e.Error()
		gqlErr.Extensions = e.Extensions()
		return gqlErr
	}
}

func setCode(e *gqlerror.Error, code apierr.Code, field string) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	for k, v := range (&apierr.Error{Code: code, Field: field}).Extensions() {
		e.Extensions[k] = v
	}
}

// backquotedArgument returns the first `name` quoted in msg, as entgql
// names the pagination argument its errors are about, or "".
func backquotedArgument(msg string) string {
	_, rest, ok := strings.Cut(msg, "`")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "`")
	if !ok {
		return ""
	}
	return name
}

// Classify maps any error to one of the API's error codes.
func Classify(ctx context.Context, err error) *apierr.Error {
	var (
		api        *apierr.Error
		notFound   *ent.NotFoundError
		validation *ent.ValidationError
		invalid    *apierr.Invalid
	)
	switch {
	case errors.As(err, &api):
		return api
	case errors.Is(err, privacy.Deny):
		if _, err := auth.Require(ctx); err != nil {
			return Classify(ctx, err)
		}
		return apierr.New(apierr.Forbidden, "not allowed")
	case errors.As(err, &notFound):
		return apierr.New(apierr.NotFound, "%s", strings.TrimPrefix(notFound.Error(), "ent: "))
	case errors.As(err, &validation):
		field := apierr.FieldName(validation.Name)
		if errors.As(err, &invalid) {
			return apierr.Input(field, "%s", invalid.Reason)
		}
		if strings.Contains(err.Error(), "missing required") {
			return apierr.Input(field, "is required")
		}
		return apierr.Input(field, "is not valid")
	case ent.IsConstraintError(err):
		return apierr.New(apierr.Conflict, "conflicts with existing data")
	case canceled(ctx, err):
		return apierr.New(apierr.Internal, "request canceled")
	}
	return apierr.New(apierr.Internal, "internal error")
}

// canceled reports whether err ended a request its client left (a closed
// connection, a completed subscription): the error is the cancellation,
// or the database driver's giving up on a statement because of it. Not
// the server's failure.
func canceled(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled)
}

// variableField returns the input field a variable error is about, from its
// path ["variable", name, field, ...].
func variableField(path ast.Path) (string, bool) {
	if len(path) < 2 || path[0] != ast.PathName("variable") {
		return "", false
	}
	if len(path) == 2 {
		return fmt.Sprint(path[1]), true
	}
	return joinPath(path[2:]), true
}

// argumentField returns the argument (and input field) an error is about
// when it was raised while reading the arguments of the field in ctx: its
// path then goes on past the field's own path.
func argumentField(ctx context.Context, path ast.Path) (string, bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return "", false
	}
	own := fc.Path()
	if len(path) <= len(own) || path[:len(own)].String() != own.String() {
		return "", false
	}
	rest := path[len(own):]
	if _, isIndex := rest[0].(ast.PathIndex); isIndex {
		return "", false
	}
	// "input.firstName" is reported as "firstName": the input object is
	// the argument, its fields are what the client filled in.
	if len(rest) > 1 && rest[0] == ast.PathName("input") {
		rest = rest[1:]
	}
	return joinPath(rest), true
}

func joinPath(p ast.Path) string {
	parts := make([]string, len(p))
	for i, e := range p {
		parts[i] = fmt.Sprint(e)
	}
	return strings.Join(parts, ".")
}

// rootCause describes the innermost error of err's chain.
func rootCause(err error) string {
	var num *strconv.NumError
	if errors.As(err, &num) {
		return "not an ID"
	}
	for errors.Unwrap(err) != nil {
		err = errors.Unwrap(err)
	}
	return err.Error()
}

// ErrorLists reports each error of an apierr.List that a mutation's field
// returns (every invalid field of an input) as an error of its own, each
// with its extensions.field.
type ErrorLists struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = ErrorLists{}

// ExtensionName names the extension.
func (ErrorLists) ExtensionName() string { return "ErrorLists" }

// Validate accepts any schema.
func (ErrorLists) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext splits the lists the fields of a mutation return.
func (ErrorLists) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return nil
	}
	previous := oc.ResolverMiddleware
	oc.ResolverMiddleware = func(ctx context.Context, next graphql.Resolver) (any, error) {
		res, err := previous(ctx, next)
		var list apierr.List
		if err != nil && errors.As(err, &list) && len(list) > 1 {
			out := make(gqlerror.List, len(list))
			for i, e := range list {
				out[i] = &gqlerror.Error{Err: e, Message: e.Error()}
			}
			return res, out
		}
		return res, err
	}
	return nil
}
