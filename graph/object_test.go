package graph

import (
	"bytes"
	"context"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
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
			o := new(objectArena).new(nil, c.fields)
			copy(o.Values, c.values)
			o.MarshalGQL(&got)
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

// TestObjectResolvesConcurrently: an object resolves the fields scheduled
// with ResolveConcurrently when dispatched, into its own values, and counts
// a non-null one that resolved to null.
func TestObjectResolvesConcurrently(t *testing.T) {
	t.Parallel()
	field := func(alias string) graphql.CollectedField {
		return graphql.CollectedField{Field: &ast.Field{Alias: alias, Name: alias}}
	}
	oc := &graphql.OperationContext{}
	ctx := graphql.WithOperationContext(context.Background(), oc)
	for _, c := range []struct {
		name     string
		nonNull  bool
		value    graphql.Marshaler
		invalids uint32
		want     string
	}{
		{"a value", true, graphql.MarshalInt(2), 0, `{"id":"7","members":2,"channels":3}`},
		{"null where it may be", false, graphql.Null, 0, `{"id":"7","members":null,"channels":3}`},
		{"null where it may not be", true, graphql.Null, 1, `{"id":"7","members":null,"channels":3}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := new(objectArena).new(nil, []graphql.CollectedField{field("id"), field("members"), field("channels")})
			var deferred graphql.DeferredGroup
			o.Values[0] = graphql.MarshalString("7")
			o.ResolveConcurrently(oc, &deferred, 1, true, c.nonNull, func(context.Context) graphql.Marshaler { return c.value })
			o.ResolveConcurrently(oc, &deferred, 2, true, true, func(context.Context) graphql.Marshaler { return graphql.MarshalInt(3) })
			o.Dispatch(ctx)
			if o.Invalids != c.invalids {
				t.Errorf("%d invalid fields, want %d", o.Invalids, c.invalids)
			}
			var got bytes.Buffer
			o.MarshalGQL(&got)
			if got.String() != c.want {
				t.Errorf("wrote %s, want %s", got.String(), c.want)
			}
		})
	}
}

// TestWriters: an object writes a plain field's value as gqlgen's
// marshaller of it would, into the executor's buffer and into any writer.
func TestWriters(t *testing.T) {
	t.Parallel()
	marshal := func(m graphql.Marshaler) string {
		var b bytes.Buffer
		m.MarshalGQL(&b)
		return b.String()
	}
	check := func(name, want string, write func(w io.Writer)) {
		t.Helper()
		var buf bytes.Buffer
		write(&buf)
		var sb strings.Builder
		write(&sb)
		if buf.String() != want || sb.String() != want {
			t.Errorf("%s: wrote %q and %q, want %q", name, buf.String(), sb.String(), want)
		}
	}
	strs := []string{"", "plain", `quote " and \ backslash`, "tab\tline\nreturn\r", "\x00\x01\x1f\x7f", "Ünïcødé ☃ 🎉", "\xff\xfe invalid", "</script>&"}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b := make([]byte, rnd.IntN(12))
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		strs = append(strs, string(b))
	}
	for _, s := range strs {
		check("string "+strconv.Quote(s), marshal(graphql.MarshalString(s)), func(w io.Writer) { writeString(w, s) })
		check("optional string "+strconv.Quote(s), marshal(graphql.MarshalString(s)), func(w io.Writer) { writeOptionalString(w, &s) })
	}
	check("no string", "null", func(w io.Writer) { writeOptionalString(w, nil) })
	for _, n := range []int{0, 7, -42, math.MaxInt64, math.MinInt64, 21474836480} {
		check("ID "+strconv.Itoa(n), marshal(graphql.MarshalIntID(n)), func(w io.Writer) { writeInt(w, n, true) })
		check("Int "+strconv.Itoa(n), marshal(graphql.MarshalInt(n)), func(w io.Writer) { writeInt(w, n, false) })
	}
	for _, b := range []bool{true, false} {
		check("Boolean", marshal(graphql.MarshalBoolean(b)), func(w io.Writer) { writeBoolean(w, b) })
	}
}

// TestObjectArena: the objects an arena hands out, and their values, are
// each their own, of the length asked for, however many there are and
// from however many goroutines; a subscription's are not from a block.
func TestObjectArena(t *testing.T) {
	t.Parallel()
	var a objectArena
	query := &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: ast.Query}}
	type got struct {
		o *object
		n int
	}
	out := make(chan got, 4000)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 1000 {
				n := (i + g) % 11 // 0 to 10 fields
				o := a.new(query, make([]graphql.CollectedField, n))
				for j := range o.Values {
					o.Values[j] = arenaMark(g*1000 + i)
				}
				out <- got{o, n}
			}
		}()
	}
	for range 4 {
		<-done
	}
	close(out)
	seen := map[*object]bool{}
	for r := range out {
		if seen[r.o] {
			t.Fatal("an object handed out twice")
		}
		seen[r.o] = true
		if len(r.o.Values) != r.n || cap(r.o.Values) != r.n || len(r.o.fields) != r.n {
			t.Fatalf("%d values (capacity %d) for %d fields", len(r.o.Values), cap(r.o.Values), r.n)
		}
		// Each object's values hold what was set in them: none shares
		// another's.
		for j := 1; j < r.n; j++ {
			if r.o.Values[j] != r.o.Values[0] {
				t.Fatalf("values of an object overwritten: %v", r.o.Values)
			}
		}
	}
	sub := &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: ast.Subscription}}
	blocks := a.blocks
	a.new(sub, make([]graphql.CollectedField, 3))
	a.new(sub, make([]graphql.CollectedField, 200))
	a.new(query, make([]graphql.CollectedField, 200))
	if a.blocks != blocks {
		t.Errorf("a subscription's objects, or one of 200 fields, came from a block")
	}
}

// arenaMark is a value that tells which object it was set in.
type arenaMark int

func (m arenaMark) MarshalGQL(w io.Writer) { io.WriteString(w, strconv.Itoa(int(m))) }
