package schema

import (
	"entgo.io/ent"

	"roster/ent/privacy"
	"roster/internal/access"
)

// Policy of the StatusInterval: intervals are written by the status history
// hook of the user, in the transaction of the change, and never changed
// through the API. A viewer reads their own; one who may view reports reads
// those of the users they can see.
func (StatusInterval) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			access.FilterStatusIntervals(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			access.AllowIfSystem(),
			privacy.AlwaysDenyRule(),
		},
	}
}
