package schema

import (
	"context"
	"slices"

	"entgo.io/ent"

	gen "roster/ent"
	"roster/ent/organization"
	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/viewer"
)

// requireMFA turns on the second factor for every user of organization org
// who needs it: on the PAID plan, admins, supervisors, and whoever may
// manage users or broadcast (through their role or a grant of their own).
// It never turns it off.
func requireMFA(ctx context.Context, c *gen.Client, org int) error {
	ctx = viewer.NewSystemContext(ctx)
	paid, err := c.Organization.Query().Where(organization.ID(org), organization.PlanEQ(organization.PlanPaid)).Exist(ctx)
	if err != nil || !paid {
		return err
	}
	roles, err := c.Role.Query().Where(role.OrganizationID(org)).All(ctx)
	if err != nil {
		return err
	}
	var strong []int
	for _, r := range roles {
		if r.Builtin != nil && (*r.Builtin == role.BuiltinAdmin || *r.Builtin == role.BuiltinSupervisor) ||
			slices.Contains(r.Permissions, viewer.Broadcast) || slices.Contains(r.Permissions, viewer.ManageUsers) {
			strong = append(strong, r.ID)
		}
	}
	return c.User.Update().
		Where(user.OrganizationID(org), user.MfaRequired(false), user.Or(user.Broadcast(true), user.RoleIDIn(strong...))).
		SetMfaRequired(true).
		Exec(ctx)
}

// requireMFAAfter runs requireMFA for the organization of what m changed,
// once m succeeded.
func requireMFAAfter(next ent.Mutator, orgOf func(ctx context.Context, m ent.Mutation, v ent.Value) (int, error)) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		v, err := next.Mutate(ctx, m)
		if err != nil {
			return v, err
		}
		org, err := orgOf(ctx, m, v)
		if err != nil {
			return nil, err
		}
		c := m.(interface{ Client() *gen.Client }).Client()
		if err := requireMFA(ctx, c, org); err != nil {
			return nil, err
		}
		return v, nil
	})
}
