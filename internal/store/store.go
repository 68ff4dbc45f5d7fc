// Package store opens the database roster keeps its data in: an embedded
// SQLite file by default, or PostgreSQL through lib/pq. It migrates the
// schema at start-up, opens every transaction (Transact) and counts the SQL
// statements each request makes.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"  // the PostgreSQL driver
	_ "modernc.org/sqlite" // the embedded SQLite driver

	"roster/ent"
	"roster/ent/role"
	_ "roster/ent/runtime" // the policies and hooks the migration's own writes go through
	"roster/internal/viewer"
)

// DefaultURL is the database used when none is configured.
const DefaultURL = "sqlite://data/roster.db"

var migrating sync.Mutex

// DB is an open database.
type DB struct {
	Client *ent.Client
	// Driver is the client's driver, for the few statements that do not
	// go through ent (the rate limits' counts).
	Driver  dialect.Driver
	SQL     *sql.DB
	Dialect string
}

// Open connects to the database at rawURL (postgres://… or
// sqlite://path, or a bare file path for SQLite) and migrates its schema.
// opts configure the client, e.g. ent.Hasher.
func Open(ctx context.Context, rawURL string, opts ...ent.Option) (*DB, error) {
	dialectName, driverName, dsn, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	db, err := openCached(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dialectName, err)
	}
	if dialectName == dialect.SQLite {
		// One writer at a time (transactions begin IMMEDIATE); WAL lets
		// readers on the other connections go on meanwhile.
		db.SetMaxOpenConns(4)
	} else {
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", dialectName, err)
	}
	drv := Counting(lazyDriver{entsql.OpenDB(dialectName, db)})
	client := ent.NewClient(append([]ent.Option{ent.Driver(drv)}, opts...)...)
	// ent's migrator writes to the shared table descriptions: one
	// migration at a time in a process.
	migrating.Lock()
	if !migrated(ctx, drv) {
		err = migrateSchema(ctx, drv, client)
	}
	migrating.Unlock()
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("migrate schema: %w", err)
	}
	return &DB{Client: client, Driver: drv, SQL: db, Dialect: dialectName}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.Client.Close() }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

func parse(rawURL string) (dialectName, driverName, dsn string, err error) {
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return dialect.Postgres, "postgres", rawURL, nil
	}
	if path, query, ok := sqliteFile(rawURL); ok {
		if path == "" {
			return "", "", "", fmt.Errorf("database URL %q names no file", rawURL)
		}
		if path != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
				return "", "", "", fmt.Errorf("create database folder: %w", err)
			}
		}
		params := url.Values{}
		params.Add("_pragma", "foreign_keys(1)")
		params.Add("_pragma", "busy_timeout(10000)")
		params.Add("_pragma", "journal_mode(WAL)")
		params.Add("_pragma", "synchronous(NORMAL)")
		params.Set("_time_format", "sqlite")
		params.Set("_txlock", "immediate")
		dsn := "file:" + path + "?" + params.Encode()
		if query != "" {
			dsn += "&" + query
		}
		return dialect.SQLite, "sqlite", dsn, nil
	}
	return "", "", "", fmt.Errorf("database URL %q: want postgres://… or sqlite://path", redact(rawURL))
}

// redact hides the password of a database URL.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// sqliteFile returns the file (and the query, if any) of an SQLite
// database URL: sqlite:path, sqlite://path (relative), sqlite:///abs/path,
// file:path, file:///abs/path, or a bare path. ok is false for any other
// scheme.
func sqliteFile(rawURL string) (path, query string, ok bool) {
	path = rawURL
	switch {
	case strings.HasPrefix(path, "sqlite://"):
		path = strings.TrimPrefix(path, "sqlite://")
	case strings.HasPrefix(path, "sqlite:"):
		path = strings.TrimPrefix(path, "sqlite:")
	case strings.HasPrefix(path, "file://"):
		path = strings.TrimPrefix(path, "file://")
	case strings.HasPrefix(path, "file:"):
		path = strings.TrimPrefix(path, "file:")
	case strings.Contains(path, "://"):
		return "", "", false
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	return path, query, true
}

// SQLiteFile returns the absolute path of the file an SQLite database URL
// names, or "" for another database (or an in-memory one).
func SQLiteFile(rawURL string) string {
	path, _, ok := sqliteFile(rawURL)
	if !ok || path == "" || path == ":memory:" {
		return ""
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return abs
}

// completeAdminRoles gives the Admin role of every organization the
// permissions added since it was created (VIEW_AUDIT_LOG…): the Admin role
// always holds every permission.
func completeAdminRoles(ctx context.Context, client *ent.Client) error {
	sys := viewer.NewSystemContext(ctx)
	admins, err := client.Role.Query().Where(role.BuiltinEQ(role.BuiltinAdmin)).All(sys)
	if err != nil {
		return fmt.Errorf("read admin roles: %w", err)
	}
	for _, r := range admins {
		if slices.Equal(r.Permissions, viewer.AllPermissions) {
			continue
		}
		if err := client.Role.UpdateOneID(r.ID).SetPermissions(viewer.AllPermissions).Exec(sys); err != nil {
			return fmt.Errorf("complete the permissions of admin role %d: %w", r.ID, err)
		}
	}
	return nil
}
