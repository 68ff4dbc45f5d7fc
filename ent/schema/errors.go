package schema

import (
	"errors"
	"strings"

	gen "roster/ent"
	"roster/internal/apierr"
)

var errNoOrganization = errors.New("mutation without organization")

func notFoundRef(field string) error {
	return &apierr.Error{Code: apierr.NotFound, Field: field, Message: "refers to something that does not exist"}
}

// isDuplicate reports whether err is the refusal of a unique index that
// covers column: the loser of two concurrent writes of the same value.
func isDuplicate(err error, column string) bool {
	if !gen.IsConstraintError(err) {
		return false
	}
	msg := strings.ToLower(err.Error())
	return (strings.Contains(msg, "unique") || strings.Contains(msg, "duplicate")) && strings.Contains(msg, column)
}

// errNameTaken is the answer to a name another entity of the kind has in
// the organization.
func errNameTaken(kind string) error {
	return &apierr.Error{Code: apierr.Conflict, Field: "name", Message: "another " + kind + " of the organization has this name"}
}
