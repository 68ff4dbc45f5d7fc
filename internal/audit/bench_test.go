package audit_test

import (
	"context"
	"fmt"
	"testing"

	"roster/ent"
	"roster/internal/audit"
	"roster/internal/fixture"
	"roster/internal/store/storetest"
)

// BenchmarkUpdateUser measures what the audit log costs a mutation: one
// user update in its own transaction, as an admin, without and with the
// audit hook, on each database.
//
//	go test -run '^$' -bench UpdateUser -benchtime 2s ./internal/audit
func BenchmarkUpdateUser(b *testing.B) {
	for _, target := range storetest.Targets {
		for _, audited := range []bool{false, true} {
			name := target.Name + "/without"
			if audited {
				name = target.Name + "/with"
			}
			b.Run(name, func(b *testing.B) {
				w := fixture.New(b, target.URL(b))
				if audited {
					audit.Register(w.Client, nil, nil)
				}
				acme := w.Orgs[0]
				b.ResetTimer()
				for i := range b.N {
					err := as(acme.Admin, w.Client, func(ctx context.Context, c *ent.Client) error {
						return c.User.UpdateOneID(acme.Agent.ID).SetLastName(fmt.Sprint("Name ", i)).Exec(ctx)
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
