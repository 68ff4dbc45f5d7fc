package graph

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// object is the JSON object an object's selection resolved to: the value of
// each collected field, in the order of the fields. It writes what
// graphql.FieldSet writes, without the set of written keys FieldSet
// allocates and fills for every object: the fields gqlgen collects have a
// key each, but for a __typename selected under a union and under one of
// its members, whose second value is skipped here as there.
//
// An object's fields are resolved into an object (objectArena.new) rather
// than a graphql.FieldSet, which is three allocations. Only when a
// concurrently resolved field is selected does it take a FieldSet, over the
// same values, to resolve that field on a goroutine of its own.
type object struct {
	fields []graphql.CollectedField
	Values []graphql.Marshaler
	// Invalids counts the non-null fields that resolved to null: the
	// object is then null.
	Invalids uint32
	// later resolves the concurrently resolved fields.
	later *graphql.FieldSet
	// write writes the value of a field of obj whose value is nil: a
	// plain field that the object writes itself (graph/gqlgen.go).
	write func(w io.Writer, field string, obj any)
	obj   any
}

// objectArena hands out the objects of a query or mutation, and their
// values, from blocks allocated together: a page of 50 users is some 250
// objects, and as many allocations (of a size fitting the largest)
// became a few dozen blocks sized to what they hold. Every object of an
// operation lives until its response is written, so none is kept longer
// for sharing a block. A subscription's objects, one event's then the
// next's, are allocated each on its own, so that a block never keeps an
// event's objects once they are sent.
type objectArena struct {
	mu      sync.Mutex
	objects []object
	values  []graphql.Marshaler
	blocks  int // blocks allocated, of objects and of values: each is twice the last, up to maxArenaBlock
}

// minArenaBlock and maxArenaBlock bound the objects (and the values) of a
// block: a small query allocates little more than it uses.
const (
	minArenaBlock = 4
	maxArenaBlock = 128
)

// new returns the object of fields in operation oc, its values to be set.
func (a *objectArena) new(oc *graphql.OperationContext, fields []graphql.CollectedField) *object {
	n := len(fields)
	if oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Subscription || n > maxArenaBlock {
		return &object{fields: fields, Values: make([]graphql.Marshaler, n)}
	}
	a.mu.Lock()
	if len(a.objects) == 0 || len(a.values) < n {
		size := min(minArenaBlock<<min(a.blocks, 16), maxArenaBlock)
		a.blocks++
		if len(a.objects) == 0 {
			a.objects = make([]object, size)
		}
		if len(a.values) < n {
			a.values = make([]graphql.Marshaler, max(2*size, n))
		}
	}
	o := &a.objects[0]
	a.objects = a.objects[1:]
	o.fields, o.Values = fields, a.values[:n:n]
	a.values = a.values[n:]
	a.mu.Unlock()
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
