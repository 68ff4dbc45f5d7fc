package store_test

import (
	"context"
	"testing"

	"roster/internal/store"
	"roster/internal/store/storetest"
)

func BenchmarkOpenSQLite(b *testing.B) {
	for b.Loop() {
		db, err := store.Open(context.Background(), storetest.SQLiteURL(b))
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}

func BenchmarkReopenSQLite(b *testing.B) {
	url := storetest.SQLiteURL(b)
	db, err := store.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	db.Close()
	for b.Loop() {
		db, err := store.Open(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}
