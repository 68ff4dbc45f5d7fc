//go:build ignore

// gqlgen generates the GraphQL executor (graph/generated.go), as
// `gqlgen generate` does, with changes that spare a page of objects the
// executor's per-field and per-element machinery where it does nothing:
//
//   - The fields of the objects in sequential are resolved one after the
//     other, on the goroutine of their object, instead of each on a
//     goroutine of its own. A user's role and divisions come loaded with the
//     page of users they are on (entgql's field collection), so resolving
//     them is reading memory, and a goroutine per user and field (a stack
//     grown and copied each time) cost more than the reading.
//   - A plain field (a struct field or a method without context or error,
//     of a scalar or enum type, without arguments or directives, on an
//     object that is not a root) is marshalled straight from its value. The
//     general path builds a field context, a context value, three closures
//     and a boxed value for each such field of each object, and runs the
//     field middleware, of which there is none, and a panic handler, for a
//     read that cannot fail. A panic while marshalling one (an enum with a
//     value outside the schema) is recovered by the object's own field.
//   - A list of objects is marshalled in place, element after element, when
//     no field selected below it, at any depth, has a resolver that runs
//     concurrently (marshalSlice); gqlgen starts a goroutine per element
//     for every list. A list whose elements do select such a field still
//     gets a goroutine per element, so their resolvers overlap as before.
//   - An object prepares a group of deferred fields only when one of its
//     fields is deferred (@defer), and an object without concurrently
//     resolved fields never does: gqlgen defers only concurrently resolved
//     fields. Preparing a group computes the object's path and allocates a
//     field set and a map.
//   - An object writes a plain field of a string, an ID, an Int, a Boolean
//     or an enum itself when it is written, from the field's value then
//     (write<Object>), instead of keeping a marshaller of the value, which
//     allocates a closure or boxes the value, for each field of each
//     object.
//   - The data of a query or a mutation is written into a buffer kept from
//     an earlier response (graph/data.go), which the HTTP transport gives
//     back once it has written the response.
//   - An object's fields are collected from its selection set once per
//     operation and selection set (graph/collect.go), not once per object.
//   - An object is resolved into an object (graph/object.go) instead of a
//     graphql.FieldSet: one allocation instead of three, a FieldSet only
//     for concurrently resolved fields when one is selected, and no set of
//     written keys, which FieldSet allocates and fills for every object it
//     writes.
//
// Each rewrite checks the code it replaces and fails the generation when
// gqlgen's output has a shape it does not know. Run it from the repository
// root: go generate ./...
package main

import (
	"fmt"
	"go/format"
	"go/types"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/vektah/gqlparser/v2/ast"
	"golang.org/x/tools/imports"
)

// sequential names the objects whose fields are resolved one after the
// other.
var sequential = []string{"User"}

// fastPaths is the plugin that marks the sequential objects and records
// what the rewrites of the generated code apply to.
type fastPaths struct {
	// plainFields are the field functions ("_User_firstName") that
	// marshal a value read from the object.
	plainFields map[string]bool
	// readFields are the other field functions that read their value from
	// the object, a struct field or a method of it (read).
	readFields map[string]bool
	// lists maps the marshal functions of lists of objects to the
	// element's object.
	lists map[string]string
	// concurrent maps the objects with concurrently resolved fields to
	// those fields.
	concurrent map[string][]string
	// undeferred are the objects without concurrently resolved fields.
	undeferred []string
	// objects are the objects that are not roots.
	objects []string
	// plainValues are the value and the marshal function of each plain
	// field function.
	plainValues map[string]plainValue
}

// plainValue is what a plain field function marshals: value, an
// expression of obj, with the function marshal.
type plainValue struct {
	value, marshal string
}

func (*fastPaths) Name() string { return "fastpaths" }

// GenerateCode runs before the executor is written.
func (p *fastPaths) GenerateCode(data *codegen.Data) error {
	found := 0
	for _, o := range data.Objects {
		if slices.Contains(sequential, o.Name) {
			o.DisableConcurrency = true
			found++
		}
	}
	if found != len(sequential) {
		return fmt.Errorf("sequential objects %v: found %d of them", sequential, found)
	}

	p.plainFields = map[string]bool{}
	p.readFields = map[string]bool{}
	p.concurrent = map[string][]string{}
	p.lists = map[string]string{}
	objects := map[string]*codegen.Object{}
	for _, o := range data.Objects {
		objects[o.Name] = o
		if o.Root || o.IsReserved() {
			continue
		}
		p.objects = append(p.objects, o.Name)
		if !o.IsConcurrent() {
			p.undeferred = append(p.undeferred, o.Name)
		}
		for _, f := range o.Fields {
			if plain(f) {
				p.plainFields["_"+o.Name+"_"+f.Name] = true
			} else if read(f) {
				p.readFields["_"+o.Name+"_"+f.Name] = true
			}
		}
	}
	for _, ref := range data.ReferencedTypes {
		if !ref.IsSlice() || ref.Definition == nil || ref.Definition.Kind != ast.Object {
			continue
		}
		if o := objects[ref.Definition.Name]; o != nil && !o.Root && !o.IsReserved() {
			p.lists[ref.MarshalFunc()] = o.Name
		}
	}
	for _, o := range data.Objects {
		if o.Root || o.IsReserved() {
			continue
		}
		for _, f := range o.Fields {
			if f.IsConcurrent() {
				p.concurrent[o.Name] = append(p.concurrent[o.Name], f.Name)
			}
		}
	}
	return p.writeConcurrent(filepath.Join(data.Config.Exec.Dir(), "concurrent_gen.go"))
}

// writeConcurrent writes the table of concurrently resolved fields that
// marshalSlice consults (before the executor, which gqlgen compiles to
// validate it, with marshalSlice in its package).
func (p *fastPaths) writeConcurrent(file string) error {
	var b strings.Builder
	b.WriteString("// Code generated by graph/gqlgen.go, DO NOT EDIT.\n\npackage graph\n\n")
	b.WriteString("// concurrentFieldsOf lists the concurrently resolved fields of each\n" +
		"// object that has some: a list is marshalled in place unless one of them\n" +
		"// is selected below it.\n")
	b.WriteString("var concurrentFieldsOf = map[string]concurrentFields{\n")
	objs := make([]string, 0, len(p.concurrent))
	for o := range p.concurrent {
		objs = append(objs, o)
	}
	sort.Strings(objs)
	for _, o := range objs {
		fmt.Fprintf(&b, "\t%q: {", o)
		for i, f := range p.concurrent[o] {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q: true", f)
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	out, err := format.Source([]byte(b.String()))
	if err != nil {
		return err
	}
	return os.WriteFile(file, out, 0o644)
}

// plain reports whether f is marshalled straight from its value.
func plain(f *codegen.Field) bool {
	t := f.TypeReference
	switch {
	case f.IsResolver, f.MethodHasContext, f.Stream, f.IsBatch(),
		len(f.Args) > 0, f.HasDirectives(),
		f.IsMethod() && !f.NoErr, f.VOkFunc, f.IsMap():
		return false
	case t == nil || t.Definition == nil || t.IsContext:
		return false
	case t.Definition.Kind != ast.Scalar && t.Definition.Kind != ast.Enum:
		return false
	case t.GQL.NonNull && t.IsNilable():
		// A nil value is an error, which needs the field's own context
		// for its path.
		return false
	}
	_, isSlice := t.GO.Underlying().(*types.Slice)
	return !isSlice
}

// read reports whether f, not plain, reads its value from its object, a
// struct field or a method of the object (an ent edge: the loaded one, or a
// query when it was not loaded), as a field function without the field
// middleware. The value's type is not an interface, whose nil the general
// path tells apart.
func read(f *codegen.Field) bool {
	t := f.TypeReference
	switch {
	case f.IsResolver, f.Stream, f.IsBatch(), len(f.Args) > 0, f.HasDirectives(),
		f.VOkFunc, f.IsMap(), f.Object.Root || f.Object.IsReserved():
		return false
	case t == nil || t.Definition == nil || t.IsContext && t.Definition.Kind != ast.Scalar:
		return false
	}
	return !types.IsInterface(t.GO)
}

func main() {
	log.SetOutput(io.Discard) // as gqlgen's command does
	cfg, err := config.LoadConfigFromDefaultLocations()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load gqlgen config:", err)
		os.Exit(2)
	}
	p := &fastPaths{}
	if err := api.Generate(cfg, api.AddPlugin(p)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if err := p.rewrite(cfg.Exec.Filename); err != nil {
		fmt.Fprintln(os.Stderr, "rewrite", cfg.Exec.Filename+":", err)
		os.Exit(4)
	}
}

// rewrite applies the fast paths to the generated executor in file.
func (p *fastPaths) rewrite(file string) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	s := string(src)
	if s, err = p.rewritePlainFields(s); err != nil {
		return err
	}
	// The data of queries and mutations is written into a kept buffer
	// (graph/data.go).
	for _, op := range []string{"\t\t\tvar buf bytes.Buffer\n\t\t\tdata.MarshalGQL(&buf)\n\t\t\tresponse.Data = buf.Bytes()\n",
		"\t\t\tvar buf bytes.Buffer\n\t\t\tdata.MarshalGQL(&buf)\n\n\t\t\treturn &graphql.Response{\n\t\t\t\tData: buf.Bytes(),\n"} {
		if strings.Count(s, op) != 1 {
			return fmt.Errorf("the executor's Exec is of an unknown shape")
		}
		s = strings.Replace(s, op, strings.Replace(strings.Replace(op, "var buf bytes.Buffer", "buf := dataBuffer()", 1), "(&buf)", "(buf)", 1), 1)
	}
	const context = "type executionContext struct {\n\t*graphql.ExecutionContextState[ResolverRoot, DirectiveRoot, ComplexityRoot]\n"
	if strings.Count(s, context) != 1 {
		return fmt.Errorf("executionContext of an unknown shape")
	}
	s = strings.Replace(s, context, context+"\t// collected: see collect.\n\tcollected collectedFields\n\t// objects: see objectArena.\n\tobjects objectArena\n", 1)
	if s, err = p.rewriteReadFields(s); err != nil {
		return err
	}
	if s, err = p.rewriteLists(s); err != nil {
		return err
	}
	if s, err = p.rewriteObjects(s); err != nil {
		return err
	}
	if s, err = p.rewriteWrittenFields(s); err != nil {
		return err
	}
	// Formatted, with the imports the writers need (io).
	out, err := imports.Process(file, []byte(s), nil)
	if err != nil {
		return fmt.Errorf("format: %w", err)
	}
	return os.WriteFile(file, out, 0o644)
}

// plainField is a generated field function whose resolver only returns a
// value: group 1 is the signature, 2 the function's name, 3 the value, 4
// the marshal function.
var plainField = regexp.MustCompile(`(?m)^(func \(ec \*executionContext\) (_\w+)\(ctx context\.Context, field graphql\.CollectedField, obj [^)\n]+\) \(ret graphql\.Marshaler\) \{\n)` +
	`\treturn graphql\.ResolveField\(\n` +
	`\t\tctx,\n\t\tec\.OperationContext,\n\t\tfield,\n` +
	`\t\tfunc\(ctx context\.Context, field graphql\.CollectedField\) \(\*graphql\.FieldContext, error\) \{\n\t\t\treturn ec\.fieldContext_[^(\s]+\(ctx, field\)\n\t\t\},\n` +
	`\t\tfunc\(ctx context\.Context\) \(any, error\) \{\n\t\t\treturn ([^\n]+), nil\n\t\t\},\n` +
	`\t\tnil,\n` +
	`\t\tfunc\(ctx context\.Context, selections ast\.SelectionSet, v [^\n]+\) graphql\.Marshaler \{\n\t\t\treturn (ec\.marshal[^(\s]+)\(ctx, selections, v\)\n\t\t\},\n` +
	`\t\t(?:true|false),\n\t\t(?:true|false),\n\t\)\n\}\n`)

func (p *fastPaths) rewritePlainFields(s string) (string, error) {
	done := map[string]bool{}
	p.plainValues = map[string]plainValue{}
	s = plainField.ReplaceAllStringFunc(s, func(m string) string {
		g := plainField.FindStringSubmatch(m)
		if !p.plainFields[g[2]] {
			return m
		}
		done[g[2]] = true
		p.plainValues[g[2]] = plainValue{value: g[3], marshal: strings.TrimPrefix(g[4], "ec.")}
		return g[1] + "\treturn " + g[4] + "(ctx, field.Selections, " + g[3] + ")\n}\n"
	})
	if missing := missing(p.plainFields, done); len(missing) > 0 {
		return "", fmt.Errorf("plain fields of an unknown shape: %s", strings.Join(missing, ", "))
	}
	return s, nil
}

// readField is a generated field function of a read field: group 1 is the
// signature, 2 the function's name, 3 its field context function, 4 what the
// resolver returns, 5 the type of the value, 6 the marshal function, 7
// whether a panic is recovered, 8 whether the field is non-null.
var readField = regexp.MustCompile(`(?m)^(func \(ec \*executionContext\) (_\w+)\(ctx context\.Context, field graphql\.CollectedField, obj [^)\n]+\) \(ret graphql\.Marshaler\) \{\n)` +
	`\treturn graphql\.ResolveField\(\n` +
	`\t\tctx,\n\t\tec\.OperationContext,\n\t\tfield,\n` +
	`\t\tfunc\(ctx context\.Context, field graphql\.CollectedField\) \(\*graphql\.FieldContext, error\) \{\n\t\t\treturn (ec\.fieldContext_[^(\s]+)\(ctx, field\)\n\t\t\},\n` +
	`\t\tfunc\(ctx context\.Context\) \(any, error\) \{\n\t\t\treturn ([^\n]+)\n\t\t\},\n` +
	`\t\tnil,\n` +
	`\t\tfunc\(ctx context\.Context, selections ast\.SelectionSet, v ([^\n]+)\) graphql\.Marshaler \{\n\t\t\treturn (ec\.marshal[^(\s]+)\(ctx, selections, v\)\n\t\t\},\n` +
	`\t\t(true|false),\n\t\t(true|false),\n\t\)\n\}\n`)

// rewriteReadFields writes the field functions of the read fields without
// graphql.ResolveField's closures and field middleware: what they do is
// read memory (or query an edge that was not loaded), like a plain field,
// and the middleware and closures cost allocations for every such field of
// every object. The field still gets its field context, for its children
// and the path of an error, and a panic or an error is handled as
// graphql.ResolveField handles it.
func (p *fastPaths) rewriteReadFields(s string) (string, error) {
	done := map[string]bool{}
	var failed []string
	s = readField.ReplaceAllStringFunc(s, func(m string) string {
		g := readField.FindStringSubmatch(m)
		if !p.readFields[g[2]] {
			return m
		}
		done[g[2]] = true
		var b strings.Builder
		b.WriteString(g[1])
		fmt.Fprintf(&b, "\tfc, err := %s(ctx, field)\n\tif err != nil {\n\t\treturn graphql.Null\n\t}\n\tctx = graphql.WithFieldContext(ctx, fc)\n", g[3])
		if g[7] == "true" {
			b.WriteString("\tdefer func() {\n\t\tif r := recover(); r != nil {\n\t\t\tec.Error(ctx, ec.Recover(ctx, r))\n\t\t\tret = graphql.Null\n\t\t}\n\t}()\n")
		}
		if value, ok := strings.CutSuffix(g[4], ", nil"); ok {
			fmt.Fprintf(&b, "\tvar v %s = %s\n", g[5], value)
		} else if strings.HasSuffix(g[4], ")") {
			fmt.Fprintf(&b, "\tv, err := %s\n\tif err != nil {\n\t\tec.Error(ctx, graphql.AddFieldLocationToError(ctx, err))\n", g[4])
			if g[8] == "false" {
				b.WriteString("\t\tif fc.NonNull {\n\t\t\treturn graphql.RequiredNull\n\t\t}\n")
			}
			b.WriteString("\t\treturn graphql.Null\n\t}\n")
		} else {
			failed = append(failed, g[2])
			return m
		}
		fmt.Fprintf(&b, "\tfc.Result = v\n\treturn %s(ctx, field.Selections, v)\n}\n", g[6])
		return b.String()
	})
	if len(failed) > 0 {
		return "", fmt.Errorf("read fields whose resolver is of an unknown shape: %s", strings.Join(failed, ", "))
	}
	if missing := missing(p.readFields, done); len(missing) > 0 {
		return "", fmt.Errorf("read fields of an unknown shape: %s", strings.Join(missing, ", "))
	}
	return s, nil
}

const concurrentSlice = "graphql.MarshalSliceConcurrently(ctx, len(v), "

func (p *fastPaths) rewriteLists(s string) (string, error) {
	var b strings.Builder
	done := map[string]bool{}
	rest := s
	for {
		i := strings.Index(rest, "\nfunc (ec *executionContext) marshal")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		start := i + len("\nfunc (ec *executionContext) ")
		name := rest[start : start+strings.IndexByte(rest[start:], '(')]
		end := strings.Index(rest[start:], "\n}\n")
		if end < 0 {
			return "", fmt.Errorf("%s has no end", name)
		}
		end += start
		body := rest[:end]
		if _, ok := p.lists[name]; ok {
			if strings.Count(body[i:], concurrentSlice) != 1 {
				return "", fmt.Errorf("%s: no single %s…", name, concurrentSlice)
			}
			body = body[:i] + strings.Replace(body[i:], concurrentSlice,
				"marshalSlice(ctx, sel, len(v), ", 1)
			done[name] = true
		}
		b.WriteString(body)
		rest = rest[end:]
	}
	lists := map[string]bool{}
	for name := range p.lists {
		lists[name] = true
	}
	// gqlgen writes a marshal function only for the lists the schema
	// returns somewhere; a recorded list without one is no error.
	for _, name := range missing(lists, done) {
		if strings.Contains(s, "ec."+name+"(") {
			return "", fmt.Errorf("list marshaller %s of an unknown shape", name)
		}
	}

	return b.String(), nil
}

// outUse is a use of an object's field set (out) in its marshaller.
var outUse = regexp.MustCompile(`\bout\.\w+`)

func (p *fastPaths) rewriteObjects(s string) (string, error) {
	for _, o := range p.objects {
		head := "\nfunc (ec *executionContext) _" + o + "(ctx context.Context, sel ast.SelectionSet, obj "
		i := strings.Index(s, head)
		if i < 0 {
			continue // an object no field returns has no marshaller
		}
		end := i + strings.Index(s[i:], "\n}\n")
		body := s[i:end]
		const (
			group  = "\tdeferred := graphql.NewDeferredGroup(ctx)\n"
			result = "\n\treturn out"
		)
		if strings.Count(body, group) != 1 || !strings.HasSuffix(body, result) ||
			strings.Count(body, "graphql.NewFieldSet(fields)") != 1 {
			return "", fmt.Errorf("object %s: marshaller of an unknown shape", o)
		}
		for _, use := range outUse.FindAllString(body, -1) {
			if !slices.Contains([]string{"out.Values", "out.Invalids", "out.Dispatch", "out.ResolveConcurrently"}, use) {
				return "", fmt.Errorf("object %s: %s is not one of object's", o, use)
			}
		}
		body = strings.Replace(body, "graphql.NewFieldSet(fields)", "ec.objects.new(ec.OperationContext, fields)", 1)
		const collect = "\tfields := graphql.CollectFields(ec.OperationContext, sel, "
		if strings.Count(body, collect) != 1 {
			return "", fmt.Errorf("object %s: marshaller of an unknown shape", o)
		}
		body = strings.Replace(body, collect, "\tfields := ec.collected.collect(ec.OperationContext, sel, ", 1)
		if slices.Contains(p.undeferred, o) {
			if strings.Count(body, "deferred") != 3 || strings.Contains(body, "&deferred") {
				return "", fmt.Errorf("object %s: its group of deferred fields is used in a way not known", o)
			}
			body = strings.Replace(body, group, "\tvar deferred graphql.DeferredGroup // no field of it can be deferred\n", 1)
		} else {
			body = strings.Replace(body, group, "\tdeferred := deferredGroup(ctx, fields)\n", 1)
		}
		s = s[:i] + body + s[end:]
	}
	return s, nil
}

// writers are the marshal functions whose values an object writes itself
// (graph/object.go), by the body gqlgen generates for each and the writer
// that writes the same JSON (%s is the value).
var writers = []struct{ body, writer string }{
	{"\t_ = sel\n\tres := graphql.MarshalString(v)\n\tif res == graphql.Null {\n\t\tgraphql.AddInvalidNullFromMarshaler(ctx, \"String!\")\n\t}\n\treturn res\n", "writeString(w, %s)"},
	{"\t_ = sel\n\tres := graphql.MarshalIntID(v)\n\tif res == graphql.Null {\n\t\tgraphql.AddInvalidNullFromMarshaler(ctx, \"ID!\")\n\t}\n\treturn res\n", "writeInt(w, %s, true)"},
	{"\t_ = sel\n\tres := graphql.MarshalInt(v)\n\tif res == graphql.Null {\n\t\tgraphql.AddInvalidNullFromMarshaler(ctx, \"Int!\")\n\t}\n\treturn res\n", "writeInt(w, %s, false)"},
	{"\t_ = sel\n\tres := graphql.MarshalBoolean(v)\n\tif res == graphql.Null {\n\t\tgraphql.AddInvalidNullFromMarshaler(ctx, \"Boolean!\")\n\t}\n\treturn res\n", "writeBoolean(w, %s)"},
	{"\tif v == nil {\n\t\treturn graphql.Null\n\t}\n\t_ = sel\n\t_ = ctx\n\tres := graphql.MarshalString(*v)\n\treturn res\n", "writeOptionalString(w, %s)"},
	// An enum: its value is its marshaller.
	{"\treturn v\n", "%s.MarshalGQL(w)"},
}

// fieldCase is the case of a plain field in an object's marshaller: group 1
// is the field's name, 2 its function.
var fieldCase = regexp.MustCompile(`\t\tcase "(\w+)":\n\t\t\tout\.Values\[i\] = ec\.(_\w+)\(ctx, field, obj\)\n` +
	`\t\t\tif out\.Values\[i\] == graphql\.(?:Null|RequiredNull) \{\n\t\t\t\t(?:out\.Invalids\+\+|atomic\.AddUint32\(&out\.Invalids, 1\))\n\t\t\t\}\n`)

// rewriteWrittenFields makes each object write the plain fields whose
// marshal function has a writer when it is written, from its value then:
// marshalling such a value allocates a closure or boxes it, for every
// field of every object.
func (p *fastPaths) rewriteWrittenFields(s string) (string, error) {
	writerOf := map[string]string{}
	for _, v := range p.plainValues {
		if _, ok := writerOf[v.marshal]; ok {
			continue
		}
		head := "\nfunc (ec *executionContext) " + v.marshal + "(ctx context.Context, sel ast.SelectionSet, v "
		i := strings.Index(s, head)
		if i < 0 {
			return "", fmt.Errorf("marshal function %s not found", v.marshal)
		}
		body := s[i+len(head):]
		body = body[strings.Index(body, "{\n")+2 : strings.Index(body, "\n}\n")+1]
		writerOf[v.marshal] = ""
		for _, w := range writers {
			if body == w.body {
				writerOf[v.marshal] = w.writer
			}
		}
	}
	var funcs strings.Builder
	for _, o := range p.objects {
		head := "\nfunc (ec *executionContext) _" + o + "(ctx context.Context, sel ast.SelectionSet, obj "
		i := strings.Index(s, head)
		if i < 0 {
			continue
		}
		end := i + strings.Index(s[i:], "\n}\n")
		body := s[i:end]
		objType := body[len(head):strings.Index(body, ") graphql.Marshaler {")]
		var cases strings.Builder
		body = fieldCase.ReplaceAllStringFunc(body, func(m string) string {
			g := fieldCase.FindStringSubmatch(m)
			v, ok := p.plainValues[g[2]]
			if !ok || writerOf[v.marshal] == "" {
				return m
			}
			fmt.Fprintf(&cases, "\tcase %q:\n\t\t%s\n", g[1], fmt.Sprintf(writerOf[v.marshal], v.value))
			return "\t\tcase \"" + g[1] + "\": // written by write" + o + "\n"
		})
		if cases.Len() == 0 {
			continue
		}
		const create = "\tout := ec.objects.new(ec.OperationContext, fields)\n"
		if strings.Count(body, create) != 1 {
			return "", fmt.Errorf("object %s: marshaller of an unknown shape", o)
		}
		body = strings.Replace(body, create, create+"\tout.obj, out.write = obj, write"+o+"\n", 1)
		s = s[:i] + body + s[end:]
		fmt.Fprintf(&funcs, "\n// write%s writes the value of field of %s v.\nfunc write%s(w io.Writer, field string, v any) {\n\tobj := v.(%s)\n\tswitch field {\n%s\tdefault:\n\t\tpanic(\"unknown field \" + strconv.Quote(field))\n\t}\n}\n",
			o, o, o, objType, cases.String())
	}
	return s + funcs.String(), nil
}

// missing lists the keys of want not in got, sorted.
func missing(want, got map[string]bool) []string {
	var m []string
	for k := range want {
		if !got[k] {
			m = append(m, k)
		}
	}
	sort.Strings(m)
	return m
}
