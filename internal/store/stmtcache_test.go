package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"roster/internal/store"
	"roster/internal/store/storetest"
)

// TestStatementCache, on SQLite and PostgreSQL: a statement run again on a
// connection, in a transaction or not, is not prepared again and reads
// the rows as they are now; a statement whose rows are still open is not
// reset under them (a second run meanwhile is not prepared); a statement
// evicted while its rows are open stays usable until they close; the
// cache stays at its bound. (PostgreSQL does not run a statement while
// another's rows are open on the connection: those cases are SQLite's.)
func TestStatementCache(t *testing.T) {
	t.Parallel()
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			dialectName, driverName, dsn, err := store.ParseURL(target.URL(t))
			if err != nil {
				t.Fatal(err)
			}
			db, err := store.OpenCached(driverName, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ph := func(q string) string { // placeholders of the dialect
				if dialectName == dialect.Postgres {
					for i := 1; strings.Contains(q, "?"); i++ {
						q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
					}
				}
				return q
			}
			ctx := context.Background()
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cached := func() (n int) {
				t.Helper()
				if err := conn.Raw(func(dc any) error { n = store.CachedStatements(dc); return nil }); err != nil {
					t.Fatal(err)
				}
				return n
			}
			mustExec := func(q string, args ...any) {
				t.Helper()
				if _, err := conn.ExecContext(ctx, ph(q), args...); err != nil {
					t.Fatal(err)
				}
			}
			read := func(rows *sql.Rows) (xs []int) {
				t.Helper()
				for rows.Next() {
					var x int
					if err := rows.Scan(&x); err != nil {
						t.Fatal(err)
					}
					xs = append(xs, x)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return xs
			}
			query := func(q string, args ...any) *sql.Rows {
				t.Helper()
				rows, err := conn.QueryContext(ctx, ph(q), args...)
				if err != nil {
					t.Fatal(err)
				}
				return rows
			}

			mustExec("CREATE TABLE t (x INTEGER)")
			for i := range 10 {
				mustExec("INSERT INTO t (x) VALUES (?)", i)
			}
			if n := cached(); n != 1 {
				t.Fatalf("%d statements cached after ten runs of one, want 1", n)
			}
			const sel = "SELECT x FROM t WHERE x >= ? ORDER BY x"
			if got := fmt.Sprint(read(query(sel, 8))); got != "[8 9]" {
				t.Fatalf("read %s, want [8 9]", got)
			}
			// A write in a transaction, then the same read: the rows as
			// they are now.
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, ph("INSERT INTO t (x) VALUES (?)"), 10); err != nil {
				t.Fatal(err)
			}
			rows, err := tx.QueryContext(ctx, ph(sel), 8)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(read(rows)); got != "[8 9 10]" {
				t.Errorf("read in the transaction %s, want [8 9 10]", got)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if n := cached(); n != 2 {
				t.Errorf("%d statements cached after two, in and out of a transaction, want 2", n)
			}

			if dialectName != dialect.SQLite {
				return // lib/pq reads one statement's rows at a time on a connection
			}
			outer := query(sel, 5)
			if !outer.Next() {
				t.Fatal("no first row")
			}
			if got := fmt.Sprint(read(query(sel, 8))); got != "[8 9 10]" {
				t.Errorf("the second run while the first's rows are open read %s, want [8 9 10]", got)
			}
			// Evict the open statement: fill the cache with others.
			for i := range store.StmtCacheSize {
				var x int
				if err := conn.QueryRowContext(ctx, ph(fmt.Sprintf("SELECT %d + ?", i)), 1).Scan(&x); err != nil || x != i+1 {
					t.Fatalf("SELECT %d + 1: %d, %v", i, x, err)
				}
			}
			if got := fmt.Sprint(read(outer)); got != "[6 7 8 9 10]" {
				t.Errorf("the rows of an evicted statement read %s after the first, want [6 7 8 9 10]", got)
			}
			if err := outer.Close(); err != nil {
				t.Fatal(err)
			}
			if n := cached(); n != store.StmtCacheSize {
				t.Errorf("%d statements cached, want the bound, %d", n, store.StmtCacheSize)
			}
			if got := fmt.Sprint(read(query(sel, 10))); got != "[10]" {
				t.Errorf("read %s, want [10]", got)
			}
		})
	}
}
