package account_test

import (
	"errors"
	"testing"

	"roster/internal/account"
	"roster/internal/apierr"
	"roster/internal/fixture"
)

// TestTextOutsideGraphQL: text that does not come through the API (an
// organization made by the operator's command) obeys the API's rules too:
// no control characters, and single-line names and emails.
func TestTextOutsideGraphQL(t *testing.T) {
	t.Parallel()
	w := fixture.New(t, fixture.SQLiteURL(t))
	sys := fixture.System()
	for _, tc := range []struct {
		name, org, email string
		ok               bool
	}{
		{"plain", "Initech", "admin@initech.test", true},
		{"line break in the name", "Ini\ntech", "admin2@initech.test", false},
		{"bidi override in the name", "Initech\u202e", "admin3@initech.test", false},
		{"NUL in the email", "Initrode", "admin\x00@initrode.test", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := account.CreateOrganization(sys, w.Client, tc.org, account.Admin{FirstName: "Ad", LastName: "Min", Email: tc.email, Password: fixture.Password})
			var refused *apierr.Error
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && (!errors.As(err, &refused) || refused.Code != apierr.BadUserInput):
				t.Fatalf("got %v, want a refusal of the text", err)
			}
		})
	}
}
