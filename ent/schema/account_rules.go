package schema

import (
	"entgo.io/ent"

	"roster/ent/privacy"
	"roster/internal/access"
)

// systemOnly lets only the system read and write: these are kept by the
// services that own them (authentication, invitations, mail).
var systemOnly = privacy.Policy{
	Query:    privacy.QueryPolicy{access.AllowIfSystem(), privacy.AlwaysDenyRule()},
	Mutation: privacy.MutationPolicy{access.AllowIfSystem(), privacy.AlwaysDenyRule()},
}

// Policy of the Invitation.
func (Invitation) Policy() ent.Policy { return systemOnly }

// Policy of the MfaChallenge.
func (MfaChallenge) Policy() ent.Policy { return systemOnly }

// Policy of the Mail.
func (Mail) Policy() ent.Policy { return systemOnly }
