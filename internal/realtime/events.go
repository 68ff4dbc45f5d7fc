// Package realtime tells connected clients what changed: it publishes an
// event when a change to a user, a division, a role or a channel commits,
// carries it to every instance through the broker, and hands each
// subscription the events its viewer may see. It also ends the live
// connections of revoked sessions.
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
	// SnapshotEnd ends the snapshot: sent once after its last user, even
	// when it had none, with no user.
	SnapshotEnd ChangeKind = "SNAPSHOT_END"
)

// MarshalGQL writes the kind as a GraphQL enum value.
func (k ChangeKind) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(k))) }

// UnmarshalGQL reads a GraphQL enum value.
func (k *ChangeKind) UnmarshalGQL(v any) error {
	s, _ := v.(string)
	switch ChangeKind(s) {
	case Created, Updated, Archived, Deleted, Removed, Snapshot, SnapshotEnd:
		*k = ChangeKind(s)
		return nil
	}
	return fmt.Errorf("%v is not a valid UserChangeKind", v)
}

// StatusKind says what a status event tells.
type StatusKind string

// The kinds of status event.
const (
	// StatusChanged: the user's availability, presence or device count
	// changed.
	StatusChanged StatusKind = "CHANGED"
	// StatusSnapshot: the user's status as the subscription found it when
	// it started (asked for with snapshot: true).
	StatusSnapshot StatusKind = "SNAPSHOT"
	// StatusSnapshotEnd ends the snapshot: sent once after its last user,
	// even when it had none, with no user.
	StatusSnapshotEnd StatusKind = "SNAPSHOT_END"
)

// MarshalGQL writes the kind as a GraphQL enum value.
func (k StatusKind) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(k))) }

// UnmarshalGQL reads a GraphQL enum value.
func (k *StatusKind) UnmarshalGQL(v any) error {
	s, _ := v.(string)
	switch StatusKind(s) {
	case StatusChanged, StatusSnapshot, StatusSnapshotEnd:
		*k = StatusKind(s)
		return nil
	}
	return fmt.Errorf("%v is not a valid UserStatusKind", v)
}

// UserStatusEvent is a change of a user's availability or presence, a
// user's status in a snapshot, or the end of a snapshot.
type UserStatusEvent struct {
	Kind         StatusKind
	User         *ent.User
	Availability user.Availability
	Online       bool
	Devices      int
	Version      int
	At           time.Time
}

// end reports whether the event is the end-of-snapshot marker, whose
// user fields are null.
func (e *UserStatusEvent) end() bool { return e.Kind == StatusSnapshotEnd }

// AvailabilityOrNull is the availability, null on the end-of-snapshot
// marker.
func (e *UserStatusEvent) AvailabilityOrNull() *user.Availability {
	if e.end() {
		return nil
	}
	return &e.Availability
}

// OnlineOrNull is whether the user is online, null on the
// end-of-snapshot marker.
func (e *UserStatusEvent) OnlineOrNull() *bool {
	if e.end() {
		return nil
	}
	return &e.Online
}

// DevicesOrNull is the device count, null on the end-of-snapshot marker.
func (e *UserStatusEvent) DevicesOrNull() *int {
	if e.end() {
		return nil
	}
	return &e.Devices
}

// VersionOrNull is the version, null on the end-of-snapshot marker.
func (e *UserStatusEvent) VersionOrNull() *int {
	if e.end() {
		return nil
	}
	return &e.Version
}

// UserChangedEvent is a user created, changed, archived or deleted, a user
// in a snapshot, or the end of a snapshot.
type UserChangedEvent struct {
	Kind        ChangeKind
	UserID      int
	User        *ent.User
	DisplayName string
	DivisionIDs []int
	Version     int
	At          time.Time
}

// UserIDOrNull is the user's ID, null on the end-of-snapshot marker.
func (e *UserChangedEvent) UserIDOrNull() *int {
	if e.Kind == SnapshotEnd {
		return nil
	}
	return &e.UserID
}

// DisplayNameOrNull is the user's display name, null on the
// end-of-snapshot marker.
func (e *UserChangedEvent) DisplayNameOrNull() *string {
	if e.Kind == SnapshotEnd {
		return nil
	}
	return &e.DisplayName
}

// VersionOrNull is the version, null on the end-of-snapshot marker.
func (e *UserChangedEvent) VersionOrNull() *int {
	if e.Kind == SnapshotEnd {
		return nil
	}
	return &e.Version
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
