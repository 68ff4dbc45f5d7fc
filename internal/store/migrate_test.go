package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"roster/ent/migrate"
	"roster/internal/store"
	"roster/internal/store/storetest"
	"roster/internal/viewer"
)

// TestMigrationIsRecorded: a database migrated to this program's schema
// opens with one statement (the schema's fingerprint read); one whose
// fingerprint is another's is migrated again, which restores what was
// missing; a new database is migrated and records its fingerprint.
func TestMigrationIsRecorded(t *testing.T) {
	t.Parallel()
	index := migrate.UsersTable.Indexes[0].Name
	for _, target := range append(storetest.Targets, storetest.Target{Name: "sqlite-new", URL: func(tb testing.TB) string {
		return "sqlite://" + filepath.Join(tb.TempDir(), "new.db")
	}}) {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			url := target.URL(t)
			ctx := viewer.NewSystemContext(context.Background())
			open := func(t *testing.T) (*store.DB, int64) {
				t.Helper()
				var n store.Counter
				db, err := store.Open(store.WithCounter(ctx, &n), url)
				if err != nil {
					t.Fatal(err)
				}
				return db, n.Count()
			}
			db, _ := open(t)
			db.Close()

			db, statements := open(t)
			if statements != 1 {
				t.Errorf("opening a migrated database took %d statements, want 1", statements)
			}
			hasIndex := func() bool {
				t.Helper()
				q := "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = $1"
				if db.Dialect == "postgres" {
					q = "SELECT count(*) FROM pg_indexes WHERE indexname = $1"
				}
				var n int
				if err := db.SQL.QueryRow(q, index).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n == 1
			}
			if !hasIndex() {
				t.Fatalf("index %s is missing after the migration", index)
			}
			for _, stmt := range []string{"DROP INDEX " + index, "UPDATE roster_schema SET fingerprint = 'another'"} {
				if _, err := db.SQL.Exec(stmt); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()

			db, statements = open(t)
			defer db.Close()
			if statements < 10 {
				t.Errorf("a database of another schema was opened with %d statements: not migrated", statements)
			}
			if !hasIndex() {
				t.Errorf("the migration did not restore index %s", index)
			}
			var fp string
			if err := db.SQL.QueryRow("SELECT fingerprint FROM roster_schema").Scan(&fp); err != nil || fp != store.SchemaFingerprint() {
				t.Errorf("recorded fingerprint %q (%v), want %q", fp, err, store.SchemaFingerprint())
			}
		})
	}
}
