package graph

import (
	"strings"

	"roster/ent"
	"roster/ent/predicate"
	"roster/ent/user"
)

// searchUsers matches users having every word of text in one of their
// names, email or phone, case-insensitively.
func searchUsers(text string) predicate.User {
	var all []predicate.User
	for _, w := range strings.Fields(text) {
		all = append(all, user.Or(
			user.FirstNameContainsFold(w),
			user.LastNameContainsFold(w),
			user.DisplayNameContainsFold(w),
			user.EmailContainsFold(w),
			user.PhoneContainsFold(w),
		))
	}
	return user.And(all...)
}

// filtersStatus reports whether w says anything about the status of users.
func filtersStatus(w *ent.UserWhereInput) bool {
	if w == nil {
		return false
	}
	if w.Status != nil || w.StatusNEQ != nil || len(w.StatusIn) > 0 || len(w.StatusNotIn) > 0 || filtersStatus(w.Not) {
		return true
	}
	for _, x := range append(append([]*ent.UserWhereInput{}, w.And...), w.Or...) {
		if filtersStatus(x) {
			return true
		}
	}
	return false
}
