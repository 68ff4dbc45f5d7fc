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

// TestSubscriptionsReachOnlyGroupedTypes checks that the events of a
// subscription reach only types whose read rules depend on no more than the
// key subscriptions are grouped by (access.VisibilityOf: the organization,
// and who a division-scoped viewer is). Sessions are read by a rule that
// also depends on the viewer's permissions and session: were they
// reachable, viewers of one group could see each other's.
func TestSubscriptionsReachOnlyGroupedTypes(t *testing.T) {
	t.Parallel()
	s := NewExecutableSchema(Config{}).Schema()
	notGrouped := map[string]bool{"Session": true, "MfaChallenge": true, "TotpEnrollment": true, "LoginPayload": true}
	reached := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		def := s.Types[name]
		if def == nil || reached[name] {
			return
		}
		reached[name] = true
		for _, f := range def.Fields {
			walk(f.Type.Name())
		}
		for _, impl := range s.PossibleTypes[name] {
			walk(impl.Name)
		}
	}
	walk(s.Subscription.Name)
	if !reached["User"] {
		t.Fatal("the walk did not reach User")
	}
	for name := range notGrouped {
		if s.Types[name] == nil {
			t.Errorf("no type %s in the schema: update this test", name)
		}
		if reached[name] {
			t.Errorf("subscriptions reach %s, whose read rule the grouping key does not cover", name)
		}
	}
}
