// Package storetest gives tests databases of their own: an SQLite file in a
// temporary folder, and a fresh PostgreSQL database on the server at
// ROSTER_TEST_DATABASE_URL. Without a reachable PostgreSQL the PostgreSQL
// tests skip with a loud message, except under CI=true, where they fail.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq" // the PostgreSQL driver
)

// DefaultPostgresURL is the PostgreSQL server tests use when
// ROSTER_TEST_DATABASE_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Target is a database to run a test against.
type Target struct {
	Name string
	// URL returns the URL of a new, empty database of this kind, removed
	// when the test ends.
	URL func(tb testing.TB) string
}

// Targets are the databases every storage test runs against.
var Targets = []Target{
	{Name: "sqlite", URL: SQLiteURL},
	{Name: "postgres", URL: PostgresURL},
}

// SQLiteURL returns the URL of a new SQLite database file.
func SQLiteURL(tb testing.TB) string {
	tb.Helper()
	return "sqlite://" + filepath.Join(tb.TempDir(), "roster.db")
}

// PostgresURL creates a new PostgreSQL database and returns its URL; the
// database is dropped when the test ends.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("ROSTER_TEST_DATABASE_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	admin, err := sql.Open("postgres", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		msg := fmt.Sprintf("PostgreSQL at %s is not reachable (%v): set ROSTER_TEST_DATABASE_URL to test against PostgreSQL", redact(base), err)
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s; PostgreSQL tests are mandatory when CI=true", msg)
		}
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPING POSTGRESQL TEST %s: %s\n\n", tb.Name(), msg)
		tb.Skip(msg)
	}
	name := "roster_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", redact(base), err)
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
