package store

import (
	"context"
	"database/sql"
	"sync"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// maxPrepared bounds the statements Prepared keeps (PostgreSQL keeps each
// on every connection that ran it). Once it holds that many, other
// statements run as before, unprepared: the first statements to run are
// the hot paths of requests, and nothing is ever closed while in use.
const maxPrepared = 256

// Prepared makes drv read, outside transactions, through prepared
// statements of db kept for the next time the same SQL runs: the database
// parses and plans each statement once per connection instead of every
// time, and lib/pq needs one round trip per statement instead of two.
// Transactions and writes go to drv unchanged.
func Prepared(drv dialect.Driver, db *sql.DB) dialect.Driver {
	return &preparedDriver{Driver: drv, db: db, max: maxPrepared, stmts: make(map[string]*sql.Stmt)}
}

type preparedDriver struct {
	dialect.Driver
	db  *sql.DB
	max int

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func (d *preparedDriver) Query(ctx context.Context, query string, args, v any) error {
	rows, ok := v.(*entsql.Rows)
	argv, isSlice := args.([]any)
	if !ok || (!isSlice && args != nil) {
		return d.Driver.Query(ctx, query, args, v)
	}
	stmt, err := d.stmt(ctx, query)
	if err != nil {
		return err
	}
	if stmt == nil {
		return d.Driver.Query(ctx, query, args, v)
	}
	r, err := stmt.QueryContext(ctx, argv...)
	if err != nil {
		return err
	}
	*rows = entsql.Rows{ColumnScanner: r}
	return nil
}

// stmt returns the prepared statement of query, preparing it the first
// time, or nil when the cache is full.
func (d *preparedDriver) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	d.mu.Lock()
	stmt, ok := d.stmts[query]
	full := len(d.stmts) >= d.max
	d.mu.Unlock()
	if ok || full {
		return stmt, nil
	}
	stmt, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev, ok := d.stmts[query]; ok {
		// Prepared meanwhile by another request.
		stmt.Close()
		return prev, nil
	}
	if len(d.stmts) >= d.max {
		stmt.Close()
		return nil, nil
	}
	d.stmts[query] = stmt
	return stmt, nil
}

// Close closes the prepared statements, then the driver.
func (d *preparedDriver) Close() error {
	d.mu.Lock()
	for q, s := range d.stmts {
		s.Close()
		delete(d.stmts, q)
	}
	d.mu.Unlock()
	return d.Driver.Close()
}
