package graph

import (
	"reflect"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestCollect: an operation collects the fields of a selection set for a
// type once, the fields graphql.CollectFields collects, and tells types and
// selection sets apart; @include is followed.
func TestCollect(t *testing.T) {
	t.Parallel()
	schema := NewExecutableSchema(Config{}).Schema()
	doc, errs := gqlparser.LoadQueryWithRules(schema, `query($more: Boolean!) {
		users(first: 5) { edges { node { id ... on User { firstName } ... on Node { id } email @include(if: $more) role { id name } } } }
	}`, nil)
	if errs != nil {
		t.Fatal(errs)
	}
	node := doc.Operations[0].SelectionSet[0].(*ast.Field).SelectionSet[0].(*ast.Field).SelectionSet[0].(*ast.Field)
	for _, more := range []bool{true, false} {
		oc := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0], Variables: map[string]any{"more": more}}
		var c collectedFields
		names := func(fs []graphql.CollectedField) (n []string) {
			for _, f := range fs {
				n = append(n, f.Alias)
			}
			return n
		}
		for _, satisfies := range [][]string{userImplementors, roleImplementors} {
			got := c.collect(oc, node.SelectionSet, satisfies)
			want := graphql.CollectFields(&graphql.OperationContext{Doc: doc, Operation: doc.Operations[0], Variables: oc.Variables}, node.SelectionSet, satisfies)
			if !reflect.DeepEqual(names(got), names(want)) {
				t.Errorf("more=%v, %v: collected %v, graphql.CollectFields %v", more, satisfies, names(got), names(want))
			}
			if again := c.collect(oc, node.SelectionSet, satisfies); &again[0] != &got[0] {
				t.Errorf("more=%v, %v: collected again instead of remembered", more, satisfies)
			}
		}
	}
}
