package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestWriteResponse: a response is written byte for byte as encoding/json
// encodes it (as transport.POST writes it), for compact data.
func TestWriteResponse(t *testing.T) {
	t.Parallel()
	yes := true
	for _, c := range []struct {
		name string
		rsp  graphql.Response
	}{
		{"data", graphql.Response{Data: json.RawMessage(`{"me":{"id":"1","name":"A \"B\"\n"}}`)}},
		{"no data", graphql.Response{}},
		{"null data", graphql.Response{Data: json.RawMessage(`null`)}},
		{"errors and data", graphql.Response{
			Errors: gqlerror.List{{Message: "not found", Path: ast.Path{ast.PathName("user")}, Extensions: map[string]any{"code": "NOT_FOUND"}}},
			Data:   json.RawMessage(`{"user":null}`),
		}},
		{"errors without data", graphql.Response{Errors: gqlerror.List{{Message: "Cannot query field \"x\"", Locations: []gqlerror.Location{{Line: 1, Column: 3}}}}}},
		{"extensions", graphql.Response{Data: json.RawMessage(`{}`), Extensions: map[string]any{"cost": 3}}},
		{"incremental", graphql.Response{Data: json.RawMessage(`{"a":1}`), Label: "later", Path: ast.Path{ast.PathName("users"), ast.PathIndex(0)}, HasNext: &yes}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want, err := json.Marshal(&c.rsp)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			writeResponse(&got, &c.rsp)
			if got.String() != string(want) {
				t.Errorf("wrote\n%s\nwant\n%s", got.String(), want)
			}
		})
	}
	var got bytes.Buffer
	if writeResponse(&got, nil); got.String() != "null" {
		t.Errorf("no response: wrote %s, want null", got.String())
	}
}
