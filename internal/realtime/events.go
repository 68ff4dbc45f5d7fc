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
	// Removed: the user no longer matches what the subscription follows
	// (they left the division or role it filters on, or the divisions of a
	// viewer confined to theirs).
	Removed ChangeKind = "REMOVED"
	// Snapshot: the user as the subscription found them when it started
	// (asked for with snapshot: true).
	Snapshot ChangeKind = "SNAPSHOT"
)

// MarshalGQL writes the kind as a GraphQL enum value.
func (k ChangeKind) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(k))) }

// UnmarshalGQL reads a GraphQL enum value.
func (k *ChangeKind) UnmarshalGQL(v any) error {
	s, _ := v.(string)
	switch ChangeKind(s) {
	case Created, Updated, Archived, Deleted, Removed, Snapshot:
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
	Devices      int
	Version      int
	At           time.Time
}

// UserChangedEvent is a user created, changed, archived or deleted.
type UserChangedEvent struct {
	Kind        ChangeKind
	UserID      int
	User        *ent.User
	DisplayName string
	DivisionIDs []int
	Version     int
	At          time.Time
}

// userEvent is what travels through the broker when a user changes: the
// user's state as the change left it, read in the change's transaction, so
// that an event never shows a later state than its version.
type userEvent struct {
	Org  int `json:"o"`
	User int `json:"u"`
	// Status is set when the availability or presence changed.
	Status bool `json:"s,omitempty"`
	// Change is set when the user was created, changed (other than their
	// status), archived or deleted.
	Change ChangeKind `json:"c,omitempty"`
	// Version is the version of the change: for a deletion, one more than
	// the user's last.
	Version int `json:"v"`
	// Row is the user as of Version (as before the deletion, for one).
	Row *ent.User `json:"r"`
	// Scope is the user's role and divisions as of Version; Was, the ones
	// before it, when the change moved the user.
	Scope userScope  `json:"d"`
	Was   *userScope `json:"w,omitempty"`
	// At is when the change committed, in Unix milliseconds.
	At int64 `json:"t"`
}

// userScope is what subscription filters and division-scoped viewers
// select users by.
type userScope struct {
	Role      int   `json:"r"`
	Divisions []int `json:"d"`
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
