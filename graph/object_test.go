package graph

import (
	"bytes"
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestObjectJSON: an object writes its fields in order, each under its
// response key, and a repeated key once, with its first value, as
// graphql.FieldSet does.
func TestObjectJSON(t *testing.T) {
	t.Parallel()
	field := func(alias string) graphql.CollectedField {
		return graphql.CollectedField{Field: &ast.Field{Alias: alias, Name: alias}}
	}
	for _, c := range []struct {
		name   string
		fields []graphql.CollectedField
		values []graphql.Marshaler
		want   string
	}{
		{"no fields", nil, nil, `{}`},
		{"in order", []graphql.CollectedField{field("id"), field("name"), field("n")},
			[]graphql.Marshaler{graphql.MarshalString("7"), graphql.MarshalString("a \"b\"\n"), graphql.MarshalInt(3)},
			`{"id":"7","name":"a \"b\"\n","n":3}`},
		{"a null", []graphql.CollectedField{field("phone")}, []graphql.Marshaler{graphql.Null}, `{"phone":null}`},
		{"a repeated key", []graphql.CollectedField{field("__typename"), field("id"), field("__typename")},
			[]graphql.Marshaler{graphql.MarshalString("User"), graphql.MarshalString("7"), graphql.MarshalString("Other")},
			`{"__typename":"User","id":"7"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got, want bytes.Buffer
			(&object{c.fields, c.values}).MarshalGQL(&got)
			if got.String() != c.want {
				t.Errorf("object wrote %s, want %s", got.String(), c.want)
			}
			fs := graphql.NewFieldSet(c.fields)
			copy(fs.Values, c.values)
			fs.MarshalGQL(&want)
			if got.String() != want.String() {
				t.Errorf("object wrote %s, graphql.FieldSet %s", got.String(), want.String())
			}
		})
	}
}

// TestDeferredGroup: an object prepares a group of deferred fields only
// when one of its fields is deferred.
func TestDeferredGroup(t *testing.T) {
	t.Parallel()
	plain := graphql.CollectedField{Field: &ast.Field{Alias: "members", Name: "members"}}
	if g := deferredGroup(context.Background(), []graphql.CollectedField{plain}); g.FieldSet != nil || g.Defers != nil {
		t.Errorf("no deferred field: a group was prepared")
	}
	deferred := plain
	deferred.Deferrables = []*graphql.Deferrable{{Label: "later"}}
	g := deferredGroup(context.Background(), []graphql.CollectedField{plain, deferred})
	if g.FieldSet == nil || g.Defers == nil {
		t.Errorf("a deferred field: no group was prepared")
	}
}
