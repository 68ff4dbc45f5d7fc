package store

import (
	"context"
	"database/sql"
	"sync/atomic"

	"entgo.io/ent/dialect"
)

// Counter counts SQL statements.
type Counter struct{ n atomic.Int64 }

// Count returns the number of statements counted.
func (c *Counter) Count() int64 { return c.n.Load() }

type counterKey struct{}

// WithCounter returns a context in which the statements run through a
// Counting driver are counted by c.
func WithCounter(ctx context.Context, c *Counter) context.Context {
	return context.WithValue(ctx, counterKey{}, c)
}

// WithoutCounter returns a context in which statements are counted by no
// request's Counter: for work a request goes on with on behalf of others.
func WithoutCounter(ctx context.Context) context.Context {
	return context.WithValue(ctx, counterKey{}, (*Counter)(nil))
}

func count(ctx context.Context) {
	if c, ok := ctx.Value(counterKey{}).(*Counter); ok && c != nil {
		c.n.Add(1)
	}
}

// Counting wraps drv so that it counts each statement it runs in the
// Counter of the statement's context.
func Counting(drv dialect.Driver) dialect.Driver { return countingDriver{drv} }

type countingDriver struct{ dialect.Driver }

func (d countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d countingDriver) Query(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return d.Driver.Query(ctx, query, args, v)
}

func (d countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return countingTx{tx}, nil
}

// BeginTx starts a transaction with options (a read-only snapshot, say), as
// the driver it counts for does.
func (d countingDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	tx, err := beginTx(ctx, d.Driver, opts)
	if err != nil {
		return nil, err
	}
	return countingTx{tx}, nil
}

type countingTx struct{ dialect.Tx }

func (t countingTx) Exec(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t countingTx) Query(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return t.Tx.Query(ctx, query, args, v)
}
