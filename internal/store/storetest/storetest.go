// Package storetest gives tests databases of their own: an SQLite file in a
// temporary folder, and a fresh PostgreSQL database on the server at
// ROSTER_TEST_DATABASE_URL. Without a reachable PostgreSQL the PostgreSQL
// tests skip with a loud message, except under CI=true, where they fail.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"roster/internal/store"
)

// DefaultPostgresURL is the PostgreSQL server tests use when
// ROSTER_TEST_DATABASE_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Target is a database to run a test against.
type Target struct {
	Name string
	// URL returns the URL of a new database of this kind, migrated and
	// without data, removed when the test ends.
	URL func(tb testing.TB) string
}

// Targets are the databases every storage test runs against.
var Targets = []Target{
	{Name: "sqlite", URL: SQLiteURL},
	{Name: "postgres", URL: PostgresURL},
}

// SQLiteURL returns the URL of a new SQLite database file, migrated: a
// copy of a template migrated once (see sqliteTemplate).
func SQLiteURL(tb testing.TB) string {
	tb.Helper()
	tmpl, err := sqliteTemplate()
	if err != nil {
		tb.Fatalf("SQLite template: %v", err)
	}
	path := filepath.Join(tb.TempDir(), "roster.db")
	if err := copyFile(tmpl, path); err != nil {
		tb.Fatalf("copy the SQLite template: %v", err)
	}
	return "sqlite://" + path
}

// sqliteTemplate returns an SQLite file migrated to this program's schema,
// made once for all the test processes of one schema: a copy of it opens
// without a migration, which takes longer than most tests.
var sqliteTemplate = sync.OnceValues(func() (string, error) {
	path := filepath.Join(os.TempDir(), "roster-template-"+store.SchemaFingerprint()+".db")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	// Built aside, then renamed into place: another process may be
	// building the same template, and none sees one half made.
	dir, err := os.MkdirTemp(os.TempDir(), "roster-template-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	built := filepath.Join(dir, "roster.db")
	db, err := store.Open(context.Background(), "sqlite://"+built+"?_pragma=journal_mode(DELETE)")
	if err != nil {
		return "", err
	}
	if err := db.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(built, path)
})

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
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
	tmpl, err := postgresTemplate(base, admin)
	if err != nil {
		admin.Close()
		tb.Fatalf("PostgreSQL template: %v", err)
	}
	name := "roster_test_" + strings.ToLower(rand.Text()[:12])
	if err := retryBusy(func() error { _, err := admin.Exec("CREATE DATABASE " + name + " TEMPLATE " + tmpl); return err }); err != nil {
		admin.Close()
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := withDatabase(base, name)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func withDatabase(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse %s: %v", redact(base), err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

var postgresTemplates sync.Map // base URL → func() (string, error)

// postgresTemplate returns the name of a database migrated to this
// program's schema on the server of base, for new databases to copy (a
// copy opens without a migration). It is made once for all the test
// processes of one schema, and kept.
func postgresTemplate(base string, admin *sql.DB) (string, error) {
	once, _ := postgresTemplates.LoadOrStore(base, sync.OnceValues(func() (string, error) {
		name := "roster_template_" + store.SchemaFingerprint()[:16]
		var exists bool
		if err := admin.QueryRow("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			return "", err
		}
		if exists {
			return name, nil
		}
		// Built under another name, then renamed: another process may be
		// building the same template, and none copies one half made.
		building := name + "_" + strings.ToLower(rand.Text()[:8])
		if _, err := admin.Exec("CREATE DATABASE " + building); err != nil {
			return "", err
		}
		u, err := withDatabase(base, building)
		if err == nil {
			var db *store.DB
			if db, err = store.Open(context.Background(), u); err == nil {
				err = db.Close()
			}
		}
		if err == nil {
			err = retryBusy(func() error { _, err := admin.Exec("ALTER DATABASE " + building + " RENAME TO " + name); return err })
		}
		if err != nil {
			_, _ = admin.Exec("DROP DATABASE IF EXISTS " + building + " WITH (FORCE)")
			if pqCode(err) == "42P04" { // built meanwhile by another process
				return name, nil
			}
			return "", err
		}
		return name, nil
	}))
	return once.(func() (string, error))()
}

// retryBusy retries f while PostgreSQL refuses it because another session
// is still connected to the database it copies or renames (a session
// just closed may take a moment to leave).
func retryBusy(f func() error) error {
	for i := 0; ; i++ {
		err := f()
		if err == nil || pqCode(err) != "55006" || i == 50 {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pqCode(err error) string {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return string(pe.Code)
	}
	return ""
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
