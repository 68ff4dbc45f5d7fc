package pagination

import (
	"context"
	"encoding/json"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/internal/apierr"
)

// Arguments is a handler extension that checks the page arguments of every
// connection field of an operation before it runs, nested ones included
// (ent reads those while loading their parents): first and last must not
// be negative nor given together, and a cursor must be one of this API,
// taken in the order the connection is asked for. A refusal is
// BAD_USER_INPUT with extensions.field naming the argument.
type Arguments struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Arguments{}

// ExtensionName names the extension.
func (Arguments) ExtensionName() string { return "PageArguments" }

// Validate accepts any schema.
func (Arguments) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses the operation at its first bad page
// argument.
func (Arguments) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	w := &walker{doc: oc.Doc, vars: oc.Variables, seen: map[string]bool{}}
	return w.selectionSet(oc.Operation.SelectionSet)
}

type walker struct {
	doc  *ast.QueryDocument
	vars map[string]any
	seen map[string]bool
}

func (w *walker) selectionSet(ss ast.SelectionSet) *gqlerror.Error {
	for _, s := range ss {
		var err *gqlerror.Error
		switch s := s.(type) {
		case *ast.Field:
			if err = w.field(s); err == nil {
				err = w.selectionSet(s.SelectionSet)
			}
		case *ast.InlineFragment:
			err = w.selectionSet(s.SelectionSet)
		case *ast.FragmentSpread:
			if !w.seen[s.Name] {
				w.seen[s.Name] = true
				if f := w.doc.Fragments.ForName(s.Name); f != nil {
					err = w.selectionSet(f.SelectionSet)
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// field checks the page arguments of f, if it is a connection.
func (w *walker) field(f *ast.Field) *gqlerror.Error {
	if f.Definition == nil || f.Definition.Arguments.ForName("after") == nil {
		return nil
	}
	args := f.ArgumentMap(w.vars)
	for _, name := range [...]string{"first", "last"} {
		if n, ok := toInt(args[name]); ok && n < 0 {
			return w.refuse(f, apierr.Input(name, "must not be negative"))
		}
	}
	if args["first"] != nil && args["last"] != nil {
		return w.refuse(f, apierr.Input("last", "cannot be given with first: page forwards with first and after, or backwards with last and before"))
	}
	for _, name := range [...]string{"after", "before"} {
		if v := args[name]; v != nil {
			if _, err := readCursor(name, v, orderField(args)); err != nil {
				return w.refuse(f, err)
			}
		}
	}
	return nil
}

// refuse turns e, about an argument of f, into the operation's error.
func (w *walker) refuse(f *ast.Field, e *apierr.Error) *gqlerror.Error {
	err := e.GraphQL()
	pos := f.Position
	if a := f.Arguments.ForName(e.Field); a != nil && a.Value != nil {
		pos = a.Value.Position
	}
	if pos != nil && pos.Line > 0 {
		err.Locations = []gqlerror.Location{{Line: pos.Line, Column: pos.Column}}
	}
	return err
}

// toInt reads an Int argument, given in the document or as a variable.
func toInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case float64:
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	}
	return 0, false
}
