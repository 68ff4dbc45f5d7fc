package access_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"roster/internal/access"
	"roster/internal/store/storetest"
	"roster/internal/viewer"
)

// TestVisibilityDecidesGrouping checks that the key shared subscriptions
// are grouped by follows the privacy rule of users: viewers who see
// different users never share a key.
func TestVisibilityDecidesGrouping(t *testing.T) {
	t.Parallel()
	f := setup(t, storetest.SQLiteURL(t))
	c := f.client
	scoped := func(v *viewer.Viewer) *viewer.Viewer {
		s := *v
		s.DivisionScoped = true
		return &s
	}
	var viewers []*viewer.Viewer
	for _, o := range f.orgs {
		viewers = append(viewers, o.admin, o.supervisor, o.agent, scoped(o.supervisor), scoped(o.agent))
	}
	seen := func(v *viewer.Viewer) string {
		ids := c.User.Query().IDsX(as(v))
		slices.Sort(ids)
		return fmt.Sprint(ids)
	}
	for _, a := range viewers {
		for _, b := range viewers {
			ka, kb := access.GroupKey(as(a)), access.GroupKey(as(b))
			if ka == "" {
				t.Fatalf("no key for viewer %+v", a)
			}
			sa, sb := seen(a), seen(b)
			if ka == kb && sa != sb {
				t.Errorf("viewers seeing %s and %s share key %s", sa, sb, ka)
			}
		}
	}
	if k := access.GroupKey(context.Background()); k != "" {
		t.Errorf("anonymous key %q, want none (run alone)", k)
	}
	// A scoped viewer's key follows the rule even when they share a
	// division: it is who they are that decides, as in the rule.
	o := f.orgs[0]
	if access.GroupKey(as(scoped(o.agent))) == access.GroupKey(as(scoped(o.supervisor))) {
		t.Errorf("two scoped viewers share a key")
	}
}

// TestNarrowed checks which changes of a viewer shrink their authority.
func TestNarrowed(t *testing.T) {
	t.Parallel()
	admin := &viewer.Viewer{UserID: 1, OrganizationID: 1, RoleID: 1, Permissions: viewer.AllPermissions}
	with := func(f func(v *viewer.Viewer)) *viewer.Viewer {
		v := *admin
		v.Permissions = slices.Clone(admin.Permissions)
		f(&v)
		return &v
	}
	agent := with(func(v *viewer.Viewer) { v.RoleID, v.Permissions = 3, nil })
	scoped := with(func(v *viewer.Viewer) {
		v.RoleID, v.Permissions, v.DivisionScoped = 2, []viewer.Permission{viewer.ViewReports}, true
	})
	supervisor := with(func(v *viewer.Viewer) { v.RoleID, v.Permissions = 2, []viewer.Permission{viewer.ViewReports} })
	for _, tc := range []struct {
		name          string
		before, after *viewer.Viewer
		want          bool
	}{
		{"unchanged", admin, admin, false},
		{"session ended", admin, nil, true},
		{"admin demoted to agent", admin, agent, true},
		{"agent promoted", agent, admin, false},
		{"another role with the same permissions", admin, with(func(v *viewer.Viewer) { v.RoleID = 9 }), false},
		{"broadcast removed", with(func(v *viewer.Viewer) { v.Permissions = []viewer.Permission{viewer.Broadcast} }), agent, true},
		{"switched to assigned divisions", supervisor, scoped, true},
		{"switched to all divisions", scoped, supervisor, false},
		{"a permission added", supervisor, with(func(v *viewer.Viewer) {
			v.RoleID, v.Permissions = 2, []viewer.Permission{viewer.ViewReports, viewer.Broadcast}
		}), false},
	} {
		if got := access.Narrowed(tc.before, tc.after); got != tc.want {
			t.Errorf("%s: Narrowed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
