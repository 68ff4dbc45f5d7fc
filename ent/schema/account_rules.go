package schema

import (
	"entgo.io/ent"

	"roster/ent/privacy"
	"roster/internal/access"
	"roster/internal/viewer"
)

// systemOnly lets only the system read and write: these are kept by the
// services that own them (authentication, invitations, mail).
var systemOnly = privacy.Policy{
	Query:    privacy.QueryPolicy{access.AllowIfSystem(), privacy.AlwaysDenyRule()},
	Mutation: privacy.MutationPolicy{access.AllowIfSystem(), privacy.AlwaysDenyRule()},
}

// Policy of the Invitation: those who manage users invite users of their
// organization and end their invitations; reading one (to accept it) is the
// system's.
func (Invitation) Policy() ent.Policy {
	return privacy.Policy{
		Query:    systemOnly.Query,
		Mutation: privacy.MutationPolicy{access.AllowIfSystem(), access.AllowIfCan(viewer.ManageUsers), privacy.AlwaysDenyRule()},
	}
}

// Policy of the PasswordReset: only the server, recognising a request
// by email or a reset link, reads and writes them.
func (PasswordReset) Policy() ent.Policy { return systemOnly }

// Policy of the MfaChallenge.
func (MfaChallenge) Policy() ent.Policy { return systemOnly }

// Policy of the Mail.
func (Mail) Policy() ent.Policy { return systemOnly }
