package access

import (
	"context"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/internal/apierr"
	"roster/internal/input"
	"roster/internal/viewer"
)

// WhereInputs is the one place every filter argument of an operation (the
// `where` of a connection, of type …WhereInput) passes through, whichever
// field takes it, at the root or nested in another object, and whether its
// value is written in the document or sent as variables. Before anything
// runs:
//
//   - a filter nested deeper than MaxDepth, or holding more than
//     MaxPredicates predicates, is refused with BAD_USER_INPUT naming the
//     argument (0 or less: no limit);
//   - for a viewer scoped to their divisions, every user the filter reaches
//     through an edge (`hasMembersWith`, `hasUsersWith`, `hasMembers`…) is
//     confined to the users the viewer may see, so that a filter cannot
//     tell anything of the others. The rows a query returns are confined by
//     the privacy rules (FilterDivisionScope); predicates are not, which is
//     why filters are rewritten here.
//
// Resolvers and ent's field collection both read arguments from the
// operation, so they see the confined filter.
type WhereInputs struct {
	MaxDepth      int
	MaxPredicates int

	schema *ast.Schema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.OperationInterceptor
} = (*WhereInputs)(nil)

// ExtensionName names the extension.
func (*WhereInputs) ExtensionName() string { return "WhereInputs" }

// Validate learns the input types of the schema.
func (w *WhereInputs) Validate(s graphql.ExecutableSchema) error {
	w.schema = s.Schema()
	return nil
}

// MutateOperationContext refuses an operation with a filter over the
// limits.
func (w *WhereInputs) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || w.MaxDepth <= 0 && w.MaxPredicates <= 0 {
		return nil
	}
	var bad *gqlerror.Error
	input.Arguments(oc, func(a input.Argument) (any, bool) {
		typ := a.Def.Type.Name()
		if bad != nil || !w.isWhere(typ) {
			return nil, false
		}
		lim := w.MaxDepth
		if lim <= 0 {
			lim = -1
		}
		depth, preds := w.measure(typ, a.Value, lim)
		switch {
		case w.MaxDepth > 0 && depth > w.MaxDepth:
			bad = badFilter(a.Arg, "filters are nested more than %d deep", w.MaxDepth)
		case w.MaxPredicates > 0 && preds > w.MaxPredicates:
			bad = badFilter(a.Arg, "holds %d predicates, at most %d allowed", preds, w.MaxPredicates)
		}
		return nil, false
	})
	return bad
}

func badFilter(arg *ast.Argument, format string, args ...any) *gqlerror.Error {
	e := apierr.Input(arg.Name, format, args...)
	err := e.GraphQL()
	if arg.Position != nil && arg.Position.Line > 0 {
		err.Locations = []gqlerror.Location{{Line: arg.Position.Line, Column: arg.Position.Column}}
	}
	return err
}

// InterceptOperation confines the filters of a viewer scoped to their
// divisions. It runs last before execution, with the viewer the operation
// runs as.
func (w *WhereInputs) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	v := viewer.FromContext(ctx)
	if v == nil || !v.DivisionScoped || !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil {
		return next(ctx)
	}
	s := &scope{schema: w.schema, visible: visibleUsers(v)}
	input.Arguments(oc, func(a input.Argument) (any, bool) {
		if typ := a.Def.Type.Name(); w.isWhere(typ) {
			return s.filter(typ, a.Value), true
		}
		return nil, false
	})
	return next(ctx)
}

// visibleUsers is the filter of the users a division-scoped viewer may see,
// the rule FilterDivisionScope applies to rows: themselves and whoever
// shares a division with them.
func visibleUsers(v *viewer.Viewer) map[string]any {
	id := strconv.Itoa(v.UserID)
	return map[string]any{"or": []any{
		map[string]any{"id": id},
		map[string]any{"hasDivisionsWith": []any{map[string]any{"hasMembersWith": []any{map[string]any{"id": id}}}}},
	}}
}

// isWhere reports whether the input type named typ is a filter.
func (w *WhereInputs) isWhere(typ string) bool {
	def := w.schema.Types[typ]
	return def != nil && def.Kind == ast.InputObject && strings.HasSuffix(typ, "WhereInput")
}

// connective reports whether a filter's field combines filters of its own
// type rather than following an edge.
func connective(name string) bool { return name == "not" || name == "and" || name == "or" }

// measure returns how deep the filter raw of type typ nests (1 for a
// filter holding no other) and how many predicates it holds: every field
// set counts one, and a list of values (idIn…) one per value. It stops
// descending below limit levels (unless limit is negative).
func (w *WhereInputs) measure(typ string, raw any, limit int) (depth, preds int) {
	m, ok := raw.(map[string]any)
	def := w.schema.Types[typ]
	if !ok || def == nil {
		return 0, 0
	}
	depth = 1
	for k, v := range m {
		if v == nil {
			continue
		}
		fd := def.Fields.ForName(k)
		if fd == nil || fd.Type == nil || !w.isWhere(fd.Type.Name()) {
			if l, ok := v.([]any); ok {
				preds += len(l)
			} else {
				preds++
			}
			continue
		}
		preds++
		if limit == 0 {
			depth = max(depth, 2) // deeper than allowed: no need to look further
			continue
		}
		for _, e := range input.Elems(v) {
			d, p := w.measure(fd.Type.Name(), e, limit-1)
			depth = max(depth, d+1)
			preds += p
		}
	}
	return depth, preds
}

// The filter of users, the type the scope is about.
const userWhere = "UserWhereInput"

// scope rewrites the filters of a division-scoped viewer.
type scope struct {
	schema  *ast.Schema
	visible map[string]any
}

// filter returns raw, a filter of type typ, with every user reached
// through an edge confined to the visible ones. It never changes raw,
// which may be a variable used elsewhere.
func (s *scope) filter(typ string, raw any) any {
	m, ok := raw.(map[string]any)
	def := s.schema.Types[typ]
	if !ok || def == nil {
		return raw
	}
	out := make(map[string]any, len(m))
	var and []any
	for k, v := range m {
		fd := def.Fields.ForName(k)
		if fd == nil || fd.Type == nil || v == nil {
			out[k] = v
			continue
		}
		named := fd.Type.Name()
		if _, flag := v.(bool); flag && named == "Boolean" && s.edgeToUsers(def, k+"With") {
			// hasMembers: true becomes "has a member the viewer may see",
			// false "has none the viewer may see".
			cond := map[string]any{k + "With": []any{s.visible}}
			if !v.(bool) {
				cond = map[string]any{"not": cond}
			}
			and = append(and, cond)
			continue
		}
		if s.schema.Types[named] == nil || s.schema.Types[named].Kind != ast.InputObject {
			out[k] = v
			continue
		}
		toUsers := named == userWhere && !connective(k)
		rewrite := func(e any) any {
			e = s.filter(named, e)
			if toUsers {
				e = map[string]any{"and": []any{e, s.visible}}
			}
			return e
		}
		if l, isList := v.([]any); isList {
			nl := make([]any, len(l))
			for i, e := range l {
				nl[i] = rewrite(e)
			}
			out[k] = nl
		} else {
			out[k] = rewrite(v)
		}
	}
	if len(and) > 0 {
		out["and"] = append(append([]any{}, input.Elems(out["and"])...), and...)
	}
	return out
}

// edgeToUsers reports whether the field name of filter def follows an edge
// to users.
func (s *scope) edgeToUsers(def *ast.Definition, name string) bool {
	fd := def.Fields.ForName(name)
	return fd != nil && fd.Type != nil && fd.Type.Name() == userWhere && !connective(name)
}
