package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	"github.com/lib/pq"
)

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
