package graph

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// TestSchemaIsDescribed checks that every type, field, argument and enum
// value of the API has a description.
func TestSchemaIsDescribed(t *testing.T) {
	t.Parallel()
	s := NewExecutableSchema(Config{}).Schema()
	var missing []string
	for name, def := range s.Types {
		if strings.HasPrefix(name, "__") || def.BuiltIn {
			continue
		}
		if def.Description == "" {
			missing = append(missing, name)
		}
		for _, v := range def.EnumValues {
			if v.Description == "" {
				missing = append(missing, name+"."+v.Name)
			}
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if f.Description == "" {
				missing = append(missing, name+"."+f.Name)
			}
			for _, a := range f.Arguments {
				if a.Description == "" {
					missing = append(missing, name+"."+f.Name+"("+a.Name+")")
				}
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d schema elements have no description:\n%s", len(missing), strings.Join(missing, "\n"))
	}
	if s.Types["User"] == nil || s.Types["User"].Kind != ast.Object {
		t.Fatal("the schema has no User type")
	}
}
