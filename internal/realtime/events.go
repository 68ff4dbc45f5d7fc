// Package realtime tells connected clients what changed: it publishes an
// event when a change to a user commits, carries it to every instance
// through the broker, and hands each subscription the events its viewer
// may see. It also ends the live connections of revoked sessions.
package realtime

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"roster/ent"
	"roster/ent/user"
)

// The broker topics.
const (
	topicUsers    = "users"
	topicSessions = "sessions"
	topicRoles    = "roles"
)

// ChangeKind says what happened to a user.
type ChangeKind string

// The kinds of change.
const (
	Created  ChangeKind = "CREATED"
	Updated  ChangeKind = "UPDATED"
	Archived ChangeKind = "ARCHIVED"
	Deleted  ChangeKind = "DELETED"
)

// MarshalGQL writes the kind as a GraphQL enum value.
func (k ChangeKind) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(k))) }

// UnmarshalGQL reads a GraphQL enum value.
func (k *ChangeKind) UnmarshalGQL(v any) error {
	s, _ := v.(string)
	switch ChangeKind(s) {
	case Created, Updated, Archived, Deleted:
		*k = ChangeKind(s)
		return nil
	}
	return fmt.Errorf("%v is not a valid UserChangeKind", v)
}

// UserStatusEvent is a change of a user's availability or presence.
type UserStatusEvent struct {
	User         *ent.User
	Availability user.Availability
	Online       bool
	Version      int
	At           time.Time
}

// UserChangedEvent is a user created, changed, archived or deleted.
type UserChangedEvent struct {
	Kind    ChangeKind
	UserID  int
	User    *ent.User
	Version int
	At      time.Time
}

// userEvent is what travels through the broker when a user changes: only
// identifiers, the subscribers read the rest.
type userEvent struct {
	Org  int `json:"o"`
	User int `json:"u"`
	// Status is set when the availability or presence changed; the state
	// the change left travels with it, so that a subscriber that reads the
	// user later still tells this change, not a newer one.
	Status       bool   `json:"s,omitempty"`
	Availability string `json:"a,omitempty"`
	Online       bool   `json:"on,omitempty"`
	Version      int    `json:"v,omitempty"`
	// Change is set when the user was created, changed (other than their
	// status), archived or deleted.
	Change ChangeKind `json:"c,omitempty"`
	// At is when the change committed, in Unix milliseconds.
	At int64 `json:"t"`
}

// sessionEvent tells that sessions ended, or that users can no longer log
// in: their live connections must close.
type sessionEvent struct {
	Sessions []int `json:"s,omitempty"`
	Users    []int `json:"u,omitempty"`
}

// roleEvent tells that a role's permissions changed: the live connections
// of its users must be checked against their new authority.
type roleEvent struct {
	Org  int `json:"o"`
	Role int `json:"r"`
}
