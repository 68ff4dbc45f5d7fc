package schema

import (
	"errors"

	"roster/internal/apierr"
)

var errNoOrganization = errors.New("mutation without organization")

func notFoundRef(field string) error {
	return &apierr.Error{Code: apierr.NotFound, Field: field, Message: "refers to something that does not exist"}
}
