package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// stmtCacheSize bounds the prepared statements each connection keeps.
// ent writes the same few hundred statements over and over; those whose
// text varies (an IN list of another length) fall out first.
const stmtCacheSize = 256

// openCached opens the database of driverName at dsn with a cache of
// prepared statements on each connection: a statement with arguments is
// parsed and planned once per connection instead of at every call.
// SQLite parses every statement it is given, and lib/pq takes an extra
// round trip to prepare each query with arguments; a prepared one runs in
// one.
func openCached(driverName, dsn string) (*sql.DB, error) {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	drv := db.Driver()
	db.Close()
	var connector driver.Connector = dsnConnector{drv, dsn}
	if dc, ok := drv.(driver.DriverContext); ok {
		if connector, err = dc.OpenConnector(dsn); err != nil {
			return nil, err
		}
	}
	return sql.OpenDB(cachingConnector{connector}), nil
}

// dsnConnector connects a driver that has no connector of its own, as
// database/sql does.
type dsnConnector struct {
	drv driver.Driver
	dsn string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

type cachingConnector struct{ driver.Connector }

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	for _, needed := range []bool{
		implements[driver.ConnPrepareContext](conn), implements[driver.QueryerContext](conn),
		implements[driver.ExecerContext](conn), implements[driver.ConnBeginTx](conn),
	} {
		if !needed {
			return conn, nil // a driver this cache does not know: used as is
		}
	}
	cc := &cachingConn{Conn: conn}
	cc.stmts, _ = simplelru.NewLRU(stmtCacheSize, cc.evicted) // the size is positive: no error
	return cc, nil
}

func implements[I any](v any) bool { _, ok := v.(I); return ok }

// cachingConn is a driver connection with its prepared statements.
// database/sql uses a connection from one goroutine at a time, and closes
// its rows under the same lock, so nothing here needs a mutex.
type cachingConn struct {
	driver.Conn
	stmts *simplelru.LRU[string, *cachedStmt]
}

// A cachedStmt is a statement prepared on one connection, with the count
// of its rows still open: it is reset by each run, so it runs only while
// none are open, and it is closed only when none are.
type cachedStmt struct {
	driver.Stmt
	open int
	gone bool
}

func (c *cachingConn) evicted(_ string, s *cachedStmt) {
	s.gone = true
	if s.open == 0 {
		_ = s.Close()
	}
}

// stmt returns the prepared statement of query, or nil when it cannot be
// used now (its rows are open) or prepared (the caller runs the query
// unprepared and reports its error).
func (c *cachingConn) stmt(ctx context.Context, query string) *cachedStmt {
	if s, ok := c.stmts.Get(query); ok {
		if s.open > 0 {
			return nil
		}
		return s
	}
	ds, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if !implements[driver.StmtQueryContext](ds) || !implements[driver.StmtExecContext](ds) {
		_ = ds.Close()
		return nil
	}
	s := &cachedStmt{Stmt: ds}
	c.stmts.Add(query, s)
	return s
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 {
		if s := c.stmt(ctx, query); s != nil {
			rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
			if err != nil {
				c.failed(query, s, err)
				return nil, err
			}
			s.open++
			return &cachedRows{Rows: rows, stmt: s}, nil
		}
	}
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) > 0 {
		if s := c.stmt(ctx, query); s != nil {
			res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
			if err != nil {
				c.failed(query, s, err)
			}
			return res, err
		}
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

// failed drops a statement whose run failed for a reason that is the
// statement's own, not its arguments': PostgreSQL refuses a plan whose
// tables changed shape since it was prepared, and a statement may be
// left unusable by a broken connection.
func (c *cachingConn) failed(query string, s *cachedStmt, err error) {
	var pe interface{ SQLState() string }
	if errors.Is(err, driver.ErrBadConn) || (errors.As(err, &pe) && pe.SQLState() == "0A000") {
		if cur, ok := c.stmts.Peek(query); ok && cur == s {
			c.stmts.Remove(query)
		}
	}
}

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

// Close closes the statements, then the connection.
func (c *cachingConn) Close() error {
	c.stmts.Purge()
	return c.Conn.Close()
}

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *cachingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// cachedRows are the rows of a cached statement: closing them frees the
// statement for its next run.
type cachedRows struct {
	driver.Rows
	stmt   *cachedStmt
	closed bool
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.stmt.open--
		if r.stmt.gone && r.stmt.open == 0 {
			err = errors.Join(err, r.stmt.Close())
		}
	}
	return err
}

// The optional interfaces of the drivers' rows, passed through.

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypeLength(i int) (length int64, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) HasNextResultSet() bool {
	if t, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return t.HasNextResultSet()
	}
	return false
}

func (r *cachedRows) NextResultSet() error {
	if t, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return t.NextResultSet()
	}
	return io.EOF
}
