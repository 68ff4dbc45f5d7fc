package account

import (
	"context"
	"fmt"
	"strings"

	"roster/ent"
	"roster/ent/organization"
	"roster/ent/role"
	"roster/internal/apierr"
	"roster/internal/store"
	"roster/internal/viewer"
)

// BuiltinRoles are the roles every organization starts with, and the
// permissions each grants at first.
var BuiltinRoles = []struct {
	Builtin     role.Builtin
	Name        string
	Description string
	Permissions []viewer.Permission
}{
	{role.BuiltinAdmin, "Admin", "Manages users, divisions and channels.", viewer.AllPermissions},
	{role.BuiltinSupervisor, "Supervisor", "Supervises the chats of all divisions, or only of their own (see the user's chat access).", []viewer.Permission{viewer.ViewReports, viewer.AssignConversations}},
	{role.BuiltinAgent, "Agent", "Answers chats.", []viewer.Permission{}},
}

// Admin describes the first admin of a new organization.
type Admin struct {
	FirstName, LastName, Email, Password string
}

// CreateOrganization makes an organization with its built-in roles and
// first admin, in one transaction, and returns the organization and the
// admin. The server does it on its own behalf (at the first start, or for
// an operator), never for a request.
func CreateOrganization(ctx context.Context, client *ent.Client, name string, admin Admin) (*ent.Organization, *ent.User, error) {
	ctx = viewer.NewSystemContext(ctx)
	var org *ent.Organization
	var u *ent.User
	err := store.Transact(ctx, client, func(ctx context.Context) error {
		var err error
		org, u, err = createOrganization(ctx, ent.FromContext(ctx), name, admin)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return org.Unwrap(), u.Unwrap(), nil
}

func createOrganization(ctx context.Context, c *ent.Client, name string, admin Admin) (*ent.Organization, *ent.User, error) {
	name = strings.TrimSpace(name)
	// Two organizations of one name would be told apart by nobody: an
	// operator who runs the same command twice gets an error, not a twin.
	taken, err := c.Organization.Query().Where(organization.NameEqualFold(name)).Exist(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("find organization %q: %w", name, err)
	}
	if taken {
		return nil, nil, &apierr.Error{Code: apierr.Conflict, Field: "name", Message: fmt.Sprintf("an organization is already named %q", name)}
	}
	org, err := c.Organization.Create().SetName(name).Save(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("create organization: %w", err)
	}
	var adminRole *ent.Role
	for _, b := range BuiltinRoles {
		r, err := c.Role.Create().
			SetOrganizationID(org.ID).
			SetBuiltin(b.Builtin).
			SetName(b.Name).
			SetDescription(b.Description).
			SetPermissions(b.Permissions).
			Save(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("create role %s: %w", b.Name, err)
		}
		if b.Builtin == role.BuiltinAdmin {
			adminRole = r
		}
	}
	u, err := c.User.Create().
		SetOrganizationID(org.ID).
		SetRole(adminRole).
		SetFirstName(admin.FirstName).
		SetLastName(admin.LastName).
		SetEmail(admin.Email).
		SetPassword(admin.Password).
		Save(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("create admin: %w", err)
	}
	return org, u, nil
}

// SetPlan moves the viewer's organization to plan. The viewer must manage
// users.
func (s *Service) SetPlan(ctx context.Context, plan organization.Plan) (*ent.Organization, error) {
	if err := canManageUsers(ctx); err != nil {
		return nil, err
	}
	return s.db(ctx).Organization.UpdateOneID(viewer.FromContext(ctx).OrganizationID).SetPlan(plan).Save(ctx)
}

// SetCountry sets the country the viewer's organization reads phone numbers
// in. The viewer must manage users.
func (s *Service) SetCountry(ctx context.Context, country string) (*ent.Organization, error) {
	if err := canManageUsers(ctx); err != nil {
		return nil, err
	}
	return s.db(ctx).Organization.UpdateOneID(viewer.FromContext(ctx).OrganizationID).SetCountry(country).Save(ctx)
}
