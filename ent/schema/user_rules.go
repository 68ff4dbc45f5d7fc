package schema

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	gen "roster/ent"
	"roster/ent/division"
	"roster/ent/hook"
	"roster/ent/invitation"
	"roster/ent/organization"
	"roster/ent/privacy"
	"roster/ent/role"
	"roster/ent/session"
	"roster/ent/user"
	"roster/internal/access"
	"roster/internal/apierr"
	"roster/internal/password"
	"roster/internal/phone"
	"roster/internal/status"
	"roster/internal/viewer"
)

// Policy of the User: every viewer reads the users of their organization,
// except that a supervisor scoped to their divisions sees only the users of
// those; only viewers who may manage users change them, but anyone may set
// their own availability and, through the authentication service, their own
// credentials.
func (User) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			access.FilterDivisionScope(),
			access.AllowViewer(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			access.AllowIfCan(viewer.ManageUsers),
			// Users change their own availability and profile (not their
			// role, status, divisions or email).
			access.AllowSelf(user.FieldAvailability, user.FieldDisplayName, user.FieldFirstName, user.FieldLastName,
				user.FieldPhone, user.FieldAvatarURL, user.FieldVersion, user.FieldUpdatedAt),
			access.AllowSelfCredentials(),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Hooks of the User.
func (User) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(normalizeUser, ent.OpCreate|ent.OpUpdateOne),
		hook.On(checkFields(User{}.Fields(), checkPassword), ent.OpCreate|ent.OpUpdateOne),
		hook.On(checkUserRefs, ent.OpCreate|ent.OpUpdateOne),
		hook.On(uniqueEmail, ent.OpCreate|ent.OpUpdateOne),
		hook.On(hashPassword, ent.OpCreate|ent.OpUpdateOne),
		hook.On(keepAnAdmin, ent.OpUpdateOne|ent.OpDeleteOne),
		hook.On(endAccessOnArchive, ent.OpUpdateOne),
		hook.On(revokeInvitations, ent.OpUpdateOne|ent.OpDeleteOne),
		hook.On(bumpVersion, ent.OpUpdate|ent.OpUpdateOne),
		hook.On(mfaForUser, ent.OpCreate|ent.OpUpdateOne),
		// Every change of availability or online state is recorded as an
		// interval of the user's status history.
		hook.On(status.Record, ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne),
		hook.Unless(denyBulk, ent.OpCreate|ent.OpUpdateOne|ent.OpDeleteOne),
	}
}

// bumpVersion increases the version of every row a mutation changes (users,
// and the entities of VersionMixin), so that clients can order what they
// learn of each.
func bumpVersion(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		_, set := m.Field("version")
		if _, added := m.AddedField("version"); !set && !added {
			if err := m.AddField("version", 1); err != nil {
				return nil, err
			}
		}
		return next.Mutate(ctx, m)
	})
}

// denyBulk refuses bulk updates and deletes of users outside the system's
// own bookkeeping: the hooks above judge one user at a time.
func denyBulk(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if !viewer.IsSystem(ctx) {
			return nil, privacy.Denyf("bulk %s of users", m.Op())
		}
		return next.Mutate(ctx, m)
	})
}

// normalizeUser trims names, folds the email to lower case, reads the phone
// number into E.164 (in the organization's country when typed without a
// country code) and fills in the display name.
func normalizeUser(next ent.Mutator) ent.Mutator {
	return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (gen.Value, error) {
		if v, ok := m.FirstName(); ok {
			m.SetFirstName(strings.TrimSpace(v))
		}
		if v, ok := m.LastName(); ok {
			m.SetLastName(strings.TrimSpace(v))
		}
		if v, ok := m.Email(); ok {
			m.SetEmail(strings.ToLower(strings.TrimSpace(v)))
		}
		if v, ok := m.Phone(); ok {
			country, err := countryOf(ctx, m)
			if err != nil {
				return nil, err
			}
			// A number that cannot be read is left as typed, for the
			// field check to refuse with the other invalid fields.
			if e164, err := phone.Normalize(v, country); err == nil {
				m.SetPhone(e164)
			}
		}
		if v, ok := m.AvatarURL(); ok {
			m.SetAvatarURL(strings.TrimSpace(v))
		}
		display, displaySet := m.DisplayName()
		display = strings.TrimSpace(display)
		if displaySet {
			m.SetDisplayName(display)
		}
		first, firstSet := m.FirstName()
		last, lastSet := m.LastName()
		switch {
		case m.Op().Is(ent.OpCreate):
			if display == "" {
				m.SetDisplayName(strings.TrimSpace(first + " " + last))
			}
		case displaySet && display == "", !displaySet && (firstSet || lastSet):
			// An emptied display name, or a renamed user whose display
			// name was their full name, gets the (new) full name.
			old, err := m.Client().User.Query().Where(user.ID(mustID(m))).Only(viewer.NewSystemContext(ctx))
			if err != nil {
				return nil, err
			}
			if !firstSet {
				first = old.FirstName
			}
			if !lastSet {
				last = old.LastName
			}
			if displaySet || old.DisplayName == strings.TrimSpace(old.FirstName+" "+old.LastName) {
				m.SetDisplayName(strings.TrimSpace(first + " " + last))
			}
		}
		return next.Mutate(ctx, m)
	})
}

// checkUserRefs makes sure a user's role and divisions are of their
// organization.
func checkUserRefs(next ent.Mutator) ent.Mutator {
	return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (gen.Value, error) {
		roleID, roleSet := m.RoleID()
		if !roleSet && len(m.DivisionsIDs())+len(m.RemovedDivisionsIDs()) == 0 {
			return next.Mutate(ctx, m)
		}
		org, err := organizationOf(ctx, m)
		if err != nil {
			return nil, err
		}
		c := m.Client()
		if id, ok := roleID, roleSet; ok {
			err := checkRefs(ctx, "roleID", []int{id}, func(ctx context.Context, ids []int) (int, error) {
				return c.Role.Query().Where(role.IDIn(ids...), role.OrganizationID(org)).Count(ctx)
			})
			if err != nil {
				return nil, err
			}
		}
		field := "divisionIDs"
		if m.Op().Is(ent.OpUpdateOne) && !m.DivisionsCleared() {
			field = "addDivisionIDs"
		}
		if err := checkRefs(ctx, field, m.DivisionsIDs(), countDivisions(c, org)); err != nil {
			return nil, err
		}
		if err := checkRefs(ctx, "removeDivisionIDs", m.RemovedDivisionsIDs(), countDivisions(c, org)); err != nil {
			return nil, err
		}
		return next.Mutate(ctx, m)
	})
}

// uniqueEmail refuses an email another user of the organization has.
func uniqueEmail(next ent.Mutator) ent.Mutator {
	return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (gen.Value, error) {
		email, ok := m.Email()
		if !ok {
			return next.Mutate(ctx, m)
		}
		org, err := organizationOf(ctx, m)
		if err != nil {
			return nil, err
		}
		q := m.Client().User.Query().Where(user.OrganizationID(org), user.Email(email))
		if id, ok := m.ID(); ok {
			q.Where(user.IDNEQ(id))
		}
		taken, err := q.Exist(viewer.NewSystemContext(ctx))
		if err != nil {
			return nil, err
		}
		if taken {
			return nil, errEmailTaken()
		}
		// Two creating the same email at once both pass the check above;
		// the unique index refuses the second, with the same answer.
		v, err := next.Mutate(ctx, m)
		if isDuplicate(err, "email") {
			return nil, errEmailTaken()
		}
		return v, err
	})
}

func errEmailTaken() error {
	return &apierr.Error{Code: apierr.Conflict, Field: "email", Message: "another user of the organization has this email address"}
}

// checkPassword judges a new password by the policy, with the other fields
// of the input; hashPassword hashes it.
func checkPassword(ctx context.Context, m ent.Mutation) *apierr.Error {
	um, ok := m.(*gen.UserMutation)
	if !ok {
		return nil
	}
	pw, ok := um.Password()
	if !ok || pw == "" && m.Op().Is(ent.OpCreate) || password.IsPrehashed(ctx, pw) {
		return nil
	}
	email, ok := um.Email()
	if !ok {
		if m.Op().Is(ent.OpCreate) {
			return nil
		}
		var err error
		if email, err = um.OldEmail(ctx); err != nil {
			return nil // hashPassword reports it
		}
	}
	if err := password.Check(pw, email); err != nil {
		return apierr.Input("password", "%s", err)
	}
	return nil
}

// hashPassword checks a new password against the policy and stores its
// hash in its place. A user created with a password is active; without one,
// invited.
func hashPassword(next ent.Mutator) ent.Mutator {
	return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (gen.Value, error) {
		pw, ok := m.Password()
		if m.Op().Is(ent.OpCreate) && pw != "" {
			// The status defaults to INVITED; a password makes it ACTIVE.
			if st, _ := m.Status(); st == user.StatusInvited {
				m.SetStatus(user.StatusActive)
			}
		}
		if !ok || (pw == "" && m.Op().Is(ent.OpCreate)) {
			return next.Mutate(ctx, m)
		}
		if !password.IsPrehashed(ctx, pw) {
			email, ok := m.Email()
			if !ok {
				var err error
				if email, err = m.OldEmail(ctx); err != nil {
					return nil, err
				}
			}
			if err := password.Check(pw, email); err != nil {
				return nil, apierr.Input("password", "%s", err)
			}
			h, err := m.Hasher.Hash(pw)
			if err != nil {
				return nil, err
			}
			m.SetPassword(h)
		}
		if m.Op().Is(ent.OpUpdateOne) {
			if st, err := m.OldStatus(ctx); err == nil && st == user.StatusInvited {
				m.SetStatus(user.StatusActive)
			}
			// A new password ends every other session of the user: the
			// one changing it, if it is theirs, goes on. As the caller:
			// privacy confines what they end.
			id := mustID(m)
			q := m.Client().Session.Delete().Where(session.UserID(id))
			if v := viewer.FromContext(ctx); v != nil && v.UserID == id {
				q.Where(session.IDNEQ(v.SessionID))
			}
			if _, err := q.Exec(ctx); err != nil {
				return nil, err
			}
		}
		return next.Mutate(ctx, m)
	})
}

// keepAnAdmin refuses to archive, delete or demote the last active admin of
// an organization, which would leave nobody able to manage users. The
// organization's row stays locked until the transaction ends, so that two
// admins leaving at once are judged one after the other.
func keepAnAdmin(next ent.Mutator) ent.Mutator {
	return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (gen.Value, error) {
		newRole, roleSet := m.RoleID()
		status, statusSet := m.Status()
		leaving := m.Op().Is(ent.OpDeleteOne) || (statusSet && status != user.StatusActive) || roleSet
		if !leaving {
			return next.Mutate(ctx, m)
		}
		id := mustID(m)
		sys := viewer.NewSystemContext(ctx)
		c := m.Client()
		target, err := c.User.Query().Where(user.ID(id)).Select(user.FieldOrganizationID).Only(sys)
		if err != nil {
			return nil, err
		}
		if err := lockOrganization(sys, c, target.OrganizationID); err != nil {
			return nil, err
		}
		// Read the user as they are now that no one else can judge an
		// admin of the organization leaving.
		u, err := c.User.Query().Where(user.ID(id)).WithRole().Only(sys)
		if err != nil {
			return nil, err
		}
		if u.Status != user.StatusActive || u.Edges.Role.Builtin == nil || *u.Edges.Role.Builtin != role.BuiltinAdmin {
			return next.Mutate(ctx, m)
		}
		if roleSet && newRole == u.RoleID && (!statusSet || status == user.StatusActive) {
			return next.Mutate(ctx, m)
		}
		others, err := c.User.Query().Where(
			user.OrganizationID(u.OrganizationID),
			user.IDNEQ(id),
			user.StatusEQ(user.StatusActive),
			user.HasRoleWith(role.BuiltinEQ(role.BuiltinAdmin)),
		).Exist(sys)
		if err != nil {
			return nil, err
		}
		if !others {
			return nil, apierr.New(apierr.Conflict, "this is the organization's last active admin: make another user an admin first")
		}
		return next.Mutate(ctx, m)
	})
}

// lockOrganization locks the row of organization org until the transaction
// ends (SELECT … FOR NO KEY UPDATE on PostgreSQL, which still lets rows
// referring to the organization be written; SQLite runs one writer at a
// time anyway), so that rules about the whole organization are checked and
// applied by one transaction at a time.
func lockOrganization(ctx context.Context, c *gen.Client, org int) error {
	_, err := c.Organization.Query().
		Where(organization.ID(org)).
		Unique(false).
		Modify(func(s *entsql.Selector) {
			if s.Dialect() == dialect.Postgres {
				s.For(entsql.LockNoKeyUpdate)
			}
		}).
		OnlyID(ctx)
	if err != nil {
		return fmt.Errorf("lock organization %d: %w", org, err)
	}
	return nil
}

// endAccessOnArchive revokes every session and invitation of a user being
// archived and stamps when it happened. It acts as the caller: privacy
// confines what they end.
func endAccessOnArchive(next ent.Mutator) ent.Mutator {
	return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (gen.Value, error) {
		if st, ok := m.Status(); !ok || st != user.StatusArchived {
			return next.Mutate(ctx, m)
		}
		if _, ok := m.ArchivedAt(); !ok {
			m.SetArchivedAt(time.Now())
		}
		id := mustID(m)
		if _, err := m.Client().Session.Delete().Where(session.UserID(id)).Exec(ctx); err != nil {
			return nil, err
		}
		if _, err := m.Client().Invitation.Delete().Where(invitation.UserID(id)).Exec(ctx); err != nil {
			return nil, err
		}
		return next.Mutate(ctx, m)
	})
}

// revokeInvitations ends the invitations of a user whose email
// changes, and of a user being deleted: a link mailed to the old address
// must not open the account. It acts as the caller.
func revokeInvitations(next ent.Mutator) ent.Mutator {
	return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (gen.Value, error) {
		id := mustID(m)
		if m.Op().Is(ent.OpUpdateOne) {
			email, ok := m.Email()
			if !ok {
				return next.Mutate(ctx, m)
			}
			old, err := m.OldEmail(ctx)
			if err != nil {
				return nil, err
			}
			if old == email {
				return next.Mutate(ctx, m)
			}
		}
		if _, err := m.Client().Invitation.Delete().Where(invitation.UserID(id)).Exec(ctx); err != nil {
			return nil, fmt.Errorf("revoke invitations: %w", err)
		}
		return next.Mutate(ctx, m)
	})
}

func countDivisions(c *gen.Client, org int) func(context.Context, []int) (int, error) {
	return func(ctx context.Context, ids []int) (int, error) {
		return c.Division.Query().Where(division.IDIn(ids...), division.OrganizationID(org)).Count(ctx)
	}
}

// mustID returns the ID of a mutation of one row.
func mustID(m interface{ ID() (int, bool) }) int {
	id, _ := m.ID()
	return id
}

// mfaForUser turns on the second factor of a new user, or of one whose role
// or broadcast grant changed, when they need it.
func mfaForUser(next ent.Mutator) ent.Mutator {
	after := requireMFAAfter(next, func(_ context.Context, _ ent.Mutation, v ent.Value) (int, error) {
		return v.(*gen.User).OrganizationID, nil
	})
	return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (gen.Value, error) {
		_, roleSet := m.RoleID()
		_, broadcastSet := m.Broadcast()
		if m.Op().Is(ent.OpCreate) || roleSet || broadcastSet {
			return after.Mutate(ctx, m)
		}
		return next.Mutate(ctx, m)
	})
}

// countryOf returns the country of the organization of mutation m, in which
// the phone numbers it is given are read.
func countryOf(ctx context.Context, m tenantMutation) (string, error) {
	org, err := organizationOf(ctx, m)
	if err != nil {
		return "", err
	}
	return m.Client().Organization.Query().Where(organization.ID(org)).Select(organization.FieldCountry).String(viewer.NewSystemContext(ctx))
}
