package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"

	"roster/ent"
	"roster/ent/migrate"
	"roster/internal/ratelimit"
	"roster/internal/viewer"
)

// schemaTable records the fingerprint of the schema a database was last
// migrated to. A start-up that finds its own fingerprint there skips the
// migration: inspecting every table, index and foreign key takes longer
// than the rest of a start.
const schemaTable = "roster_schema"

// tablesMu guards ent's description of the tables (migrate.Tables): a
// migration writes into it (index and foreign-key names, column links), so
// migrations in one process take turns, and the fingerprint is read between
// them.
var tablesMu sync.Mutex

var fingerprintOnce = sync.OnceValue(func() string {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	return fingerprint(migrate.Tables, ratelimit.Schema, fmt.Sprint(viewer.AllPermissions))
})

// SchemaFingerprint identifies the schema this program migrates to: the
// tables, columns, indexes and foreign keys ent describes, the rate
// limits' table, and the permissions the built-in Admin role holds.
func SchemaFingerprint() string { return fingerprintOnce() }

// fingerprint hashes a canonical description of tables and extra.
func fingerprint(tables []*schema.Table, extra ...string) string {
	h := sha256.New()
	for _, t := range tables {
		fmt.Fprintf(h, "table %q %s\n", t.Name, annotation(t.Annotation))
		for _, c := range t.Columns {
			fmt.Fprintf(h, "column %q %v %q %#v %d unique=%t null=%t inc=%t %q %v %q\n",
				c.Name, c.Type, c.Attr, c.Default, c.Size, c.Unique, c.Nullable, c.Increment, c.Enums, c.SchemaType, c.Collation)
		}
		fmt.Fprintf(h, "primary %q\n", columnNames(t.PrimaryKey))
		for _, i := range t.Indexes {
			fmt.Fprintf(h, "index %q unique=%t %q %s\n", i.Name, i.Unique, columnNames(i.Columns), annotation(i.Annotation))
		}
		for _, fk := range t.ForeignKeys {
			ref := ""
			if fk.RefTable != nil {
				ref = fk.RefTable.Name
			}
			fmt.Fprintf(h, "foreign %q %q %q %q %s %s\n", fk.Symbol, columnNames(fk.Columns), ref, columnNames(fk.RefColumns), fk.OnUpdate, fk.OnDelete)
		}
	}
	for _, e := range extra {
		fmt.Fprintf(h, "extra %q\n", e)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func columnNames(cs []*schema.Column) []string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return names
}

func annotation(a any) string {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Sprintf("%+v", a)
	}
	return string(b)
}

// migrated reports whether the database records this program's schema.
func migrated(ctx context.Context, drv dialect.Driver) bool {
	var rows entsql.Rows
	if err := drv.Query(ctx, "SELECT fingerprint FROM "+schemaTable, []any{}, &rows); err != nil {
		return false // no table yet
	}
	defer rows.Close()
	var got string
	for rows.Next() {
		if err := rows.Scan(&got); err != nil {
			return false
		}
	}
	return rows.Err() == nil && got == SchemaFingerprint()
}

// migrateSchema brings the database to this program's schema and records
// its fingerprint.
func migrateSchema(ctx context.Context, drv dialect.Driver, client *ent.Client) error {
	fp := SchemaFingerprint()
	tablesMu.Lock()
	err := client.Schema.Create(ctx)
	tablesMu.Unlock()
	if err != nil {
		return err
	}
	if err := ratelimit.Migrate(ctx, drv); err != nil {
		return err
	}
	if err := completeAdminRoles(ctx, client); err != nil {
		return err
	}
	insert, _ := entsql.Dialect(drv.Dialect()).Insert(schemaTable).Columns("id", "fingerprint").Values(1, fp).Query()
	for _, stmt := range []struct {
		query string
		args  []any
	}{
		{"CREATE TABLE IF NOT EXISTS " + schemaTable + " (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL)", []any{}},
		{"DELETE FROM " + schemaTable, []any{}},
		{insert, []any{1, fp}},
	} {
		if err := drv.Exec(ctx, stmt.query, stmt.args, nil); err != nil {
			return fmt.Errorf("record the schema: %w", err)
		}
	}
	return nil
}
