package store

import (
	"path/filepath"
	"testing"
)

func TestSQLiteFile(t *testing.T) {
	t.Parallel()
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url, path, query string
		sqlite           bool
	}{
		{url: "sqlite:data/x.db", path: "data/x.db", sqlite: true},
		{url: "sqlite://data/x.db", path: "data/x.db", sqlite: true},
		{url: "sqlite:///abs/path.db", path: "/abs/path.db", sqlite: true},
		{url: "sqlite:/abs/path.db", path: "/abs/path.db", sqlite: true},
		{url: "file:x.db", path: "x.db", sqlite: true},
		{url: "file:///abs/x.db", path: "/abs/x.db", sqlite: true},
		{url: "file:x.db?_pragma=cache_size(-2000)", path: "x.db", query: "_pragma=cache_size(-2000)", sqlite: true},
		{url: "data/roster.db", path: "data/roster.db", sqlite: true},
		{url: "postgres://postgres@127.0.0.1/db", sqlite: false},
		{url: "mysql://x", sqlite: false},
	}
	for _, tt := range tests {
		path, query, ok := sqliteFile(tt.url)
		if ok != tt.sqlite || path != tt.path || query != tt.query {
			t.Errorf("sqliteFile(%q) = %q, %q, %v; want %q, %q, %v", tt.url, path, query, ok, tt.path, tt.query, tt.sqlite)
		}
		want := ""
		if tt.sqlite {
			want = tt.path
			if !filepath.IsAbs(want) {
				want = filepath.Join(wd, want)
			}
		}
		if got := SQLiteFile(tt.url); got != want {
			t.Errorf("SQLiteFile(%q) = %q, want %q", tt.url, got, want)
		}
	}
	// The DSN the driver gets names the file, never the scheme.
	for _, u := range []string{"sqlite:" + filepath.Join(t.TempDir(), "a.db"), "file:" + filepath.Join(t.TempDir(), "b.db")} {
		_, _, dsn, err := parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if want := "file:" + SQLiteFile(u) + "?"; len(dsn) < len(want) || dsn[:len(want)] != want {
			t.Errorf("parse(%q) DSN %q, want it to start with %q", u, dsn, want)
		}
	}
}
