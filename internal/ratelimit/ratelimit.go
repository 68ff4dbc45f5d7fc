// Package ratelimit counts attempts at sensitive operations (logging in,
// second factors, accepting invitations) and refuses those beyond a rate.
// The counts live in one database table, so every instance that shares the
// database shares them, and each decision commits in a transaction of its
// own: an attempt counts even when the operation it guards then fails.
//
// # Algorithm
//
// Each key has a token bucket of capacity Limit that refills at Limit
// tokens per Window, kept as the generic cell rate algorithm (GCRA): one
// row per key holding its theoretical arrival time (tat), the time at which
// its bucket would be full again plus one attempt's cost. A fresh key may
// make Limit attempts at once; after that one attempt is allowed every
// Window/Limit, and a key left alone for a whole Window is full again.
// Refused attempts cost nothing, so hammering a blocked key does not extend
// the block. A row whose tat has passed says nothing a missing row does not:
// such rows are deleted now and then.
//
// # Concurrency
//
// A decision reads the rows of its keys with SELECT … FOR UPDATE on
// PostgreSQL (in key order, so two decisions never wait on each other in a
// cycle) and writes them with INSERT … ON CONFLICT DO UPDATE, whose update
// adds to what is stored; SQLite's transactions take the write lock when
// they begin. Concurrent attempts at one key, on one instance or many, are
// therefore decided one after the other.
package ratelimit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// Table is the name of the table that holds the counts.
const Table = "rate_limits"

// sweepEvery is how often a limiter deletes the rows of full buckets.
const sweepEvery = time.Minute

// Rule is a rate: Limit attempts at once, and Limit per Window in the long
// run, for each key. Name keeps the keys of different rules apart.
type Rule struct {
	Name   string
	Limit  int
	Window time.Duration
}

// interval is what one attempt costs: Window/Limit, at least 1ns.
func (r Rule) interval() int64 { return max(1, int64(r.Window)/int64(r.Limit)) }

// Check names one key under one rule: the attempt is counted against it.
type Check struct {
	Rule Rule
	// Key is what the attempt is counted against, such as an account or a
	// client address.
	Key string
}

func (c Check) id() string { return c.Rule.Name + ":" + c.Key }

// Schema is the statement that creates the limiter's table.
const Schema = "CREATE TABLE IF NOT EXISTS " + Table + " (bucket TEXT PRIMARY KEY, tat BIGINT NOT NULL)"

// Migrate creates the table of counts if it does not exist.
func Migrate(ctx context.Context, drv dialect.Driver) error {
	if err := drv.Exec(ctx, Schema, []any{}, nil); err != nil {
		return fmt.Errorf("create table %s: %w", Table, err)
	}
	return nil
}

// Limiter decides whether attempts are allowed, counting them in the
// database. Create one with New; it is safe for concurrent use.
type Limiter struct {
	drv       dialect.Driver
	now       func() time.Time
	lastSweep atomic.Int64
	refused   func(rule string)
}

// OnRefused makes the limiter call f with the name of the rule that refused
// each refused attempt (for metrics). Call it before the limiter is used.
func (l *Limiter) OnRefused(f func(rule string)) { l.refused = f }

// New returns a limiter keeping its counts through drv (the root driver,
// never a request's transaction), in the table Migrate creates. now is the
// clock; time.Now when nil.
func New(drv dialect.Driver, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{drv: drv, now: now}
}

// Decision is the outcome of an attempt.
type Decision struct {
	// OK reports whether the attempt may go on; it was then counted.
	OK bool
	// Allowed tells, for each check of AllowSome's some, whether it
	// allowed the attempt and counted it.
	Allowed []bool
	// RetryAfter is, when the attempt is refused, how long until it would
	// be allowed (barring other attempts). When it is allowed but some of
	// AllowSome's checks refused it, it is the longest wait among those.
	RetryAfter time.Duration
}

// Allow decides an attempt that must be allowed by every check, and counts
// it against every check's key only if so: an attempt refused by one key
// (say, a locked account) does not also drain the others (say, the client
// address). A key named twice counts once; with no checks the attempt is
// allowed.
func (l *Limiter) Allow(ctx context.Context, checks ...Check) (Decision, error) {
	return l.AllowSome(ctx, checks, nil)
}

// AllowSome decides an attempt that must be allowed by every check of all
// and by at least one of some (when some is not empty), such as a login
// that tries the accounts several organizations hold under one email: it
// goes on for the accounts whose limit allows it. The attempt is counted
// against every key of all and the allowing keys of some, and against
// none if refused. The whole decision is one transaction.
func (l *Limiter) AllowSome(ctx context.Context, all, some []Check) (d Decision, err error) {
	d.Allowed = make([]bool, len(some))
	if len(all)+len(some) == 0 {
		d.OK = true
		return d, nil
	}
	now := l.now().UnixNano()
	keys := make([]string, 0, len(all)+len(some))
	for _, c := range slices.Concat(all, some) {
		if c.Rule.Limit < 1 || c.Rule.Window <= 0 {
			return d, fmt.Errorf("rate limit %q: limit and window must be positive", c.Rule.Name)
		}
		keys = append(keys, c.id())
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)

	tx, err := l.drv.Tx(ctx)
	if err != nil {
		return d, fmt.Errorf("rate limit: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stored, err := l.read(ctx, tx, keys)
	if err != nil {
		return d, err
	}
	// wait returns how long c must wait, 0 when it allows an attempt now.
	wait := func(c Check) time.Duration {
		tat, ok := stored[c.id()]
		if !ok || tat < now {
			tat = now
		}
		return time.Duration(max(0, tat+c.Rule.interval()-now-int64(c.Rule.Window)))
	}
	var charge []Check
	var refusedAll, soonestSome, longestSome time.Duration
	var refusedBy string
	for _, c := range all {
		if w := wait(c); w > refusedAll {
			refusedAll, refusedBy = w, c.Rule.Name
		}
	}
	anySome := false
	for i, c := range some {
		if w := wait(c); w > 0 {
			if soonestSome == 0 || w < soonestSome {
				soonestSome = w
			}
			longestSome = max(longestSome, w)
			continue
		}
		d.Allowed[i] = true
		anySome = true
	}
	if refusedAll > 0 || (len(some) > 0 && !anySome) {
		if refusedBy == "" {
			refusedBy = some[0].Rule.Name
		}
		if l.refused != nil {
			l.refused(refusedBy)
		}
		clear(d.Allowed)
		d.RetryAfter = max(refusedAll, soonestSome)
		return d, tx.Commit() // nothing written
	}
	charge = append(charge, all...)
	for i, c := range some {
		if d.Allowed[i] {
			charge = append(charge, c)
		}
	}
	if err := l.charge(ctx, tx, charge, now); err != nil {
		return d, err
	}
	if err := tx.Commit(); err != nil {
		return d, fmt.Errorf("rate limit: commit: %w", err)
	}
	d.OK, d.RetryAfter = true, longestSome
	l.maybeSweep(ctx, now)
	return d, nil
}

// Reset forgets the attempts counted against the keys of checks, giving
// them full buckets again: call it, for example, after a successful login
// so that earlier failures of that account no longer count.
func (l *Limiter) Reset(ctx context.Context, checks ...Check) error {
	if len(checks) == 0 {
		return nil
	}
	keys := make([]any, len(checks))
	for i, c := range checks {
		keys[i] = c.id()
	}
	q := "DELETE FROM " + Table + " WHERE bucket IN (" + l.placeholders(1, len(keys)) + ")"
	if err := l.drv.Exec(ctx, q, keys, nil); err != nil {
		return fmt.Errorf("rate limit: reset: %w", err)
	}
	return nil
}

// Sweep deletes the rows of keys whose buckets are full again. Decisions
// sweep on their own, at most once a minute per limiter.
func (l *Limiter) Sweep(ctx context.Context) error {
	return l.sweep(ctx, l.now().UnixNano())
}

// read returns the stored arrival times of keys (sorted), locking their
// rows until tx ends.
func (l *Limiter) read(ctx context.Context, tx dialect.Tx, keys []string) (map[string]int64, error) {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	q := "SELECT bucket, tat FROM " + Table + " WHERE bucket IN (" + l.placeholders(1, len(keys)) + ") ORDER BY bucket"
	if l.drv.Dialect() == dialect.Postgres {
		// A key without a row has nothing to lock: a decision that read
		// it missing while it waited for another key's lock would decide
		// on a count others have since raised. Every key gets its row
		// (an empty bucket, in key order) before the rows are locked.
		values := make([]string, len(keys))
		for i := range keys {
			values[i] = "(" + l.placeholder(i+1) + ", 0)"
		}
		ensure := "INSERT INTO " + Table + " (bucket, tat) VALUES " + strings.Join(values, ", ") + " ON CONFLICT (bucket) DO NOTHING"
		if err := tx.Exec(ctx, ensure, args, nil); err != nil {
			return nil, fmt.Errorf("rate limit: read: %w", err)
		}
		q += " FOR UPDATE"
	}
	var rows entsql.Rows
	if err := tx.Query(ctx, q, args, &rows); err != nil {
		return nil, fmt.Errorf("rate limit: read: %w", err)
	}
	defer rows.Close()
	stored := make(map[string]int64, len(keys))
	for rows.Next() {
		var (
			k   string
			tat int64
		)
		if err := rows.Scan(&k, &tat); err != nil {
			return nil, fmt.Errorf("rate limit: read: %w", err)
		}
		stored[k] = tat
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rate limit: read: %w", err)
	}
	return stored, nil
}

// charge counts one attempt against each check's key. The update adds to
// what is stored, so a key first seen by two transactions at once is
// charged twice, not once.
func (l *Limiter) charge(ctx context.Context, tx dialect.Tx, checks []Check, now int64) error {
	greatest := "GREATEST"
	if l.drv.Dialect() == dialect.SQLite {
		greatest = "MAX"
	}
	// In key order, as the rows were locked: rows first seen here are
	// then also locked in that order.
	checks = slices.SortedFunc(slices.Values(checks), func(a, b Check) int { return strings.Compare(a.id(), b.id()) })
	seen := map[string]bool{}
	for _, c := range checks {
		if seen[c.id()] {
			continue
		}
		seen[c.id()] = true
		q := "INSERT INTO " + Table + " (bucket, tat) VALUES (" + l.placeholders(1, 2) + ") ON CONFLICT (bucket) DO UPDATE SET tat = " +
			greatest + "(" + Table + ".tat, " + l.placeholder(3) + ") + " + l.placeholder(4)
		if err := tx.Exec(ctx, q, []any{c.id(), now + c.Rule.interval(), now, c.Rule.interval()}, nil); err != nil {
			return fmt.Errorf("rate limit: count: %w", err)
		}
	}
	return nil
}

// maybeSweep sweeps when the last sweep of this limiter is a minute old.
// A failed sweep only leaves rows for the next one.
func (l *Limiter) maybeSweep(ctx context.Context, now int64) {
	last := l.lastSweep.Load()
	if now-last < int64(sweepEvery) || !l.lastSweep.CompareAndSwap(last, now) {
		return
	}
	_ = l.sweep(context.WithoutCancel(ctx), now)
}

func (l *Limiter) sweep(ctx context.Context, now int64) error {
	if err := l.drv.Exec(ctx, "DELETE FROM "+Table+" WHERE tat < "+l.placeholder(1), []any{now}, nil); err != nil {
		return fmt.Errorf("rate limit: sweep: %w", err)
	}
	return nil
}

// placeholder returns the i-th (from 1) parameter placeholder.
func (l *Limiter) placeholder(i int) string {
	if l.drv.Dialect() == dialect.Postgres {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}

// placeholders returns n placeholders from the from-th, separated by commas.
func (l *Limiter) placeholders(from, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = l.placeholder(from + i)
	}
	return strings.Join(ps, ", ")
}
