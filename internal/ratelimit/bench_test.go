package ratelimit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"roster/internal/ratelimit"
	"roster/internal/store"
	"roster/internal/store/storetest"
)

// BenchmarkAllow measures one login-shaped decision (an address and an
// account, both counted) on each database: go test -run '^$' -bench Allow
// ./internal/ratelimit
func BenchmarkAllow(b *testing.B) {
	for _, target := range storetest.Targets {
		b.Run(target.Name, func(b *testing.B) {
			db, err := store.Open(context.Background(), target.URL(b))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			l := ratelimit.New(db.Driver, nil)
			account := ratelimit.Rule{Name: "account", Limit: 1 << 30, Window: time.Hour}
			address := ratelimit.Rule{Name: "address", Limit: 1 << 30, Window: time.Hour}
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				d, err := l.Allow(ctx, ratelimit.Check{Rule: account, Key: strconv.Itoa(i % 1000)}, ratelimit.Check{Rule: address, Key: "10.0.0.1"})
				if err != nil || !d.OK {
					b.Fatal(d, err)
				}
			}
		})
	}
}
