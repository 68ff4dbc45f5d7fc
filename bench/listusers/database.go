package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/lib/pq"
	_ "modernc.org/sqlite" // the SQLite driver roster embeds
)

// benchDB is the database both targets read.
type benchDB struct {
	// sqlite: a SQLite file rather than a PostgreSQL database.
	sqlite bool
	// rosterURL is the database URL roster is started with.
	rosterURL string
	// driver and dsn open it for the hand-written handler.
	driver, dsn string
	// maxConns is the size of roster's connection pool on it.
	maxConns int
	// version describes the database server, for the output.
	version string
	// pgName is the name of the PostgreSQL database ("" for SQLite).
	pgName string
	// drop deletes the database.
	drop func() error
}

// openDatabase creates the benchmark's database: a fresh PostgreSQL
// database roster_bench_<random> on the server of o.databaseURL, or with
// o.sqlite a file in a new temporary folder.
func openDatabase(ctx context.Context, o options, progress func(string, ...any)) (*benchDB, error) {
	if o.sqlite {
		dir, err := os.MkdirTemp("", "listusers-sqlite-")
		if err != nil {
			return nil, fmt.Errorf("create database folder: %w", err)
		}
		path := filepath.Join(dir, "roster.db")
		db := &benchDB{
			sqlite:    true,
			rosterURL: "sqlite://" + path,
			driver:    "sqlite",
			// As roster opens it (internal/store), for reading.
			dsn:      "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_time_format=sqlite",
			maxConns: 4,
			drop:     func() error { return os.RemoveAll(dir) },
		}
		v, err := sqliteVersion(ctx)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		db.version = "SQLite " + v
		progress("SQLite database %s", path)
		return db, nil
	}
	v, err := serverVersion(ctx, o.databaseURL)
	if err != nil {
		return nil, err
	}
	name := "roster_bench_" + randomHex(6)
	dbURL, err := createDatabase(ctx, o.databaseURL, name)
	if err != nil {
		return nil, err
	}
	progress("created database %s", name)
	return &benchDB{
		rosterURL: dbURL,
		pgName:    name,
		driver:    "postgres",
		dsn:       dbURL,
		maxConns:  20,
		version:   "PostgreSQL " + v,
		drop: func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := dropDatabase(ctx, o.databaseURL, name); err != nil {
				return err
			}
			progress("dropped database %s", name)
			return nil
		},
	}, nil
}

// sqliteVersion returns the version of the SQLite library.
func sqliteVersion(ctx context.Context) (string, error) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v); err != nil {
		return "", fmt.Errorf("SQLite version: %w", err)
	}
	return v, nil
}

// serverVersion returns the version of the PostgreSQL server at dbURL.
func serverVersion(ctx context.Context, dbURL string) (string, error) {
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", redact(dbURL), err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", fmt.Errorf("connect to %s: %w", redact(dbURL), err)
	}
	return v, nil
}

// createDatabase creates database name on the PostgreSQL server of
// serverURL and returns the URL of the new database.
func createDatabase(ctx context.Context, serverURL, name string) (string, error) {
	dbURL, err := withDatabase(serverURL, name)
	if err != nil {
		return "", err
	}
	db, err := sql.Open("postgres", serverURL)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", redact(serverURL), err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		return "", fmt.Errorf("create database %s on %s: %w", name, redact(serverURL), err)
	}
	return dbURL, nil
}

// dropDatabase drops database name from the PostgreSQL server of
// serverURL, closing the connections still open to it.
func dropDatabase(ctx context.Context, serverURL, name string) error {
	db, err := sql.Open("postgres", serverURL)
	if err != nil {
		return fmt.Errorf("open %s: %w", redact(serverURL), err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// withDatabase returns serverURL naming database name instead of its own.
func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("database URL %s: want postgres://…", redact(serverURL))
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), nil
}

// redact hides the password of a database URL.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
