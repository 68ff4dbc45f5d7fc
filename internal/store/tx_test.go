package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lib/pq"

	"roster/ent"
	"roster/ent/organization"
	_ "roster/ent/runtime" // registers the schema's defaults, hooks and policies
	"roster/internal/store"
	"roster/internal/store/storetest"
	"roster/internal/viewer"
)

// TestTransact checks the transaction helper on SQLite and PostgreSQL: it
// commits what fn did when fn succeeds, and nothing otherwise (an error, a
// panic, a retried attempt); nested calls join the outer transaction; a
// serialization failure runs fn again, three times at most; and the
// transaction holds nothing before its first statement.
func TestTransact(t *testing.T) {
	t.Parallel()
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			ctx := viewer.NewSystemContext(context.Background())
			db, err := store.Open(ctx, target.URL(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			c := db.Client
			exists := func(t *testing.T, name string) bool {
				t.Helper()
				ok, err := c.Organization.Query().Where(organization.Name(name)).Exist(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			create := func(ctx context.Context, name string) error {
				return ent.FromContext(ctx).Organization.Create().SetName(name).Exec(ctx)
			}
			failed := errors.New("failed")
			serialization := &pq.Error{Code: "40001", Message: "could not serialize access"}

			for _, tc := range []struct {
				name     string
				fn       func(ctx context.Context, attempt int) error
				err      error
				attempts int
				kept     bool
			}{
				{"commits", func(ctx context.Context, _ int) error { return create(ctx, "commits") }, nil, 1, true},
				{"rolls back on error", func(ctx context.Context, _ int) error {
					if err := create(ctx, "rolls back on error"); err != nil {
						return err
					}
					return failed
				}, failed, 1, false},
				{"joins the outer transaction", func(ctx context.Context, _ int) error {
					outer := ent.TxFromContext(ctx)
					err := store.Transact(ctx, c, func(ctx context.Context) error {
						if ent.TxFromContext(ctx) != outer {
							t.Error("the inner call opened a transaction of its own")
						}
						return create(ctx, "joins the outer transaction")
					})
					if err != nil {
						return err
					}
					return failed // the inner write goes with the outer rollback
				}, failed, 1, false},
				{"retries a serialization failure", func(ctx context.Context, attempt int) error {
					if err := create(ctx, "retries a serialization failure"); err != nil {
						return err
					}
					if attempt == 1 {
						return serialization
					}
					return nil
				}, nil, 2, true},
				{"gives up after three attempts", func(ctx context.Context, _ int) error {
					if err := create(ctx, "gives up after three attempts"); err != nil {
						return err
					}
					return serialization
				}, serialization, 3, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					attempts := 0
					err := store.Transact(ctx, c, func(ctx context.Context) error {
						attempts++
						return tc.fn(ctx, attempts)
					})
					if !errors.Is(err, tc.err) {
						t.Errorf("err = %v, want %v", err, tc.err)
					}
					if attempts != tc.attempts {
						t.Errorf("fn ran %d times, want %d", attempts, tc.attempts)
					}
					if got := exists(t, tc.name); got != tc.kept {
						t.Errorf("kept = %v, want %v", got, tc.kept)
					}
					if n, _ := c.Organization.Query().Where(organization.Name(tc.name)).Count(ctx); n > 1 {
						t.Errorf("%d rows: a failed attempt was kept", n)
					}
				})
			}

			t.Run("rolls back on panic", func(t *testing.T) {
				func() {
					defer func() {
						if recover() == nil {
							t.Error("the panic did not go through")
						}
					}()
					_ = store.Transact(ctx, c, func(ctx context.Context) error {
						if err := create(ctx, "rolls back on panic"); err != nil {
							t.Fatal(err)
						}
						panic("boom")
					})
				}()
				if exists(t, "rolls back on panic") {
					t.Error("the write before the panic was kept")
				}
			})

			t.Run("holds nothing before its first statement", func(t *testing.T) {
				err := store.Transact(ctx, c, func(txCtx context.Context) error {
					// Slow work happens here (hashing a password): another
					// writer goes on meanwhile. On SQLite a transaction
					// that had begun would hold the write lock.
					other, cancel := context.WithTimeout(ctx, 3*time.Second)
					defer cancel()
					if err := c.Organization.Create().SetName("meanwhile").Exec(other); err != nil {
						t.Errorf("another writer waited for the transaction: %v", err)
					}
					return create(txCtx, "after the slow work")
				})
				if err != nil {
					t.Fatal(err)
				}
				if !exists(t, "meanwhile") || !exists(t, "after the slow work") {
					t.Error("a write is missing")
				}
			})
		})
	}
}
