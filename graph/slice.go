package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// concurrentFields are the fields of an object whose resolvers run on
// goroutines of their own (generated: concurrentFieldsOf).
type concurrentFields map[string]bool

// marshalSlice marshals a list of objects, as
// graphql.MarshalSliceConcurrently does, but in place when no field selected
// below it (sel, at any depth) is resolved concurrently: the elements are
// then values read from memory, and a goroutine per element would cost more
// than the reading. Otherwise each element gets a goroutine, so that the
// resolvers under them overlap.
func marshalSlice(ctx context.Context, sel ast.SelectionSet, length int, workerLimit int64, omitPanicHandler bool, marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	if length > 1 && selectsConcurrent(sel) {
		return graphql.MarshalSliceConcurrently(ctx, length, workerLimit, omitPanicHandler, marshalElement)
	}
	ret := make(graphql.Array, length)
	// The elements' field contexts (their index, for the path of an
	// error), allocated together.
	fcs := make([]graphql.FieldContext, length)
	index := make([]int, length)
	for i := range length {
		index[i] = i
		fcs[i].Index = &index[i]
		elemCtx := graphql.WithFieldContext(ctx, &fcs[i])
		if omitPanicHandler {
			ret[i] = marshalElement(elemCtx, i)
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					graphql.AddError(elemCtx, graphql.Recover(elemCtx, r))
					ret[i] = graphql.Null
				}
			}()
			ret[i] = marshalElement(elemCtx, i)
		}()
	}
	return ret
}

// selectsConcurrent reports whether sel, its fragments and the selections
// of its fields select a concurrently resolved field. A field of an
// interface or union counts as one: which object it resolves on is known
// only then.
func selectsConcurrent(sel ast.SelectionSet) bool {
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if s.ObjectDefinition == nil || s.ObjectDefinition.Kind != ast.Object && s.Name != "__typename" {
				return true
			}
			if concurrentFieldsOf[s.ObjectDefinition.Name][s.Name] || selectsConcurrent(s.SelectionSet) {
				return true
			}
		case *ast.InlineFragment:
			if selectsConcurrent(s.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition == nil || selectsConcurrent(s.Definition.SelectionSet) {
				return true
			}
		}
	}
	return false
}
