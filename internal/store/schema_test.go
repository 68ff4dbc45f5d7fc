package store

import (
	"testing"

	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"
)

// TestFingerprint: the fingerprint is the same for the same schema, and
// differs when a column, an index or the extra parts change.
func TestFingerprint(t *testing.T) {
	t.Parallel()
	build := func(change func(*schema.Table)) []*schema.Table {
		id := &schema.Column{Name: "id", Type: field.TypeInt, Increment: true}
		name := &schema.Column{Name: "name", Type: field.TypeString, Size: 100}
		tbl := &schema.Table{
			Name:       "things",
			Columns:    []*schema.Column{id, name},
			PrimaryKey: []*schema.Column{id},
			Indexes:    []*schema.Index{{Name: "thing_name", Columns: []*schema.Column{name}}},
		}
		if change != nil {
			change(tbl)
		}
		return []*schema.Table{tbl}
	}
	base := fingerprint(build(nil), "x")
	if again := fingerprint(build(nil), "x"); again != base {
		t.Fatalf("the same schema has two fingerprints: %s, %s", base, again)
	}
	for what, other := range map[string]string{
		"a new column": fingerprint(build(func(t *schema.Table) {
			t.Columns = append(t.Columns, &schema.Column{Name: "email", Type: field.TypeString})
		}), "x"),
		"a longer column":    fingerprint(build(func(t *schema.Table) { t.Columns[1].Size = 200 }), "x"),
		"a nullable column":  fingerprint(build(func(t *schema.Table) { t.Columns[1].Nullable = true }), "x"),
		"a unique index":     fingerprint(build(func(t *schema.Table) { t.Indexes[0].Unique = true }), "x"),
		"an index renamed":   fingerprint(build(func(t *schema.Table) { t.Indexes[0].Name = "thing_name2" }), "x"),
		"another extra part": fingerprint(build(nil), "y"),
	} {
		if other == base {
			t.Errorf("%s leaves the fingerprint unchanged", what)
		}
	}
}
