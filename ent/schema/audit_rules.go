package schema

import (
	"context"

	"entgo.io/ent"

	"roster/ent/privacy"
	"roster/internal/access"
	"roster/internal/viewer"
)

// Policy of the AuditEvent: read by the viewers who may view the audit log,
// in their own organization; written only by the server, which appends
// entries and never changes one: only the purge job deletes those past
// retention.
func (AuditEvent) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			access.AllowIfSystem(),
			access.DenyIfNoViewer(),
			access.DenyUnlessCan(viewer.ViewAuditLog),
			access.FilterTenant(),
			access.AllowViewer(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
				switch {
				case !viewer.IsSystem(ctx):
					return privacy.Denyf("the audit log is written by the server only")
				case m.Op().Is(ent.OpCreate):
					return privacy.Allow
				case m.Op().Is(ent.OpDelete) && viewer.IsAuditPurge(ctx):
					return privacy.Allow
				}
				return privacy.Denyf("audit entries are never changed")
			}),
		},
	}
}
