package graph

import (
	"errors"

	"roster/internal/apierr"
)

// replaceIDs reads a list field of an update input that replaces an edge's
// IDs, the way the create input sets them, as ent's clear then add. It is
// refused beside the add, remove and clear fields of the same edge, which
// say something else. A null list changes nothing.
func replaceIDs(field string, ids []int, clear *bool, add *[]int, remove []int) error {
	if ids == nil {
		return nil
	}
	if *clear || len(*add) > 0 || len(remove) > 0 {
		return apierr.Input(field, "replaces the whole list: give it without the fields that add to, remove from or clear it")
	}
	*clear = true
	*add = ids
	return nil
}

// renameField names, in an input error about field from, the argument to
// that the client filled in.
func renameField(err error, from, to string) error {
	var e *apierr.Error
	if errors.As(err, &e) && e.Field == from {
		renamed := *e
		renamed.Field = to
		return &renamed
	}
	return err
}
