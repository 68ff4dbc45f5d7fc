package main

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"testing"

	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/fixture"
)

// userListQuery is the user list of bench/listusers: a page of users with
// each one's role and divisions, the total and where the page ends.
const userListQuery = `query %s($first: Int!, $after: Cursor) { users(first: $first, after: $after) { totalCount edges { cursor node { id firstName lastName displayName email status availability role { id name } divisions { id name } } } pageInfo { hasNextPage endCursor } } }`

type listedUser struct {
	ID        string
	Email     string
	Role      struct{ ID, Name string }
	Divisions []struct{ ID, Name string }
}

type userPage struct {
	Users struct {
		TotalCount int
		Edges      []struct {
			Cursor string
			Node   listedUser
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

// TestUserListStatements: a page of the user list, each user with their
// role and divisions, takes at most 3 SQL statements (the viewer's
// session, the page with its roles and total, the divisions) whatever its
// size, for an admin and for a supervisor scoped to their divisions, who
// still sees only the users who share a division with them. The pages hold
// what the database says, with the right totals, and walking them with
// cursors lists every visible user once.
func TestUserListStatements(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		sales := acme.NewDivision(t, "Sales")
		billing := acme.NewDivision(t, "Billing")
		// Users the scoped supervisor sees (they share Support with
		// them) and users they do not (Sales and Billing only, or no
		// division), of every role.
		roles := []role.Builtin{role.BuiltinAgent, role.BuiltinSupervisor, role.BuiltinAdmin}
		for i := range 110 {
			divs := []int{acme.Support}
			if i%3 == 1 {
				divs = append(divs, sales)
			} else if i%3 == 2 {
				divs = append(divs, sales, billing)
			}
			acme.NewUser(t, fixture.Spec{Name: fmt.Sprintf("member%d", i), Role: roles[i%len(roles)], Divisions: divs, Status: user.StatusInvited})
		}
		for i := range 30 {
			divs := []int{sales}
			if i%2 == 1 {
				divs = append(divs, billing)
			}
			if i%5 == 4 {
				divs = nil
			}
			acme.NewUser(t, fixture.Spec{Name: fmt.Sprintf("other%d", i), Role: roles[i%len(roles)], Divisions: divs, Status: user.StatusInvited})
		}
		acme.NewUser(t, fixture.Spec{Name: "archived", Divisions: []int{acme.Support}, Status: user.StatusArchived})
		for i := range 5 {
			globex.NewUser(t, fixture.Spec{Name: fmt.Sprintf("globex%d", i), Divisions: []int{globex.Support}, Status: user.StatusInvited})
		}

		// What each viewer must see, read from the database directly.
		all, err := w.Client.User.Query().
			Where(user.OrganizationID(acme.ID), user.StatusNEQ(user.StatusArchived)).
			WithRole().WithDivisions().
			Order(user.ByID()).
			All(fixture.System())
		if err != nil {
			t.Fatal(err)
		}
		type expected struct {
			role      string
			divisions []string
		}
		adminSees := map[string]expected{}
		scopedSees := map[string]expected{}
		for _, u := range all {
			var divs []string
			shares := false
			for _, d := range u.Edges.Divisions {
				divs = append(divs, d.Name)
				shares = shares || d.ID == acme.Support
			}
			sort.Strings(divs)
			e := expected{role: u.Edges.Role.Name, divisions: divs}
			adminSees[u.Email] = e
			if shares || u.ID == acme.Scoped.ID {
				scopedSees[u.Email] = e
			}
		}
		if len(scopedSees) >= len(adminSees) || len(scopedSees) <= 100 {
			t.Fatalf("the fixture does not tell the scoped supervisor apart: %d of %d users", len(scopedSees), len(adminSees))
		}

		for _, v := range []struct {
			name    string
			user    *fixture.User
			visible map[string]expected
		}{
			{"Admin", acme.Admin, adminSees},
			{"Scoped", acme.Scoped, scopedSees},
		} {
			t.Run(v.name, func(t *testing.T) {
				c := srv.as(v.user)
				check := func(t *testing.T, page *userPage) {
					t.Helper()
					if page.Users.TotalCount != len(v.visible) {
						t.Errorf("totalCount = %d, want %d", page.Users.TotalCount, len(v.visible))
					}
					for _, e := range page.Users.Edges {
						n := e.Node
						want, ok := v.visible[n.Email]
						if !ok {
							t.Errorf("%s is listed, but not visible to %s", n.Email, v.name)
							continue
						}
						var divs []string
						for _, d := range n.Divisions {
							divs = append(divs, d.Name)
						}
						sort.Strings(divs)
						if n.Role.Name != want.role || n.Role.ID == "" || !slices.Equal(divs, want.divisions) {
							t.Errorf("%s: role %q, divisions %v; want %q, %v", n.Email, n.Role.Name, divs, want.role, want.divisions)
						}
					}
				}
				for _, size := range []int{1, 50, 100} {
					op := "ListUsers" + v.name + strconv.Itoa(size)
					var page userPage
					c.do(t, fmt.Sprintf(userListQuery, op), vars{"first": size}).decode(t, &page)
					if len(page.Users.Edges) != size || !page.Users.PageInfo.HasNextPage {
						t.Errorf("first %d: %d users, hasNextPage %v", size, len(page.Users.Edges), page.Users.PageInfo.HasNextPage)
					}
					check(t, &page)
					if n := srv.logs.statements(t, "query "+op); n > 3 {
						t.Errorf("a page of %d users took %d SQL statements, want at most 3", size, n)
					} else {
						t.Logf("a page of %d users: %d SQL statements", size, n)
					}
				}

				// Every visible user, once, page after page.
				seen := map[string]bool{}
				var after any
				for pages := 0; ; pages++ {
					if pages > len(v.visible) {
						t.Fatal("the pages do not end")
					}
					var page userPage
					c.do(t, fmt.Sprintf(userListQuery, "ListUsersWalk"), vars{"first": 50, "after": after}).decode(t, &page)
					check(t, &page)
					for _, e := range page.Users.Edges {
						if seen[e.Node.Email] {
							t.Errorf("%s is listed twice", e.Node.Email)
						}
						seen[e.Node.Email] = true
					}
					if !page.Users.PageInfo.HasNextPage {
						break
					}
					after = *page.Users.PageInfo.EndCursor
				}
				if len(seen) != len(v.visible) {
					t.Errorf("the pages list %d users, want %d", len(seen), len(v.visible))
				}
			})
		}
	})
}
