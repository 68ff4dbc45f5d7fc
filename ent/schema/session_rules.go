package schema

import (
	"entgo.io/ent"

	"roster/ent/privacy"
)

// Policy of the Session: sessions are made, used and ended by the
// authentication service acting as the system; the tenant policy has
// already allowed the system, so anything reaching here is denied.
func (Session) Policy() ent.Policy {
	return privacy.Policy{
		Query:    readableByViewers,
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}
