package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// TestStatementCache: a statement run again on a connection is not
// prepared again; a statement whose rows are still open is not reset
// under them (the second run is not prepared); a statement evicted while
// its rows are open stays usable until they close.
func TestStatementCache(t *testing.T) {
	t.Parallel()
	_, driverName, dsn, err := parse("sqlite://" + filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := openCached(driverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cached := func() (n int) {
		t.Helper()
		if err := conn.Raw(func(dc any) error { n = dc.(*cachingConn).stmts.Len(); return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	mustExec("CREATE TABLE t (x INTEGER)")
	for i := range 10 {
		mustExec("INSERT INTO t (x) VALUES (?)", i)
	}
	if n := cached(); n != 1 {
		t.Fatalf("%d statements cached after ten runs of one, want 1", n)
	}

	const query = "SELECT x FROM t WHERE x >= ? ORDER BY x"
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
	outer, err := conn.QueryContext(ctx, query, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !outer.Next() {
		t.Fatal("no first row")
	}
	inner, err := conn.QueryContext(ctx, query, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(read(inner)); got != "[8 9]" {
		t.Errorf("the second run while the first's rows are open read %s, want [8 9]", got)
	}
	// Evict the open statement: fill the cache with others.
	for i := range stmtCacheSize {
		var x int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT %d + ?", i), 1).Scan(&x); err != nil || x != i+1 {
			t.Fatalf("SELECT %d + 1: %d, %v", i, x, err)
		}
	}
	if got := fmt.Sprint(read(outer)); got != "[6 7 8 9]" {
		t.Errorf("the rows of an evicted statement read %s after the first, want [6 7 8 9]", got)
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	if n := cached(); n != stmtCacheSize {
		t.Errorf("%d statements cached, want %d", n, stmtCacheSize)
	}
	rows, err := conn.QueryContext(ctx, query, 9)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(read(rows)); got != "[9]" {
		t.Errorf("read %s, want [9]", got)
	}
	rows.Close()
}
