package input_test

import (
	"bytes"
	"maps"
	"reflect"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/validator"

	"roster/graph"
	"roster/internal/input"
)

func format(doc *ast.QueryDocument) string {
	var b bytes.Buffer
	formatter.NewFormatter(&b).FormatQueryDocument(doc)
	return b.String()
}

// TestArgumentsRebind: every argument is met, in the operation and in the
// fragments it spreads, from the document or variables; a changed value
// reaches the operation through a copy, and neither the document (which
// the query cache shares between requests) nor the client's variables
// change.
func TestArgumentsRebind(t *testing.T) {
	t.Parallel()
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	doc, errs := gqlparser.LoadQuery(schema, `query($w: UserWhereInput, $s: String) {
		users(where: $w, search: $s) { totalCount }
		divisions { edges { node { ...M } } }
	}
	fragment M on Division { members(where: {emailHasPrefix: "a"}) { totalCount } }`)
	if errs != nil {
		t.Fatal(errs)
	}
	before := format(doc)
	clientVars := map[string]any{"w": map[string]any{"email": "x"}, "s": "ana"}
	vars, verr := validator.VariableValues(schema, doc.Operations[0], clientVars)
	if verr != nil {
		t.Fatal(verr)
	}
	varsBefore := maps.Clone(vars)
	oc := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0], Variables: vars}

	var met []string
	input.Arguments(oc, func(a input.Argument) (any, bool) {
		met = append(met, a.Root+"."+a.Arg.Name)
		if a.Def.Type.Name() == "UserWhereInput" {
			return map[string]any{"and": []any{a.Value, map[string]any{"id": "1"}}}, true
		}
		return nil, false
	})
	if want := []string{"users.where", "users.search", "divisions.where"}; !reflect.DeepEqual(met, want) {
		t.Errorf("met %q, want %q", met, want)
	}
	if format(doc) != before {
		t.Errorf("the shared document changed:\n%s", format(doc))
	}
	if !reflect.DeepEqual(vars, varsBefore) {
		t.Errorf("the client's variables changed: %v", vars)
	}
	if oc.Doc == doc || oc.Operation == doc.Operations[0] {
		t.Fatal("the operation was not copied")
	}
	// The copy takes the new values: every filter argument is now a
	// variable of its own holding the new value.
	users := oc.Operation.SelectionSet[0].(*ast.Field)
	got := users.ArgumentMap(oc.Variables)["where"]
	want := map[string]any{"and": []any{map[string]any{"email": "x"}, map[string]any{"id": "1"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("users(where:) = %v, want %v", got, want)
	}
	if s := users.ArgumentMap(oc.Variables)["search"]; s != "ana" {
		t.Errorf("users(search:) = %v", s)
	}
	members := oc.Doc.Fragments.ForName("M").SelectionSet[0].(*ast.Field)
	want = map[string]any{"and": []any{map[string]any{"emailHasPrefix": "a"}, map[string]any{"id": "1"}}}
	if got := members.ArgumentMap(oc.Variables)["where"]; !reflect.DeepEqual(got, want) {
		t.Errorf("members(where:) = %v, want %v", got, want)
	}
}
