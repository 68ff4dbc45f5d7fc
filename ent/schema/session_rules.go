package schema

import (
	"entgo.io/ent"

	"roster/ent/privacy"
	"roster/internal/access"
)

// Policy of the Session: users see and end their own sessions; those who
// manage users, every session of the organization. Sessions are created
// by the authentication service, acting as the system.
func (Session) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			access.FilterOwnSessions(),
			access.AllowViewer(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			access.FilterOwnSessions(),
			access.AllowDeletes(),
			privacy.AlwaysDenyRule(),
		},
	}
}
