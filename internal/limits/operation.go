package limits

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/internal/apierr"
)

// Stats are the measures of an operation that passed the limits.
type Stats struct {
	Depth   int
	Aliases int
	Cost    int
}

const statsExtension = "Limits"

// GetStats returns the measures of the operation of ctx, or nil before they
// were taken.
func GetStats(ctx context.Context) *Stats {
	if !graphql.HasOperationContext(ctx) {
		return nil
	}
	s, _ := graphql.GetOperationContext(ctx).Stats.GetExtension(statsExtension).(*Stats)
	return s
}

// operationLimits checks the validated operation.
type operationLimits struct {
	maxDepth      int
	maxAliases    int
	maxComplexity int
	maxPageSize   int
	introspection bool
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*operationLimits)(nil)

// ExtensionName names the extension.
func (*operationLimits) ExtensionName() string { return "Limits" }

// Validate accepts any schema.
func (*operationLimits) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation and refuses it when it is
// over a limit.
func (o *operationLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m, err := o.check(oc.Doc, oc.Operation, oc.Variables)
	if err != nil {
		return err
	}
	oc.Stats.SetExtension(statsExtension, &Stats{Depth: m.depth, Aliases: m.aliases, Cost: m.cost})
	return nil
}

// check measures op and returns the first limit it breaks, in this order:
// introspection, page size, depth, aliases, cost.
func (o *operationLimits) check(doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any) (measure, *gqlerror.Error) {
	w := newWalker(doc, vars, o.maxPageSize)
	m := w.selectionSet(op.SelectionSet, 0)
	switch {
	case !o.introspection && w.introspection != nil:
		return m, rejectAt(w.introspection.Position, apierr.BadRequest, "introspection is disabled")
	case w.pageSize != nil:
		return m, w.pageSize
	case o.maxDepth > 0 && m.depth > o.maxDepth:
		return m, reject(apierr.QueryTooComplex, "query is too complex: fields nested %d deep, at most %d allowed", m.depth, o.maxDepth)
	case o.maxAliases > 0 && m.aliases > o.maxAliases:
		return m, reject(apierr.QueryTooComplex, "query is too complex: %d aliases, at most %d allowed", m.aliases, o.maxAliases)
	case o.maxComplexity > 0 && m.cost > o.maxComplexity:
		return m, reject(apierr.QueryTooComplex, "query is too complex: cost %s, at most %d allowed", costString(m.cost), o.maxComplexity)
	}
	return m, nil
}

func costString(c int) string {
	if c == math.MaxInt {
		return "beyond counting"
	}
	return strconv.Itoa(c)
}

// measure is what a selection set adds up to.
type measure struct {
	depth, aliases, cost int
}

type fragmentKey struct {
	name string
	page int
}

// walker measures an operation; see the package documentation.
type walker struct {
	doc         *ast.QueryDocument
	vars        map[string]any
	maxPageSize int

	memo   map[fragmentKey]measure
	active map[string]bool

	// introspection is the first __schema or __type field met.
	introspection *ast.Field
	// pageSize is the error about the first page size over the limit.
	pageSize *gqlerror.Error
}

func newWalker(doc *ast.QueryDocument, vars map[string]any, maxPageSize int) *walker {
	return &walker{
		doc:         doc,
		vars:        vars,
		maxPageSize: maxPageSize,
		memo:        map[fragmentKey]measure{},
		active:      map[string]bool{},
	}
}

// selectionSet measures ss. page is the page size when ss is the selection
// set of a connection, else 0.
func (w *walker) selectionSet(ss ast.SelectionSet, page int) measure {
	var m measure
	seen := map[string]bool{}
	w.level(ss, page, seen, &m)
	return m
}

// level adds to m the selections of ss, one level of the response: inline
// fragments and fragment spreads are part of the level they are in. seen
// holds the fragments already spread in this level.
func (w *walker) level(ss ast.SelectionSet, page int, seen map[string]bool, m *measure) {
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			if w.skipped(s.Directives) {
				continue
			}
			m.add(w.field(s, page))
		case *ast.InlineFragment:
			if w.skipped(s.Directives) {
				continue
			}
			w.level(s.SelectionSet, page, seen, m)
		case *ast.FragmentSpread:
			if w.skipped(s.Directives) || seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			m.add(w.fragment(s, page))
		}
	}
}

// add combines a sibling's measure into m.
func (m *measure) add(o measure) {
	m.depth = max(m.depth, o.depth)
	m.aliases = addSat(m.aliases, o.aliases)
	m.cost = addSat(m.cost, o.cost)
}

func (w *walker) fragment(s *ast.FragmentSpread, page int) measure {
	def := s.Definition
	if def == nil && w.doc != nil {
		def = w.doc.Fragments.ForName(s.Name)
	}
	if def == nil || w.active[s.Name] {
		// Unknown, or a cycle: validation reports both.
		return measure{}
	}
	key := fragmentKey{s.Name, page}
	if m, ok := w.memo[key]; ok {
		return m
	}
	w.active[s.Name] = true
	m := w.selectionSet(def.SelectionSet, page)
	delete(w.active, s.Name)
	w.memo[key] = m
	return m
}

// field measures f, a field of a selection set whose page size is page.
func (w *walker) field(f *ast.Field, page int) measure {
	var m measure
	if f.Alias != "" && f.Alias != f.Name {
		m.aliases = 1
	}
	isList := f.Definition != nil && f.Definition.Type != nil && f.Definition.Type.Elem != nil
	childPage := 0
	if f.Definition != nil {
		childPage = w.pageArguments(f)
	}
	count := 1
	switch {
	case isList && childPage != 0:
		// A paginated plain list: its own items are the page.
		count, childPage = max(childPage, 0), 0
	case isList && page > 0:
		count = page
	case isList && page < 0:
		count = 0
	case isList:
		count = w.listArgument(f)
	}
	child := w.selectionSet(f.SelectionSet, childPage)
	m.aliases = addSat(m.aliases, child.aliases)
	if f.Name == "__schema" || f.Name == "__type" {
		if w.introspection == nil {
			w.introspection = f
		}
		m.depth = 1
		return m
	}
	m.depth = child.depth + 1
	if len(f.SelectionSet) == 0 {
		return m
	}
	m.cost = mulSat(count, addSat(1, child.cost))
	return m
}

// pageArguments checks the first and last arguments of f against the page
// size limit, and returns the page size its list fields count with: -1 for
// an empty page, 0 when f is not a connection.
func (w *walker) pageArguments(f *ast.Field) int {
	page, connection, given := 0, false, false
	for _, name := range [...]string{"first", "last"} {
		def := f.Definition.Arguments.ForName(name)
		if def == nil || def.Type == nil || def.Type.NamedType != "Int" {
			continue
		}
		connection = true
		n, pos, ok := w.intArgument(f, def)
		if !ok {
			continue
		}
		given = true
		if w.maxPageSize > 0 && n > w.maxPageSize && w.pageSize == nil {
			w.pageSize = rejectAt(pos, apierr.BadUserInput, "%s: must be at most %d", name, w.maxPageSize)
			w.pageSize.Extensions["field"] = name
		}
		page = max(page, n)
	}
	switch {
	case !connection:
		return 0
	case !given:
		return AssumedPageSize
	case page == 0:
		return -1
	}
	return page
}

// intArgument returns the value of f's argument def (given, from a
// variable, or its default), and whether it has one.
func (w *walker) intArgument(f *ast.Field, def *ast.ArgumentDefinition) (int, *ast.Position, bool) {
	if arg := f.Arguments.ForName(def.Name); arg != nil && arg.Value != nil {
		if v, ok := w.value(arg.Value); ok && v != nil {
			n, ok := toInt(v)
			return n, arg.Value.Position, ok
		}
		return 0, nil, false
	}
	if def.DefaultValue != nil {
		if v, ok := w.value(def.DefaultValue); ok && v != nil {
			n, ok := toInt(v)
			return n, f.Position, ok
		}
	}
	return 0, nil, false
}

// value returns the value of v, reporting false when it cannot tell.
func (w *walker) value(v *ast.Value) (any, bool) {
	switch v.Kind {
	case ast.Variable:
		if val, ok := w.vars[v.Raw]; ok {
			return val, true
		}
		if v.VariableDefinition != nil && v.VariableDefinition.DefaultValue != nil {
			return w.value(v.VariableDefinition.DefaultValue)
		}
		return nil, true
	case ast.IntValue:
		n, err := strconv.ParseInt(v.Raw, 10, 64)
		if err != nil {
			// Out of range: validation refuses it, but it is large.
			return int64(math.MaxInt64), true
		}
		return n, true
	case ast.BooleanValue:
		return v.Raw == "true", true
	case ast.NullValue:
		return nil, true
	case ast.ListValue:
		return len(v.Children), true
	}
	return nil, false
}

// listArgument returns the length of the longest list f is given as an
// argument, or AssumedListSize when it has none.
func (w *walker) listArgument(f *ast.Field) int {
	longest, found := 0, false
	for _, arg := range f.Arguments {
		if arg.Value == nil {
			continue
		}
		n, ok := 0, false
		switch arg.Value.Kind {
		case ast.ListValue:
			n, ok = len(arg.Value.Children), true
		case ast.Variable:
			if val, has := w.vars[arg.Value.Raw]; has && val != nil {
				if rv := reflect.ValueOf(val); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
					n, ok = rv.Len(), true
				}
			}
		}
		if ok {
			longest, found = max(longest, n), true
		}
	}
	if !found {
		return AssumedListSize
	}
	return longest
}

// skipped reports whether @skip or @include leave the selection out.
func (w *walker) skipped(dirs ast.DirectiveList) bool {
	if d := dirs.ForName("skip"); d != nil {
		if b, ok := w.condition(d); ok && b {
			return true
		}
	}
	if d := dirs.ForName("include"); d != nil {
		if b, ok := w.condition(d); ok && !b {
			return true
		}
	}
	return false
}

func (w *walker) condition(d *ast.Directive) (bool, bool) {
	arg := d.Arguments.ForName("if")
	if arg == nil || arg.Value == nil {
		return false, false
	}
	v, ok := w.value(arg.Value)
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	return b, ok
}

// toInt converts a coerced Int value, saturating.
func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int32:
		return int(n), true
	case int64:
		return clampInt64(n), true
	case float64:
		if math.IsNaN(n) {
			return 0, false
		}
		if n >= math.MaxInt64 {
			return math.MaxInt, true
		}
		if n <= math.MinInt64 {
			return math.MinInt, true
		}
		return clampInt64(int64(n)), true
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return clampInt64(i), true
		}
		if f, err := n.Float64(); err == nil {
			return toInt(f)
		}
	case string:
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			return clampInt64(i), true
		}
	}
	return 0, false
}

func clampInt64(n int64) int {
	if n > int64(math.MaxInt) {
		return math.MaxInt
	}
	if n < int64(math.MinInt) {
		return math.MinInt
	}
	return int(n)
}

// addSat adds non-negative a and b, saturating at math.MaxInt.
func addSat(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

// mulSat multiplies non-negative a and b, saturating at math.MaxInt.
func mulSat(a, b int) int {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > math.MaxInt/b {
		return math.MaxInt
	}
	return a * b
}
