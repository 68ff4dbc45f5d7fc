// Package input checks what clients send, in one place, before an operation
// runs: every argument of every field, at the root or nested, whether its
// value is written in the document or sent as variables. Arguments walks
// them (and lets a check replace a value); Text refuses control characters
// in every string.
package input

import (
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// An Argument is one argument of a field of the operation, with its value.
type Argument struct {
	// Root is the response name of the root field the argument is under.
	Root string
	Arg  *ast.Argument
	Def  *ast.ArgumentDefinition
	// Value is the argument's value as resolvers receive it before
	// unmarshalling: maps, lists, strings, numbers, booleans, nil.
	Value any
}

// Arguments calls fn with every argument of the operation that has a value,
// fragments included. A fragment used in several places is met once, under
// the first root field that uses it. When fn returns a new value, the
// operation is changed, in a copy of its document, to take that value: the
// document itself, which may be cached and shared, is never changed.
func Arguments(oc *graphql.OperationContext, fn func(a Argument) (any, bool)) {
	if oc.Operation == nil {
		return
	}
	r := &rebinder{oc: oc, fn: fn, fragments: map[string]*ast.FragmentDefinition{}}
	ss, changed := r.selectionSet(oc.Operation.SelectionSet, "")
	if !changed && !r.fragmentsChanged {
		return
	}
	op := *oc.Operation
	op.SelectionSet = ss
	doc := *oc.Doc
	doc.Operations = ast.OperationList{&op}
	doc.Fragments = make(ast.FragmentDefinitionList, 0, len(oc.Doc.Fragments))
	for _, f := range oc.Doc.Fragments {
		if nf := r.fragments[f.Name]; nf != nil {
			f = nf
		}
		doc.Fragments = append(doc.Fragments, f)
	}
	oc.Doc, oc.Operation = &doc, &op
	if r.vars != nil {
		oc.Variables = r.vars
	}
}

// rebinder walks an operation's selections, and copies those whose
// arguments change. A changed argument takes its new value from a variable
// of its own, named so that no client variable can be called the same.
type rebinder struct {
	oc *graphql.OperationContext
	fn func(a Argument) (any, bool)
	// fragments holds each fragment met: its copy when changed, else nil.
	fragments        map[string]*ast.FragmentDefinition
	fragmentsChanged bool
	vars             map[string]any
	n                int
}

func (r *rebinder) selectionSet(ss ast.SelectionSet, root string) (ast.SelectionSet, bool) {
	var out ast.SelectionSet
	for i, sel := range ss {
		var ns ast.Selection
		switch s := sel.(type) {
		case *ast.Field:
			if nf, ok := r.field(s, root); ok {
				ns = nf
			}
		case *ast.InlineFragment:
			if sub, ok := r.selectionSet(s.SelectionSet, root); ok {
				c := *s
				c.SelectionSet = sub
				ns = &c
			}
		case *ast.FragmentSpread:
			r.fragment(s.Name, root)
		}
		if ns != nil && out == nil {
			out = append(ast.SelectionSet{}, ss...)
		}
		if ns != nil {
			out[i] = ns
		}
	}
	if out == nil {
		return ss, false
	}
	return out, true
}

func (r *rebinder) fragment(name, root string) {
	if _, met := r.fragments[name]; met {
		return
	}
	r.fragments[name] = nil
	def := r.oc.Doc.Fragments.ForName(name)
	if def == nil {
		return
	}
	if sub, ok := r.selectionSet(def.SelectionSet, root); ok {
		c := *def
		c.SelectionSet = sub
		r.fragments[name] = &c
		r.fragmentsChanged = true
	}
}

func (r *rebinder) field(f *ast.Field, root string) (*ast.Field, bool) {
	if root == "" {
		root = f.Alias
		if root == "" {
			root = f.Name
		}
	}
	var args ast.ArgumentList
	if f.Definition != nil {
		for i, arg := range f.Arguments {
			def := f.Definition.Arguments.ForName(arg.Name)
			if def == nil || def.Type == nil {
				continue
			}
			raw, ok := r.value(arg.Value)
			if !ok || raw == nil {
				continue
			}
			nv, changed := r.fn(Argument{Root: root, Arg: arg, Def: def, Value: raw})
			if !changed {
				continue
			}
			if args == nil {
				args = append(ast.ArgumentList{}, f.Arguments...)
			}
			args[i] = &ast.Argument{Name: arg.Name, Position: arg.Position, Value: r.bind(arg.Value, nv)}
		}
	}
	sub, changed := r.selectionSet(f.SelectionSet, root)
	if args == nil && !changed {
		return f, false
	}
	c := *f
	if args != nil {
		c.Arguments = args
	}
	c.SelectionSet = sub
	return &c, true
}

// value returns the value of an argument, as gqlgen hands it to resolvers.
func (r *rebinder) value(v *ast.Value) (any, bool) {
	if v == nil {
		return nil, false
	}
	if v.Kind == ast.Variable {
		raw, ok := r.oc.Variables[v.Raw]
		return raw, ok
	}
	raw, err := v.Value(r.oc.Variables)
	return raw, err == nil
}

// bind returns a value standing for raw: a new variable holding it.
func (r *rebinder) bind(old *ast.Value, raw any) *ast.Value {
	if r.vars == nil {
		r.vars = make(map[string]any, len(r.oc.Variables)+1)
		for k, v := range r.oc.Variables {
			r.vars[k] = v
		}
	}
	r.n++
	// "#" cannot start a GraphQL name: no client variable is called so.
	name := "#arg" + strconv.Itoa(r.n)
	r.vars[name] = raw
	return &ast.Value{Kind: ast.Variable, Raw: name, Position: old.Position, ExpectedType: old.ExpectedType, Definition: old.Definition, VariableDefinition: old.VariableDefinition}
}

// Elems returns the elements of a list value; a single value stands for a
// list of one, as GraphQL's input coercion has it.
func Elems(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}
