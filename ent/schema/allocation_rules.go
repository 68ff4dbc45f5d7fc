package schema

import (
	"entgo.io/ent"

	"roster/ent/privacy"
	"roster/internal/access"
	"roster/internal/viewer"
)

// Policy of the ApiKey: only those who manage API keys see and change
// them, and a request made with an API key never changes keys.
func (ApiKey) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			access.AllowQueryIfCan(viewer.ManageAPIKeys),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			access.DenyAPIKeys(),
			access.AllowIfCan(viewer.ManageAPIKeys),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Policy of the Conversation: the platform and unscoped supervisors see
// every conversation of the organization; scoped supervisors those of
// their divisions; agents their own and the queued ones of their
// divisions. Conversations are changed by the allocation service only,
// once it has checked the caller may act on them.
func (Conversation) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			access.FilterConversations(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}

// Policy of the AllocationSettings: every viewer of the organization reads
// them; those who manage allocation change them.
func (AllocationSettings) Policy() ent.Policy {
	return privacy.Policy{
		Query: readableByViewers,
		Mutation: privacy.MutationPolicy{
			access.AllowIfCan(viewer.ManageAllocation),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Policy of the AgentLoad: kept by the allocation service alone.
func (AgentLoad) Policy() ent.Policy { return systemOnly }
