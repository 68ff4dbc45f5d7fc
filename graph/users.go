package graph

import (
	"context"
	"strings"

	"roster/ent"
	"roster/ent/predicate"
	"roster/ent/user"
	"roster/internal/password"
	"roster/internal/phone"
)

// hashPassword checks and hashes the new password pw (when there is one)
// of the user mutation m is to make, before the operation's transaction
// begins (at its first statement): hashing is slow, and must hold no lock.
// It returns the context that tells the user hook the hash is the
// server's, and the hash to set in pw's place. Only a viewer the user
// privacy policy lets make m gets a hash made, and only of a password the
// policy accepts.
func (r *Resolver) hashPassword(ctx context.Context, m *ent.UserMutation, pw *string, email string) (context.Context, *string, error) {
	if pw == nil || (*pw == "" && m.Op().Is(ent.OpCreate)) {
		return ctx, pw, nil
	}
	if err := user.Policy.EvalMutation(ctx, m); err != nil {
		return ctx, nil, err
	}
	if password.Check(*pw, strings.ToLower(strings.TrimSpace(email))) != nil {
		// Not hashed: the user hook reports it, with the input's other
		// invalid fields.
		return ctx, pw, nil
	}
	h, err := r.client.Hasher.Hash(*pw)
	if err != nil {
		return ctx, nil, err
	}
	return password.WithPrehashed(ctx, h), &h, nil
}

// emailOf returns the email a user update leaves user id with: the new
// one, or the current one, read (as the viewer) before the operation's
// transaction begins.
func (r *Resolver) emailOf(ctx context.Context, id int, input ent.UpdateUserInput) (string, error) {
	if input.Email != nil {
		return *input.Email, nil
	}
	return r.client.User.Query().Where(user.ID(id)).Select(user.FieldEmail).String(ctx)
}

// searchUsers matches users having every word of text in one of their
// names, email or phone, case-insensitively. A phone number, or part of
// one, is found however it is typed: "+62 812-555-0102", or "0812 555"
// dialled in country.
func searchUsers(text, country string) predicate.User {
	var all []predicate.User
	for _, w := range strings.Fields(text) {
		any := []predicate.User{
			user.FirstNameContainsFold(w),
			user.LastNameContainsFold(w),
			user.DisplayNameContainsFold(w),
			user.EmailContainsFold(w),
			user.PhoneContainsFold(w),
		}
		if digits, ok := phone.SearchDigits(w, country); ok {
			any = append(any, user.PhoneContains(digits))
		}
		all = append(all, user.Or(any...))
	}
	if digits, ok := phone.SearchDigits(text, country); ok && len(all) > 1 {
		// A number typed with spaces is one term, not several words.
		return user.Or(user.PhoneContains(digits), user.And(all...))
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
