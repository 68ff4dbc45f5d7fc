package schema

import (
	"entgo.io/ent"

	"roster/access"
	"roster/ent/privacy"
)

// Policy of the Organization: a viewer sees their own organization; only
// the system creates or changes organizations.
func (Organization) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			access.AllowIfSystem(),
			access.DenyIfNoViewer(),
			access.OwnOrganization(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			access.AllowIfSystem(),
			privacy.AlwaysDenyRule(),
		},
	}
}
