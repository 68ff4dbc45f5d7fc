package graph

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
)

// object is the JSON object an object's selection resolved to: the value of
// each collected field, in the order of the fields. It writes what
// graphql.FieldSet writes, without the set of written keys FieldSet
// allocates and fills for every object: the fields gqlgen collects have a
// key each, but for a __typename selected under a union and under one of
// its members, whose second value is skipped here as there.
//
// An object's fields are resolved into an object (newObject) rather than a
// graphql.FieldSet: one allocation instead of three for up to inlineValues
// fields. Only when a concurrently resolved field is selected does it take a
// FieldSet, over the same values, to resolve that field on a goroutine of
// its own.
type object struct {
	fields []graphql.CollectedField
	Values []graphql.Marshaler
	// Invalids counts the non-null fields that resolved to null: the
	// object is then null.
	Invalids uint32
	inline   [inlineValues]graphql.Marshaler
	// later resolves the concurrently resolved fields.
	later *graphql.FieldSet
	// write writes the value of a field of obj whose value is nil: a
	// plain field that the object writes itself (graph/gqlgen.go).
	write func(w io.Writer, field string, obj any)
	obj   any
}

// inlineValues is how many values an object holds without a slice of its
// own.
const inlineValues = 8

// newObject returns the object of fields, its values to be set.
func newObject(fields []graphql.CollectedField) *object {
	o := &object{fields: fields}
	if len(fields) <= inlineValues {
		o.Values = o.inline[:len(fields)]
	} else {
		o.Values = make([]graphql.Marshaler, len(fields))
	}
	return o
}

// ResolveConcurrently schedules field i to be resolved by resolve when the
// object is dispatched, as graphql.FieldSet.ResolveConcurrently does.
func (o *object) ResolveConcurrently(oc *graphql.OperationContext, deferred *graphql.DeferredGroup, i int, recoverFromPanic, nonNull bool, resolve func(ctx context.Context) graphql.Marshaler) {
	if o.later == nil {
		o.later = graphql.NewFieldSet(o.fields)
		o.later.Values = o.Values
	}
	o.later.ResolveConcurrently(oc, deferred, i, recoverFromPanic, nonNull, resolve)
}

// Dispatch resolves the fields scheduled by ResolveConcurrently and waits
// for them.
func (o *object) Dispatch(ctx context.Context) {
	if o.later == nil {
		return
	}
	o.later.Dispatch(ctx)
	atomic.AddUint32(&o.Invalids, atomic.LoadUint32(&o.later.Invalids))
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
		if v := o.Values[i]; v != nil {
			v.MarshalGQL(w)
		} else {
			o.write(w, o.fields[i].Name, o.obj)
		}
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

// writeString writes s as a JSON string, as graphql.MarshalString does.
func writeString(w io.Writer, s string) {
	io.WriteString(w, `"`)
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '\\' && c != '"' {
			continue
		}
		io.WriteString(w, s[start:i])
		switch c {
		case '\t':
			io.WriteString(w, `\t`)
		case '\r':
			io.WriteString(w, `\r`)
		case '\n':
			io.WriteString(w, `\n`)
		case '\\':
			io.WriteString(w, `\\`)
		case '"':
			io.WriteString(w, `\"`)
		default:
			io.WriteString(w, `\u00`)
			io.WriteString(w, hexDigits[c>>4:c>>4+1])
			io.WriteString(w, hexDigits[c&0xf:c&0xf+1])
		}
		start = i + 1
	}
	io.WriteString(w, s[start:])
	io.WriteString(w, `"`)
}

const hexDigits = "0123456789ABCDEF" // upper case, as gqlgen writes them

// writeOptionalString writes s as a JSON string, or null when it is nil.
func writeOptionalString(w io.Writer, s *string) {
	if s == nil {
		io.WriteString(w, "null")
		return
	}
	writeString(w, *s)
}

// writeInt writes n as a JSON number, as graphql.MarshalInt does, or as a
// JSON string when quoted, as graphql.MarshalIntID does.
func writeInt(w io.Writer, n int, quoted bool) {
	var b []byte
	buf, ok := w.(*bytes.Buffer)
	if ok {
		// Appended to the buffer's spare room: a slice handed to an
		// io.Writer would be allocated.
		b = buf.AvailableBuffer()
	}
	if quoted {
		b = append(b, '"')
	}
	b = strconv.AppendInt(b, int64(n), 10)
	if quoted {
		b = append(b, '"')
	}
	if ok {
		buf.Write(b)
	} else {
		w.Write(b)
	}
}

// writeBoolean writes b as JSON, as graphql.MarshalBoolean does.
func writeBoolean(w io.Writer, b bool) {
	if b {
		io.WriteString(w, "true")
	} else {
		io.WriteString(w, "false")
	}
}
