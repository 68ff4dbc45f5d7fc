package input

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/internal/apierr"
)

// Text refuses, in every string an operation's arguments hold (input
// fields, filters, search text, credentials, the strings inside JSON
// settings…):
//
//   - NUL and the other control characters; tab and line breaks are
//     allowed only in multi-line text: descriptions (and filters on them),
//     and the values of JSON settings and credentials;
//   - in single-line text (names, emails, phones, passwords, tokens…): line
//     breaks (also U+2028, U+2029) and the controls of bidirectional text
//     (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), which make a
//     name display as something it is not.
//
// Every offending string is reported at once, each as a BAD_USER_INPUT
// error naming its field ("firstName", "where.or.1.emailHasPrefix"), on
// the root field whose arguments hold it; no field of the operation runs.
// A subscription (one root field, which runs without root field
// interceptors) is refused before it starts, with its first offending
// field.
type Text struct {
	schema *ast.Schema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.RootFieldInterceptor
} = (*Text)(nil)

// ExtensionName names the extension.
func (*Text) ExtensionName() string { return "InputText" }

// Validate learns the input types of the schema.
func (t *Text) Validate(s graphql.ExecutableSchema) error {
	t.schema = s.Schema()
	return nil
}

const textExtension = "InputText"

// refusals are the errors of an operation, by root field.
type refusals map[string][]*apierr.Error

// MutateOperationContext checks every string of the operation's arguments.
func (t *Text) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	r := refusals{}
	Arguments(oc, func(a Argument) (any, bool) {
		prefix := a.Arg.Name
		if prefix == "input" {
			// The input object is the argument; its fields are what the
			// client filled in (as graph's error presenter reports them).
			prefix = ""
		}
		t.value(r, a.Root, prefix, a.Def.Type, a.Value, false, false)
		return nil, false
	})
	if len(r) == 0 {
		return nil
	}
	for _, errs := range r {
		slices.SortFunc(errs, func(a, b *apierr.Error) int { return strings.Compare(a.Field, b.Field) })
	}
	if oc.Operation.Operation == ast.Subscription {
		// A subscription's root field runs without the root field
		// interceptors: refuse it here, with its first offending field.
		for _, errs := range r {
			e := errs[0]
			return &gqlerror.Error{Message: e.Error(), Extensions: e.Extensions()}
		}
	}
	oc.Stats.SetExtension(textExtension, r)
	return nil
}

// InterceptRootField answers a refused operation: each root field reports
// the errors of its arguments, and none runs.
func (t *Text) InterceptRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	r, _ := graphql.GetOperationContext(ctx).Stats.GetExtension(textExtension).(refusals)
	if r == nil {
		return next(ctx)
	}
	if rc := graphql.GetRootFieldContext(ctx); rc != nil {
		name := rc.Field.Alias
		if name == "" {
			name = rc.Field.Name
		}
		for _, e := range r[name] {
			graphql.AddError(ctx, &gqlerror.Error{Err: e, Message: e.Error(), Path: ast.Path{ast.PathName(name)}})
		}
	}
	return graphql.Null
}

// value checks v, of type typ, at field. free is set inside a JSON value
// (the Map scalar), whose strings may span lines.
func (t *Text) value(r refusals, root, field string, typ *ast.Type, v any, multi, free bool) {
	switch x := v.(type) {
	case string:
		if msg := check(x, multi || free); msg != "" {
			r[root] = append(r[root], apierr.Input(field, "%s", msg))
		}
	case []any:
		elem := typ
		if typ != nil && typ.Elem != nil {
			elem = typ.Elem
		}
		for i, e := range x {
			t.value(r, root, join(field, strconv.Itoa(i)), elem, e, multi, free)
		}
	case map[string]any:
		var def *ast.Definition
		if typ != nil && !free {
			def = t.schema.Types[typ.Name()]
		}
		for k, e := range x {
			if def == nil || def.Kind != ast.InputObject {
				// A JSON object: its keys are single-line, its values free.
				if msg := check(k, false); msg != "" {
					r[root] = append(r[root], apierr.Input(join(field, k), "%s", msg))
				}
				t.value(r, root, join(field, k), nil, e, false, true)
				continue
			}
			if fd := def.Fields.ForName(k); fd != nil {
				t.value(r, root, join(field, k), fd.Type, e, multiLine(k), false)
			}
		}
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// multiLine reports whether the input field name holds text that may span
// lines: a description, or a filter on one (descriptionContains…).
func multiLine(name string) bool { return strings.HasPrefix(name, "description") }

// Check returns why the text s is refused, or "": control characters, and
// unless multi (text that may span lines) line breaks, tabs and the
// controls of bidirectional text. ent's validators apply it too, to text
// that does not come through GraphQL.
func Check(s string, multi bool) string { return check(s, multi) }

func check(s string, multi bool) string {
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			if !multi {
				return "must be a single line"
			}
			if r == '\u0085' {
				return "must not contain control characters"
			}
		case r == '\t':
			if !multi {
				return "must not contain tabs"
			}
		case unicode.IsControl(r):
			return "must not contain control characters"
		case !multi && bidi(r):
			return "must not contain bidirectional text controls"
		}
	}
	return ""
}

// bidi reports whether r controls the direction of text.
func bidi(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' || r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}
