package schema

import (
	"entgo.io/ent"

	"roster/ent/privacy"
	"roster/internal/access"
)

// Policy of the Connection: connections are recorded by the presence
// service acting as the system; viewers may read those of their
// organization.
func (Connection) Policy() ent.Policy {
	return privacy.Policy{
		Query:    readableByViewers,
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}

// Policy of the Instance: only the system records instances.
func (Instance) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			access.AllowIfSystem(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			access.AllowIfSystem(),
			privacy.AlwaysDenyRule(),
		},
	}
}
