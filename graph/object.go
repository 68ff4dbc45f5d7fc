package graph

import (
	"context"
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// object is the JSON object an object's selection resolved to: the value of
// each collected field, in the order of the fields. It writes what
// graphql.FieldSet writes, without the set of written keys FieldSet
// allocates and fills for every object: the fields gqlgen collects have a
// key each, but for a __typename selected under a union and under one of
// its members, whose second value is skipped here as there.
type object struct {
	fields []graphql.CollectedField
	values []graphql.Marshaler
}

func (o *object) MarshalGQL(w io.Writer) {
	io.WriteString(w, "{")
	first := true
	for i := range o.fields {
		key := o.fields[i].Alias
		if repeated(o.fields[:i], key) {
			continue
		}
		if first {
			io.WriteString(w, `"`)
			first = false
		} else {
			io.WriteString(w, `,"`)
		}
		// A response key is a GraphQL name ([_A-Za-z][_0-9A-Za-z]*),
		// which needs no escaping.
		io.WriteString(w, key)
		io.WriteString(w, `":`)
		o.values[i].MarshalGQL(w)
	}
	io.WriteString(w, "}")
}

// repeated reports whether one of fields has the response key key.
func repeated(fields []graphql.CollectedField, key string) bool {
	for i := range fields {
		if fields[i].Alias == key {
			return true
		}
	}
	return false
}

// deferredGroup is graphql.NewDeferredGroup(ctx) when one of fields is
// deferred (@defer), and an empty group otherwise: only a deferred field
// uses the group, and preparing one computes the object's path and
// allocates a field set and a map.
func deferredGroup(ctx context.Context, fields []graphql.CollectedField) graphql.DeferredGroup {
	for i := range fields {
		if fields[i].IsDeferred() {
			return graphql.NewDeferredGroup(ctx)
		}
	}
	return graphql.DeferredGroup{}
}
