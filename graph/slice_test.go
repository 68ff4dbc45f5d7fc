package graph

import (
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestSelectsConcurrent: a list is marshalled in place only when nothing
// selected below it, at any depth and through fragments, has a resolver
// that runs concurrently; a field of an interface counts as one.
func TestSelectsConcurrent(t *testing.T) {
	t.Parallel()
	schema := NewExecutableSchema(Config{}).Schema()
	for _, c := range []struct {
		name, query string
		want        bool
	}{
		{"plain fields and loaded edges", `{ users(first: 5) { edges { cursor node { id firstName role { id name } divisions { id name } } } } }`, false},
		{"a concurrent field of the element", `{ divisions(first: 5) { edges { node { id members(first: 3) { totalCount } } } } }`, true},
		{"a concurrent field deeper down", `{ users(first: 5) { edges { node { id divisions { id channels { id } } } } } }`, true},
		{"through a named fragment", `{ divisions(first: 5) { edges { node { ...D } } } } fragment D on Division { id members(first: 1) { totalCount } }`, true},
		{"through an inline fragment", `{ divisions(first: 5) { edges { node { ... on Division { channels { id } } } } } }`, true},
		{"a named fragment of plain fields", `{ divisions(first: 5) { edges { node { ...D } } } } fragment D on Division { id name }`, false},
		{"__typename", `{ users(first: 5) { edges { __typename node { __typename id } } } }`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc, errs := gqlparser.LoadQueryWithRules(schema, c.query, nil)
			if errs != nil {
				t.Fatal(errs)
			}
			root := doc.Operations[0].SelectionSet[0].(*ast.Field)
			var edges *ast.Field
			for _, s := range root.SelectionSet {
				if f, ok := s.(*ast.Field); ok && f.Name == "edges" {
					edges = f
				}
			}
			if edges == nil {
				t.Fatal("no edges in the query")
			}
			if got := selectsConcurrent(edges.SelectionSet); got != c.want {
				t.Errorf("selectsConcurrent = %v, want %v", got, c.want)
			}
		})
	}
}
