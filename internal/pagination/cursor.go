// Package pagination owns the rules of paging through connections: what a
// cursor holds, and when a cursor or a page argument is refused. The Cursor
// scalar of the API is read and written by the functions here (see
// gqlgen.yml), so every connection, at the root or nested, obeys them.
package pagination

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vmihailenco/msgpack/v5"

	"roster/internal/apierr"
)

// Cursor is the position of an edge in a connection: the ID of its node
// and the value of the field the connection is ordered by.
type Cursor = entgql.Cursor[int]

// wire is what a cursor is made of on the wire, base64 of its msgpack
// encoding: the keys i and v are those of entgql's own cursors (which
// skip f), f names the order field the position was taken in ("" for the
// connection's default order).
type wire struct {
	ID    int    `msgpack:"i"`
	Value any    `msgpack:"v,omitempty"`
	Field string `msgpack:"f,omitempty"`
}

// MarshalCursor writes c with the order field of the connection it was
// taken from.
func MarshalCursor(c Cursor) graphql.ContextMarshaler {
	return graphql.ContextWriterFunc(func(ctx context.Context, w io.Writer) error {
		packed := packedCursors.Get().(*bytes.Buffer)
		defer packedCursors.Put(packed)
		packed.Reset()
		enc := msgpack.GetEncoder()
		defer msgpack.PutEncoder(enc)
		enc.Reset(packed)
		if err := enc.Encode(wire{ID: c.ID, Value: c.Value, Field: orderFieldOf(ctx, connectionOf(graphql.GetFieldContext(ctx)))}); err != nil {
			return err
		}
		// A JSON string: base64 needs no escaping.
		if buf, ok := w.(*bytes.Buffer); ok {
			b := append(buf.AvailableBuffer(), '"')
			b = base64.RawStdEncoding.AppendEncode(b, packed.Bytes())
			buf.Write(append(b, '"'))
		} else {
			io.WriteString(w, `"`+base64.RawStdEncoding.EncodeToString(packed.Bytes())+`"`)
		}
		return nil
	})
}

// packedCursors are the buffers cursors are packed in.
var packedCursors = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// UnmarshalCursor reads a cursor argument of the connection field in ctx,
// and refuses, with BAD_USER_INPUT naming the argument, one that is not a
// cursor or was taken in another order than the field asks for.
func UnmarshalCursor(ctx context.Context, v any) (Cursor, error) {
	arg := "cursor"
	if pc := graphql.GetPathContext(ctx); pc != nil && pc.Field != nil {
		arg = *pc.Field
	}
	c, err := readCursor(arg, v, orderFieldOf(ctx, graphql.GetFieldContext(ctx)))
	if err != nil {
		return Cursor{}, err
	}
	return c, nil
}

// readCursor reads the value v of cursor argument arg of a connection
// asked to be ordered by orderField ("" for its default order).
func readCursor(arg string, v any, orderField string) (Cursor, *apierr.Error) {
	s, ok := v.(string)
	if !ok {
		return Cursor{}, apierr.Input(arg, "is not a cursor: a cursor is a string")
	}
	var c wire
	if err := msgpack.NewDecoder(base64.NewDecoder(base64.RawStdEncoding, strings.NewReader(s))).Decode(&c); err != nil || !plain(c.Value) || c.Field == "" && c.Value != nil {
		return Cursor{}, apierr.Input(arg, "is not a cursor of this connection")
	}
	if c.Field != orderField {
		return Cursor{}, apierr.Input(arg, "was taken in %s order, not in the %s order asked for: start again without %s", orderName(c.Field), orderName(orderField), arg)
	}
	return Cursor{ID: c.ID, Value: c.Value}, nil
}

// plain reports whether v is a value an order field can have.
func plain(v any) bool {
	switch v.(type) {
	case nil, string, bool, time.Time,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return true
	}
	return false
}

func orderName(field string) string {
	if field == "" {
		return "default"
	}
	return field
}

// connectionOf returns the field context of the connection a cursor field
// belongs to: the nearest field, from fc up, that takes cursor arguments.
func connectionOf(fc *graphql.FieldContext) *graphql.FieldContext {
	for ; fc != nil; fc = fc.Parent {
		if fc.Field.Field != nil && fc.Field.Definition != nil && fc.Field.Definition.Arguments.ForName("after") != nil {
			return fc
		}
	}
	return nil
}

// orderFieldOf returns the order field the connection field fc asks for in
// its orderBy argument, or "" for its default order.
func orderFieldOf(ctx context.Context, fc *graphql.FieldContext) string {
	if fc == nil || fc.Field.Field == nil || !graphql.HasOperationContext(ctx) {
		return ""
	}
	if field, ok := argsOrderField(fc.Args); ok {
		return field
	}
	return orderField(fc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables))
}

// argsOrderField returns the order field of the coerced arguments of a
// connection field that has them (once its field context is made), as
// orderField returns it from their values in the operation: its orderBy,
// an ent order (*XOrder, whose Field prints the GraphQL name of its order
// field), or none. ok is false when args do not tell.
func argsOrderField(args map[string]any) (field string, ok bool) {
	if args == nil {
		return "", false
	}
	order, given := args["orderBy"]
	if !given {
		return "", true
	}
	v := reflect.ValueOf(order)
	if !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
		return "", true
	}
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return "", false
	}
	f := v.Elem().FieldByName("Field")
	if !f.IsValid() || f.Kind() != reflect.Pointer {
		return "", false
	}
	if f.IsNil() {
		return "", true
	}
	s, isStringer := f.Interface().(fmt.Stringer)
	if !isStringer {
		return "", false
	}
	return s.String(), true
}

// orderField returns the order field the arguments of a connection field
// ask for, or "" for its default order.
func orderField(args map[string]any) string {
	order, _ := args["orderBy"].(map[string]any)
	field, _ := order["field"].(string)
	return field
}
