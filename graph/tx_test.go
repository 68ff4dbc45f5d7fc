package graph

import (
	"testing"

	"github.com/vektah/gqlparser/v2"
)

// TestStandaloneFields checks which mutations combine a field that must be
// sent alone with another: beside it, through fragments, or as an alias of
// the same field.
func TestStandaloneFields(t *testing.T) {
	t.Parallel()
	schema := NewExecutableSchema(Config{}).Schema()
	for _, tc := range []struct {
		name, query string
		field       string // the field named by the refusal; "" when accepted
	}{
		{"alone", `mutation { verifyMfa(challengeID: "c", code: "1") { token } }`, ""},
		{"with __typename", `mutation { __typename verifyMfa(challengeID: "c", code: "1") { token } }`, ""},
		{"others without one", `mutation { logout createDivision(input: {name: "x"}) { id } }`, ""},
		{"beside another", `mutation { logout verifyMfa(challengeID: "c", code: "1") { token } }`, "verifyMfa"},
		{"twice under aliases", `mutation { a: disableTotp(password: "p") { id } b: disableTotp(password: "p") { id } }`, "disableTotp"},
		{"in an inline fragment", `mutation { logout ... on Mutation { changeMyPassword(currentPassword: "a", newPassword: "b") } }`, "changeMyPassword"},
		{"in a fragment", `mutation { ...F logout } fragment F on Mutation { acceptInvitation(token: "t", password: "p") { token } }`, "acceptInvitation"},
		{"alone in a fragment", `mutation { ...F } fragment F on Mutation { login(input: {email: "e", password: "p"}) { token } }`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := gqlparser.LoadQuery(schema, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			e := checkStandalone(doc.Operations[0].SelectionSet)
			switch {
			case tc.field == "" && e != nil:
				t.Errorf("refused: %v", e)
			case tc.field != "" && (e == nil || e.Field != tc.field || e.Code != "BAD_USER_INPUT"):
				t.Errorf("got %v, want BAD_USER_INPUT on %s", e, tc.field)
			}
		})
	}
}
