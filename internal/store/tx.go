package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"roster/ent"
)

// maxAttempts is how many times Transact runs a function whose transaction
// PostgreSQL aborted to keep concurrent transactions apart.
const maxAttempts = 3

// Transact runs fn in one transaction of client and commits it when fn
// returns nil; otherwise, or when fn panics, it rolls it back. fn reaches
// the transaction through its context: ent.FromContext(ctx) is the
// transaction's client, ent.TxFromContext(ctx) the transaction (for
// OnCommit). When ctx already carries a transaction, fn joins it.
//
// The transaction begins at its first statement, so slow work fn does
// before it (verifying or hashing a password) holds no lock. When
// PostgreSQL aborts the transaction on a serialization failure or a
// deadlock (see Retryable), fn runs again in a new one, up to three times
// in all.
//
// Transact is the only place transactions are opened: by the API for each
// mutation operation, and by the server's own jobs.
func Transact(ctx context.Context, client *ent.Client, fn func(ctx context.Context) error) error {
	if ent.TxFromContext(ctx) != nil {
		return fn(ctx)
	}
	for attempt := 1; ; attempt++ {
		err := transactOnce(ctx, client, fn)
		if err == nil || attempt == maxAttempts || !Retryable(err) || ctx.Err() != nil {
			return err
		}
	}
}

func transactOnce(ctx context.Context, client *ent.Client, fn func(ctx context.Context) error) (err error) {
	tx, err := client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	ctx = ent.NewTxContext(ctx, tx)
	ctx = ent.NewContext(ctx, tx.Client())
	if err := fn(ctx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// Retryable reports whether err is PostgreSQL aborting a transaction to keep
// it apart from a concurrent one (a serialization failure, 40001, or a
// deadlock, 40P01): the same work may succeed in a new transaction.
func Retryable(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "40001" || pqErr.Code == "40P01")
}

// lazyDriver makes the transactions of a driver begin at their first
// statement.
type lazyDriver struct{ dialect.Driver }

func (d lazyDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	return &lazyTx{ctx: ctx, drv: d.Driver}, nil
}

// BeginTx begins a transaction with options (a read-only snapshot, say) at
// once, as the driver does.
func (d lazyDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	return beginTx(ctx, d.Driver, opts)
}

// beginTx begins a transaction of drv with options, which ent's SQL driver
// and the drivers of this package can.
func beginTx(ctx context.Context, drv dialect.Driver, opts *sql.TxOptions) (dialect.Tx, error) {
	b, ok := drv.(interface {
		BeginTx(context.Context, *sql.TxOptions) (dialect.Tx, error)
	})
	if !ok {
		return nil, fmt.Errorf("store: the %s driver cannot start a transaction with options", drv.Dialect())
	}
	return b.BeginTx(ctx, opts)
}

// lazyTx is a transaction that begins, with the context it was opened with,
// when its first statement runs; one that runs none costs nothing.
type lazyTx struct {
	ctx  context.Context
	drv  dialect.Driver
	mu   sync.Mutex
	tx   dialect.Tx
	done bool
}

func (t *lazyTx) begin() (dialect.Tx, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil, sql.ErrTxDone
	}
	if t.tx == nil {
		tx, err := t.drv.Tx(t.ctx)
		if err != nil {
			return nil, err
		}
		t.tx = tx
	}
	return t.tx, nil
}

func (t *lazyTx) Exec(ctx context.Context, query string, args, v any) error {
	tx, err := t.begin()
	if err != nil {
		return err
	}
	return tx.Exec(ctx, query, args, v)
}

func (t *lazyTx) Query(ctx context.Context, query string, args, v any) error {
	tx, err := t.begin()
	if err != nil {
		return err
	}
	return tx.Query(ctx, query, args, v)
}

// end ends the transaction with end, if it began.
func (t *lazyTx) end(end func(dialect.Tx) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	if t.tx == nil {
		return nil
	}
	return end(t.tx)
}

func (t *lazyTx) Commit() error   { return t.end(dialect.Tx.Commit) }
func (t *lazyTx) Rollback() error { return t.end(dialect.Tx.Rollback) }
