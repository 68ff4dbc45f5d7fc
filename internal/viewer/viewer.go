// Package viewer owns the identity behind a request: who is asking, in which
// organization, and with which permissions. Access rules read it from the
// context; transports put it there after authentication.
package viewer

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// Permission is a capability a role grants.
type Permission string

// The permissions a role can grant.
const (
	ManageUsers     Permission = "MANAGE_USERS"
	ManageDivisions Permission = "MANAGE_DIVISIONS"
	ManageChannels  Permission = "MANAGE_CHANNELS"
	Broadcast       Permission = "BROADCAST"
	ViewAllChats    Permission = "VIEW_ALL_CHATS"
	ViewReports     Permission = "VIEW_REPORTS"
	// ManageConversations lets the messaging platform enqueue, record
	// replies to and resolve conversations.
	ManageConversations Permission = "MANAGE_CONVERSATIONS"
	// AssignConversations lets supervisors assign conversations of the
	// divisions they see to any eligible agent.
	AssignConversations Permission = "ASSIGN_CONVERSATIONS"
	// ManageAllocation lets admins change the allocation settings.
	ManageAllocation Permission = "MANAGE_ALLOCATION"
	// ManageAPIKeys lets admins create, list and revoke API keys.
	ManageAPIKeys Permission = "MANAGE_API_KEYS"
	// ViewAuditLog lets admins read the audit log and follow it live.
	ViewAuditLog Permission = "VIEW_AUDIT_LOG"
)

// AllPermissions lists every permission in a stable order.
var AllPermissions = []Permission{ManageUsers, ManageDivisions, ManageChannels, Broadcast, ViewAllChats, ViewReports, ManageConversations, AssignConversations, ManageAllocation, ManageAPIKeys, ViewAuditLog}

// Valid reports whether p is a known permission.
func (p Permission) Valid() bool { return slices.Contains(AllPermissions, p) }

// String returns the permission's name.
func (p Permission) String() string { return string(p) }

// MarshalGQL writes the permission as a GraphQL enum value.
func (p Permission) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(p))) }

// UnmarshalGQL reads a GraphQL enum value into the permission.
func (p *Permission) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("permission must be a string, got %T", v)
	}
	if !Permission(s).Valid() {
		return fmt.Errorf("%q is not a valid Permission", s)
	}
	*p = Permission(s)
	return nil
}

// Viewer is the authenticated user a request acts for.
type Viewer struct {
	UserID         int
	OrganizationID int
	RoleID         int
	SessionID      int
	// Permissions holds what the user's role grants, plus any grant made to
	// the user directly. Viewers may share it: never modify it in place.
	Permissions []Permission
	// DivisionScoped is true for a viewer who sees only the users of their
	// own divisions: a supervisor with ASSIGNED_DIVISIONS chat access.
	DivisionScoped bool
	// APIKeyID is, for a request made with an API key, the key: then
	// UserID and SessionID are zero.
	APIKeyID int
	// ExpiresAt is when the viewer's session ends, if known.
	ExpiresAt time.Time
}

// Can reports whether the viewer holds permission p.
func (v *Viewer) Can(p Permission) bool {
	return v != nil && slices.Contains(v.Permissions, p)
}

type viewerKey struct{}

type systemKey struct{}

// NewContext returns a context carrying v.
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// FromContext returns the viewer in ctx, or nil when the request is anonymous.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(viewerKey{}).(*Viewer)
	return v
}

// NewSystemContext returns a context in which the server itself acts, with
// no viewer's limits: start-up, authentication and internal bookkeeping.
// It must never be derived from user input.
func NewSystemContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, systemKey{}, true)
}

// IsSystem reports whether ctx was made by NewSystemContext.
func IsSystem(ctx context.Context) bool {
	b, _ := ctx.Value(systemKey{}).(bool)
	return b
}

type auditPurgeKey struct{}

// NewAuditPurgeContext returns a system context in which the purge job
// deletes audit entries past retention: the only deletion of them the
// privacy rules allow.
func NewAuditPurgeContext(ctx context.Context) context.Context {
	return context.WithValue(NewSystemContext(ctx), auditPurgeKey{}, true)
}

// IsAuditPurge reports whether ctx was made by NewAuditPurgeContext.
func IsAuditPurge(ctx context.Context) bool {
	b, _ := ctx.Value(auditPurgeKey{}).(bool)
	return b && IsSystem(ctx)
}
