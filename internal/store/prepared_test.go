package store

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"roster/internal/store/storetest"
)

// TestPrepared: reads outside transactions go through prepared statements,
// one per SQL text, which answer with the rows as they are now (the
// writes between them included); once the cache is full, other statements
// still run, unprepared, and the cache stays at its bound.
func TestPrepared(t *testing.T) {
	t.Parallel()
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dialectName, driverName, dsn, err := parse(target.URL(t))
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open(driverName, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			drv := Prepared(entsql.OpenDB(dialectName, db), db).(*preparedDriver)
			drv.max = 3
			names := func(t *testing.T, query string, args ...any) []string {
				t.Helper()
				var rows entsql.Rows
				if err := drv.Query(ctx, query, args, &rows); err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var out []string
				for rows.Next() {
					var s string
					if err := rows.Scan(&s); err != nil {
						t.Fatal(err)
					}
					out = append(out, s)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return out
			}
			byID := "SELECT name FROM things WHERE id = $1"
			if dialectName == dialect.SQLite {
				byID = "SELECT name FROM things WHERE id = ?"
			}
			for i, name := range []string{"a", "b"} {
				if err := drv.Exec(ctx, fmt.Sprintf("INSERT INTO things (id, name) VALUES (%d, '%s')", i+1, name), []any{}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if got := names(t, byID, 1); len(got) != 1 || got[0] != "a" {
				t.Fatalf("first read = %v", got)
			}
			if err := drv.Exec(ctx, "UPDATE things SET name = 'c' WHERE id = 1", []any{}, nil); err != nil {
				t.Fatal(err)
			}
			if got := names(t, byID, 1); len(got) != 1 || got[0] != "c" {
				t.Errorf("read after a write = %v, want [c]", got)
			}
			if got := names(t, byID, 2); len(got) != 1 || got[0] != "b" {
				t.Errorf("read of another row = %v, want [b]", got)
			}
			if _, ok := drv.stmts[byID]; !ok || len(drv.stmts) != 1 {
				t.Errorf("prepared statements = %d, want the one read", len(drv.stmts))
			}
			for i := range 5 {
				q := fmt.Sprintf("SELECT name FROM things WHERE id > %d ORDER BY id", -i)
				if got := names(t, q); len(got) == 0 {
					t.Errorf("%s: no rows", q)
				}
			}
			if len(drv.stmts) != drv.max {
				t.Errorf("prepared statements = %d, want the bound, %d", len(drv.stmts), drv.max)
			}
		})
	}
}
