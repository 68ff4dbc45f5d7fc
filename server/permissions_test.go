package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"

	"roster/ent"
	"roster/ent/channel"
	"roster/ent/conversation"
	"roster/ent/role"
	"roster/ent/user"
	"roster/graph"
	"roster/internal/account"
	"roster/internal/fixture"
	"roster/internal/otp"
	"roster/internal/viewer"
)

// TestPermissionMatrix calls every root field of the schema (queries and
// mutations over HTTP, subscriptions over the websocket) as every kind of
// actor against every kind of target, and checks each outcome against the
// documented access rules: the row of the field in mxRows. A root field
// without a row, or a row naming no root field, fails the test, so that no
// field ships without its rules being stated.
//
// Actors, all of organization Acme except the anonymous one: the admin
// (built-in Admin role), a supervisor who sees all divisions, a supervisor
// scoped to their divisions (ASSIGNED_DIVISIONS: they see only the users
// sharing a division with them, and themselves), an agent, and an agent
// with the broadcast grant; all five are members of division Support. The
// fixture's users come with a token; the broadcasting agent logs in once.
// Globex's admin and scoped supervisor, members of Globex's Support, act
// too, under the same rules seen from their organization (mxRelative):
// Acme's objects are another organization's to them, and Globex's target
// is in another division than theirs.
//
// Targets: an object of Acme in Support (the actors' own division), one of
// Acme in Sales, and one of another organization, Globex. For a list, the
// target is allowed when it is in the list and filtered when it is not.
// Fields about the viewer themselves, or their organization, have the
// single target "self". A few fields have a second row (a variant) for an
// argument with rules of its own: among them, filters reaching users
// through edges (has…With predicates, hasUsers), on root connections and
// on nested ones (Division.members, Role.users), written in the document
// or sent whole as a variable.
//
// The rows run in order: reads first, then the subscriptions, the public
// login fields, the mutations (which make fresh objects where they destroy
// or use one up), and last the changes of the actors' own accounts, ending
// with logout. Three parts of them (reads and subscriptions, mutations,
// own accounts) run at once, each against a world of its own.
func TestPermissionMatrix(t *testing.T) {
	t.Parallel()
	rows := mxRows()

	// The rows must be the schema's root fields, no more and no fewer.
	fields := mxRootFields()
	t.Run("every root field has a row", func(t *testing.T) {
		seen := map[string]bool{}
		for _, r := range rows {
			if seen[r.name()] {
				t.Errorf("row %s is there twice", r.name())
			}
			seen[r.name()] = true
			kind, ok := fields[r.field]
			switch {
			case !ok:
				t.Errorf("row %s names no root field of the schema: remove it", r.field)
			case (kind == "Subscription") != (r.sub != nil):
				t.Errorf("row %s: %s.%s must be called over %s", r.field, kind, r.field, map[bool]string{true: "the websocket", false: "HTTP"}[kind == "Subscription"])
			}
		}
		var missing []string
		for name, kind := range fields {
			if !seen[name] {
				missing = append(missing, kind+"."+name)
			}
		}
		slices.Sort(missing)
		for _, m := range missing {
			t.Errorf("root field %s has no row in the permission matrix: state who may call it, and against what", m)
		}
	})

	// Three parts run at once, each against a world of its own, in the
	// order the rows are written within each: the reads and the
	// subscriptions; the mutations; the changes of the actors' own
	// accounts (with the rows after them).
	own := slices.IndexFunc(rows, func(r mxRow) bool { return r.field == "beginTotpEnrollment" })
	if own < 0 {
		t.Fatal("no row beginTotpEnrollment: the own-account rows start there")
	}
	isMutation := func(r mxRow) bool { return fields[r.field] == "Mutation" }
	parts := []struct {
		name string
		rows []mxRow
	}{
		{"reads and subscriptions", slices.DeleteFunc(slices.Clone(rows[:own]), isMutation)},
		{"mutations", slices.DeleteFunc(slices.Clone(rows[:own]), func(r mxRow) bool { return !isMutation(r) })},
		{"own accounts", rows[own:]},
	}
	for _, part := range parts {
		t.Run(part.name, func(t *testing.T) {
			t.Parallel()
			mxRun(t, part.rows, fields)
		})
	}
}

// mxRun runs rows in order against a world of their own.
func mxRun(t *testing.T, rows []mxRow, fields map[string]string) {
	start := time.Now()
	f := newMxFixture(t)
	t.Logf("fixture ready in %v", time.Since(start).Round(time.Millisecond))
	for i := range rows {
		r := &rows[i]
		if _, ok := fields[r.field]; !ok {
			continue
		}
		began := time.Now()
		t.Run(r.name(), func(t *testing.T) {
			if r.sub != nil {
				f.runSubscription(t, r)
				return
			}
			for _, v := range f.viewers {
				if r.acmeOnly && v.org() != 0 {
					continue
				}
				t.Run(mxActorNames[v.kind], func(t *testing.T) {
					if r.parallel {
						t.Parallel()
					}
					for _, x := range r.targetList() {
						t.Run(mxTargetNames[x], func(t *testing.T) { f.runHTTP(t, r, v, x) })
					}
				})
			}
		})
		f.mu.Lock()
		f.durations[r.name()] = time.Since(began)
		f.mu.Unlock()
	}
	t.Log(f.summary(rows))
	t.Logf("the slowest rows: %s", f.slowest(5))
}

// mxRootFields returns the root fields of the executable schema, with the
// type that holds each.
func mxRootFields() map[string]string {
	s := graph.NewExecutableSchema(graph.Config{}).Schema()
	out := map[string]string{}
	for _, def := range slices.DeleteFunc([]*ast.Definition{s.Query, s.Mutation, s.Subscription}, func(d *ast.Definition) bool { return d == nil }) {
		for _, fd := range def.Fields {
			switch fd.Name {
			case "__schema", "__type", "__typename":
				continue
			}
			out[fd.Name] = def.Name
		}
	}
	return out
}

// The actors.
type mxActor int

const (
	mxAdmin mxActor = iota
	mxSupervisor
	mxScoped
	mxAgent
	mxBroadcaster
	// Globex's admin and scoped supervisor, members of Globex's Support:
	// the same rules, from the other organization.
	mxGlobexAdmin
	mxGlobexScoped
	mxAnonymous
)

var mxActorNames = [...]string{"admin", "supervisor", "scoped-supervisor", "agent", "broadcast-agent", "globex-admin", "globex-scoped", "anonymous"}

// mxRelative returns the actor of Acme whose rules actor a follows, and the
// target as a sees it: for Globex's actors, Acme's objects are another
// organization's, and the target of Globex is in another division than
// theirs.
func mxRelative(a mxActor, x mxTarget) (mxActor, mxTarget) {
	var base mxActor
	switch a {
	case mxGlobexAdmin:
		base = mxAdmin
	case mxGlobexScoped:
		base = mxScoped
	default:
		return a, x
	}
	switch x {
	case mxOwn, mxOther:
		return base, mxForeign
	case mxForeign:
		return base, mxOther
	}
	return base, x
}

// mxPermissions returns what the role of actor a grants, with the
// broadcast grant of the broadcasting agent, as account.BuiltinRoles
// defines the built-in roles.
func mxPermissions(a mxActor) []viewer.Permission {
	a, _ = mxRelative(a, mxSelf)
	builtin := map[mxActor]role.Builtin{
		mxAdmin: role.BuiltinAdmin, mxSupervisor: role.BuiltinSupervisor, mxScoped: role.BuiltinSupervisor,
		mxAgent: role.BuiltinAgent, mxBroadcaster: role.BuiltinAgent,
	}[a]
	var perms []viewer.Permission
	for _, r := range account.BuiltinRoles {
		if r.Builtin == builtin {
			perms = append(perms, r.Permissions...)
		}
	}
	if a == mxBroadcaster {
		perms = append(perms, viewer.Broadcast)
	}
	return perms
}

// The targets.
type mxTarget int

const (
	mxOwn     mxTarget = iota // Acme, division Support: the actors' own
	mxOther                   // Acme, division Sales
	mxForeign                 // Globex
	mxSelf                    // the viewer, or their organization: no target
)

var mxTargetNames = [...]string{"own-division", "other-division", "other-org", "self"}

// org returns the index of the target's organization: 0 Acme, 1 Globex.
func (x mxTarget) org() int {
	if x == mxForeign {
		return 1
	}
	return 0
}

// An outcome is what an actor gets: "ok" (data, no error), "filtered" (no
// error, the target absent from the result), an error code, or "denied".
type mxOutcome string

const (
	mxOK       mxOutcome = "ok"
	mxFiltered mxOutcome = "filtered"
	mxUnauth   mxOutcome = "UNAUTHENTICATED"
	mxForbid   mxOutcome = "FORBIDDEN"
	mxNotFound mxOutcome = "NOT_FOUND"
	// mxDenied is FORBIDDEN or NOT_FOUND: an actor lacking the permission
	// asks about an object they cannot see. Whether the permission or the
	// lookup is checked first, the answer tells nothing.
	mxDenied mxOutcome = "denied"
)

// mxInvalidPassword is what an actor gets who sends a valid credential
// with a new password the policy refuses: the credential was accepted, and
// only the password was judged.
const mxInvalidPassword mxOutcome = "BAD_USER_INPUT(password)"

// matches compares an observed outcome, an error code possibly followed by
// the input field it names, with the expected one. An expected code
// without a field matches whatever field.
func (want mxOutcome) matches(got string) bool {
	code, _, _ := strings.Cut(got, "(")
	switch {
	case want == mxDenied:
		return code == string(mxForbid) || code == string(mxNotFound)
	case strings.Contains(string(want), "("):
		return string(want) == got
	}
	return string(want) == code
}

// A rule gives the expected outcome for an actor and a target.
type mxRule func(a mxActor, x mxTarget) mxOutcome

// mxPublic: anyone may call the field, the anonymous included; what
// decides is the credential in its arguments, not the viewer.
func mxPublic(mxActor, mxTarget) mxOutcome { return mxOK }

// mxAnyViewer: any authenticated viewer, about themselves or their
// organization.
func mxAnyViewer(a mxActor, _ mxTarget) mxOutcome {
	if a == mxAnonymous {
		return mxUnauth
	}
	return mxOK
}

// mxRead: every viewer reads the objects of their organization; another
// organization's get foreign; users of other divisions get scoped when the
// scoped supervisor asks (other objects are visible to them as to anyone:
// pass mxOK).
func mxRead(foreign, scoped mxOutcome) mxRule {
	return func(a mxActor, x mxTarget) mxOutcome {
		switch {
		case a == mxAnonymous:
			return mxUnauth
		case x == mxForeign:
			return foreign
		case a == mxScoped && x == mxOther:
			return scoped
		}
		return mxOK
	}
}

// mxManage: only holders of perm may; they get NOT_FOUND for another
// organization's objects. The others get FORBIDDEN for the objects they
// see, and FORBIDDEN or NOT_FOUND for those they do not (another
// organization's, or, when the target is a user, Sales users for the
// scoped supervisor).
func mxManage(perm viewer.Permission, userTarget bool) mxRule {
	return mxManageOr(perm, userTarget, mxNotFound)
}

// mxManageOr is mxManage where holders get foreign for another
// organization's objects.
func mxManageOr(perm viewer.Permission, userTarget bool, foreign mxOutcome) mxRule {
	return func(a mxActor, x mxTarget) mxOutcome {
		switch {
		case a == mxAnonymous:
			return mxUnauth
		case slices.Contains(mxPermissions(a), perm):
			if x == mxForeign {
				return foreign
			}
			return mxOK
		case x == mxForeign, userTarget && a == mxScoped && x == mxOther:
			return mxDenied
		}
		return mxForbid
	}
}

// mxRequest is one call: an operation, its variables, and the client that
// sends it when not the actor's own.
type mxRequest struct {
	query string
	vars  vars
	as    *client
	// upload, when set, is sent as the file $file of a multipart request.
	upload []byte
}

// mxRow states the access rules of one root field.
type mxRow struct {
	field string
	// variant names a second row of a field, checking one of its
	// arguments.
	variant string
	// doc sums up the documented rule, for the summary.
	doc  string
	rule mxRule
	// self: the field acts on the viewer or their organization only.
	self bool
	// call builds the request of actor v against target x, making the
	// fresh objects it needs.
	call func(t *testing.T, f *mxFixture, v *mxViewer, x mxTarget) mxRequest
	// seen reports whether the target is in the field's value; when nil,
	// a value that is not null is enough.
	seen func(f *mxFixture, x mxTarget, value json.RawMessage) bool
	// parallel runs the actors at once: for the rows that hash passwords
	// and hold no lock meanwhile.
	parallel bool
	// acmeOnly leaves Globex's actors out: for a row whose outcome does
	// not depend on the actor's organization, and whose calls are limited
	// per client address.
	acmeOnly bool
	// sub is set for subscriptions.
	sub *mxSubscription
}

func (r *mxRow) name() string {
	if r.variant == "" {
		return r.field
	}
	return r.field + "/" + r.variant
}

func (r *mxRow) targetList() []mxTarget {
	if r.self {
		return []mxTarget{mxSelf}
	}
	return []mxTarget{mxOwn, mxOther, mxForeign}
}

// mxSubscription says how to watch a subscription report a user's change.
type mxSubscription struct {
	query string
	// change makes a change of u the subscription reports, as the admin of
	// u's organization, and returns u's new version.
	change func(t *testing.T, f *mxFixture, u *mxUser) int
	// event returns the user and version a message's payload tells of.
	event func(payload json.RawMessage) (userID string, version int)
	// observe, when set, replaces change and event: it makes an event
	// about each target and returns, by actor, what each feed heard of
	// ("ok" or "filtered", or an error), by target.
	observe func(t *testing.T, f *mxFixture, feeds map[mxActor]<-chan wsMessage) map[mxActor][3]string
	// objects, when set, makes the targets and sentinels objects other
	// than users (divisions, roles, channels): change and the users are
	// not used, and event returns the object's ID.
	objects *mxObjects
}

// mxObjects says how to change the objects a subscription tells of.
type mxObjects struct {
	// targets returns the object of each target.
	targets func(f *mxFixture) [3]int
	// create makes an object of organization org, a sentinel.
	create func(t *testing.T, f *mxFixture, org int) int
	// change changes object id of organization org, as its admin, and
	// returns its new version.
	change func(t *testing.T, f *mxFixture, org, id int) int
}

// mxObjectRow is the row of the subscription field to the changes of the
// objects o: every viewer reads those of their organization.
func mxObjectRow(field string, o *mxObjects) mxRow {
	key := strings.TrimSuffix(field, "Changed")
	return mxRow{field: field, doc: "every viewer, their org", rule: mxRead(mxFiltered, mxOK),
		sub: &mxSubscription{
			query:   fmt.Sprintf(`subscription { %s { kind %sID version %s { id version } } }`, field, key, key),
			objects: o,
			event: func(p json.RawMessage) (string, int) {
				var ev struct{ Data map[string]map[string]any }
				_ = json.Unmarshal(p, &ev)
				id, _ := ev.Data[field][key+"ID"].(string)
				v, _ := ev.Data[field]["version"].(float64)
				return id, int(v)
			},
		}}
}

// mxSnapshotRow is the row of subscription field asking for a snapshot
// (query): each actor's snapshot must hold the targets the rule lets them
// see, and no other; targets returns the ID of each target.
func mxSnapshotRow(field, doc string, rule mxRule, query string, targets func(f *mxFixture) [3]string) mxRow {
	return mxRow{field: field, variant: "snapshot: true", doc: doc, rule: rule,
		sub: &mxSubscription{query: query, observe: mxObserveSnapshot(field, targets)}}
}

// mxUserTargets returns the ID of each target user.
func mxUserTargets(f *mxFixture) [3]string {
	return [3]string{f.users[mxOwn].gid(), f.users[mxOther].gid(), f.users[mxForeign].gid()}
}

// mxObjectTargets returns the IDs of the target objects ids returns.
func mxObjectTargets(ids func(f *mxFixture) [3]int) func(f *mxFixture) [3]string {
	return func(f *mxFixture) [3]string {
		var out [3]string
		for i, id := range ids(f) {
			out[i] = strconv.Itoa(id)
		}
		return out
	}
}

// mxObserveSnapshot reads, from each actor's subscription to field with a
// snapshot, the snapshot up to SNAPSHOT_END, and tells of each target
// whether it was in it ("ok" or "filtered"), or the code the subscription
// was refused with, or what went wrong.
func mxObserveSnapshot(field string, targets func(f *mxFixture) [3]string) func(t *testing.T, f *mxFixture, feeds map[mxActor]<-chan wsMessage) map[mxActor][3]string {
	key := strings.TrimSuffix(field, "Changed") + "ID"
	read := func(msgs <-chan wsMessage) (map[string]bool, error) {
		in := map[string]bool{}
		deadline := time.After(15 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					return in, errors.New("the socket closed")
				}
				switch m.Type {
				case "ping", "pong", "ka":
					continue
				case "next":
				default:
					return in, fmt.Errorf("got %s %s", m.Type, m.Payload)
				}
				if code := mxRefusal(m.Payload); code != "" {
					return in, mxRefused(code)
				}
				var p struct{ Data map[string]map[string]any }
				_ = json.Unmarshal(m.Payload, &p)
				ev := p.Data[field]
				id, _ := ev[key].(string)
				if u, ok := ev["user"].(map[string]any); ok && field == "userStatusChanged" {
					id, _ = u["id"].(string)
				}
				switch kind, _ := ev["kind"].(string); {
				case kind == "SNAPSHOT_END":
					return in, nil
				case kind != "SNAPSHOT" || id == "":
					return in, fmt.Errorf("before SNAPSHOT_END: %s", m.Payload)
				}
				in[id] = true
			case <-deadline:
				return in, errors.New("no SNAPSHOT_END within 15 s")
			}
		}
	}
	return func(t *testing.T, f *mxFixture, feeds map[mxActor]<-chan wsMessage) map[mxActor][3]string {
		ids := targets(f)
		got := map[mxActor][3]string{}
		for a, msgs := range feeds {
			in, err := read(msgs)
			var seen [3]string
			for x, id := range ids {
				switch {
				case err != nil:
					seen[x] = err.Error()
				case in[id]:
					seen[x] = string(mxOK)
				default:
					seen[x] = string(mxFiltered)
				}
			}
			got[a] = seen
		}
		return got
	}
}

// mxChangeObject sends mutation, which changes the object $id with $t and
// answers its version, as the admin of organization org.
func mxChangeObject(mutation string) func(t *testing.T, f *mxFixture, org, id int) int {
	return func(t *testing.T, f *mxFixture, org, id int) int {
		var got map[string]struct{ Version int }
		f.admins[org].do(t, mutation, vars{"id": strconv.Itoa(id), "t": fmt.Sprintf("Changed %d", f.seq.Add(1))}).decode(t, &got)
		for _, v := range got {
			return v.Version
		}
		t.Fatalf("%s answered no version", mutation)
		return 0
	}
}

// op returns a call that sends query with the variables mk makes.
func op(query string, mk func(f *mxFixture, x mxTarget) vars) func(*testing.T, *mxFixture, *mxViewer, mxTarget) mxRequest {
	return func(_ *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
		req := mxRequest{query: query}
		if mk != nil {
			req.vars = mk(f, x)
		}
		return req
	}
}

func mxRows() []mxRow {
	targetUser := func(f *mxFixture, x mxTarget) vars { return vars{"id": f.users[x].gid()} }
	targetEmail := func(f *mxFixture, x mxTarget) vars { return vars{"e": f.users[x].email} }
	inEdges := func(ids func(f *mxFixture) [3]int) func(*mxFixture, mxTarget, json.RawMessage) bool {
		return func(f *mxFixture, x mxTarget, v json.RawMessage) bool { return mxEdgesHold(v, ids(f)[x]) }
	}
	userIDs := func(f *mxFixture) [3]int { return [3]int{f.users[0].id, f.users[1].id, f.users[2].id} }
	const (
		users    = viewer.ManageUsers
		divs     = viewer.ManageDivisions
		channels = viewer.ManageChannels
	)
	return []mxRow{
		// Queries.
		{field: "me", doc: "any viewer", rule: mxAnyViewer, self: true, call: op(`{ me { id } }`, nil)},
		{field: "organization", doc: "any viewer", rule: mxAnyViewer, self: true, call: op(`{ organization { id } }`, nil)},
		{field: "users", doc: "every viewer, their org; scoped: users sharing a division", rule: mxRead(mxFiltered, mxFiltered),
			call: op(`{ users(first: 100) { edges { node { id } } } }`, nil), seen: inEdges(userIDs)},
		{field: "auditEvents", doc: "VIEW_AUDIT_LOG, their org's entries", rule: mxManageOr(viewer.ViewAuditLog, false, mxFiltered), self: true,
			call: op(`{ auditEvents(first: 100) { edges { node { id } } } }`, nil)},
		{field: "verifyAuditChain", doc: "VIEW_AUDIT_LOG, their org's log", rule: mxManageOr(viewer.ViewAuditLog, false, mxFiltered), self: true,
			call: op(`{ verifyAuditChain { intact } }`, nil)},
		{field: "mySessions", doc: "any viewer, their own", rule: mxAnyViewer, self: true, call: op(`{ mySessions { id current } }`, nil),
			seen: func(_ *mxFixture, _ mxTarget, v json.RawMessage) bool {
				return strings.Contains(string(v), `"current":true`)
			}},
		{field: "userSessions", doc: "MANAGE_USERS", rule: mxManageOr(users, true, mxNotFound),
			call: op(`query($id: ID!) { userSessions(userID: $id) { id } }`, targetUser),
			seen: func(f *mxFixture, x mxTarget, v json.RawMessage) bool { return mxListHolds(v, f.users[x].session) }},
		{field: "statusReport", doc: "VIEW_REPORTS, their org's divisions (another organization's division: NOT_FOUND); scoped: users sharing a division", rule: func(a mxActor, x mxTarget) mxOutcome {
			switch {
			case a == mxAnonymous:
				return mxUnauth
			case !slices.Contains(mxPermissions(a), viewer.ViewReports):
				return mxDenied
			case x == mxForeign:
				return mxNotFound
			case a == mxScoped && x == mxOther:
				return mxFiltered
			}
			return mxOK
		},
			call: op(`query($d: ID, $from: Time!, $to: Time!) { statusReport(from: $from, to: $to, divisionID: $d) { rows { user { id } } } }`,
				func(f *mxFixture, x mxTarget) vars {
					now := time.Now()
					return vars{"d": strconv.Itoa(f.divs[x]), "from": now.Add(-time.Hour), "to": now.Add(time.Hour)}
				}),
			// The division's members who existed in the range have rows:
			// the target user among them, and for the scoped supervisor
			// nobody in Sales (no member of Sales shares a division with
			// them).
			seen: func(f *mxFixture, x mxTarget, v json.RawMessage) bool {
				return strings.Contains(string(v), `"id":"`+f.users[x].gid()+`"`)
			}},
		{field: "presenceSummary", doc: "every viewer, their org (another organization's division: NOT_FOUND); scoped: users sharing a division", rule: mxRead(mxNotFound, mxFiltered),
			call: op(`query($d: ID) { presenceSummary(divisionID: $d) { total byDivision { division { id } total } } }`,
				func(f *mxFixture, x mxTarget) vars { return vars{"d": strconv.Itoa(f.divs[x])} }),
			seen: func(f *mxFixture, x mxTarget, v json.RawMessage) bool {
				var s struct {
					ByDivision []struct {
						Division struct{ ID string }
						Total    int
					}
				}
				_ = json.Unmarshal(v, &s)
				// The division's active members are counted: the target
				// user among them, and for the scoped supervisor nobody in
				// Sales (no member of Sales shares a division with them).
				return slices.ContainsFunc(s.ByDivision, func(d struct {
					Division struct{ ID string }
					Total    int
				}) bool {
					return d.Division.ID == strconv.Itoa(f.divs[x]) && d.Total >= 1
				})
			}},
		{field: "node", doc: "every viewer, their org; scoped: users sharing a division", rule: mxRead(mxNotFound, mxNotFound),
			call: op(`query($id: ID!) { node(id: $id) { id } }`, targetUser),
			seen: func(f *mxFixture, x mxTarget, v json.RawMessage) bool {
				var n *struct{ ID string }
				return json.Unmarshal(v, &n) == nil && n != nil && n.ID == f.users[x].gid()
			}},
		{field: "nodes", doc: "every viewer, their org; scoped: users sharing a division", rule: mxRead(mxNotFound, mxNotFound),
			call: func(_ *testing.T, f *mxFixture, v *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
					vars: vars{"ids": []string{f.users[x].gid(), f.sentinels[v.org()].gid()}}}
			},
			seen: func(f *mxFixture, x mxTarget, v json.RawMessage) bool {
				var ns []*struct{ ID string }
				return json.Unmarshal(v, &ns) == nil && len(ns) == 2 && ns[0] != nil && ns[0].ID == f.users[x].gid()
			}},
		{field: "channels", doc: "every viewer, their org", rule: mxRead(mxFiltered, mxOK),
			call: op(`{ channels(first: 100) { edges { node { id } } } }`, nil), seen: inEdges(func(f *mxFixture) [3]int { return f.channels })},
		{field: "divisions", doc: "every viewer, their org", rule: mxRead(mxFiltered, mxOK),
			call: op(`{ divisions(first: 100) { edges { node { id } } } }`, nil), seen: inEdges(func(f *mxFixture) [3]int { return f.divs })},
		{field: "roles", doc: "every viewer, their org", rule: mxRead(mxFiltered, mxOK),
			call: op(`{ roles(first: 100) { edges { node { id } } } }`, nil), seen: inEdges(func(f *mxFixture) [3]int { return f.roles })},

		// Filters reaching users through an edge: a list filtered on a
		// user's email must answer as if the users the viewer may not see
		// did not exist, or the filter tells what the viewer may not read
		// (here: that Sales has a member with this email). The target is
		// the user filtered on; seen: the list is not empty.
		{field: "users", variant: "hasDivisionsWith.hasMembersWith", doc: "as users: the filter sees only visible users", rule: mxRead(mxFiltered, mxFiltered),
			call: op(`query($e: String!) { users(where: {hasDivisionsWith: [{hasMembersWith: [{email: $e}]}]}) { totalCount } }`, targetEmail), seen: mxNotEmpty},
		{field: "divisions", variant: "hasMembersWith", doc: "as users: the filter sees only visible users", rule: mxRead(mxFiltered, mxFiltered),
			call: op(`query($e: String!) { divisions(where: {hasMembersWith: [{email: $e}]}) { totalCount } }`, targetEmail), seen: mxNotEmpty},
		{field: "roles", variant: "hasUsersWith", doc: "as users: the filter sees only visible users", rule: mxRead(mxFiltered, mxFiltered),
			call: op(`query($e: String!) { roles(where: {hasUsersWith: [{email: $e}]}) { totalCount } }`, targetEmail), seen: mxNotEmpty},
		{field: "channels", variant: "hasDivisionsWith.hasMembersWith", doc: "as users: the filter sees only visible users", rule: mxRead(mxFiltered, mxFiltered),
			call: op(`query($e: String!) { channels(where: {hasDivisionsWith: [{hasMembersWith: [{email: $e}]}]}) { totalCount } }`, targetEmail), seen: mxNotEmpty},

		// The same through nested connections, the filter written in the
		// document or sent whole as a variable: a member (or role user)
		// the viewer sees is matched through an edge reaching the target.
		{field: "divisions", variant: "members(where: hasRoleWith.hasUsersWith)", doc: "as users: the filter sees only visible users", rule: mxRead(mxFiltered, mxFiltered),
			call: op(`query($e: String!) { divisions(first: 100) { edges { node { members(where: {hasRoleWith: [{hasUsersWith: [{email: $e}]}]}) { totalCount } } } } }`, targetEmail),
			seen: mxNestedNotEmpty("members")},
		{field: "divisions", variant: "members(where: $w)", doc: "as users: the filter sees only visible users", rule: mxRead(mxFiltered, mxFiltered),
			call: op(`query($w: UserWhereInput) { divisions(first: 10) { edges { node { members(first: 10, where: $w) { edges { node { id } } } } } } }`,
				func(f *mxFixture, x mxTarget) vars {
					return vars{"w": vars{"hasRoleWith": []vars{{"hasUsersWith": []vars{{"email": f.users[x].email}}}}}}
				}),
			seen: mxNestedNotEmpty("members")},
		{field: "divisions", variant: "members(where: email)", doc: "as users: a scoped supervisor's nested members are only visible users", rule: mxRead(mxFiltered, mxFiltered),
			call: op(`query($e: String!) { divisions(first: 10) { edges { node { members(first: 10, where: {emailHasPrefix: $e}) { totalCount edges { node { id } } } } } } }`, targetEmail),
			seen: mxNestedNotEmpty("members")},
		{field: "roles", variant: "users(where: hasRoleWith.hasUsersWith)", doc: "as users: the filter sees only visible users", rule: mxRead(mxFiltered, mxFiltered),
			call: op(`query($e: String!) { roles(first: 100) { edges { node { users(where: {hasRoleWith: [{hasUsersWith: [{email: $e}]}]}) { totalCount } } } } }`, targetEmail),
			seen: mxNestedNotEmpty("users")},
		{field: "node", variant: "Division.members(where: or)", doc: "as users: the filter sees only visible users", rule: mxRead(mxFiltered, mxFiltered),
			call: func(_ *testing.T, f *mxFixture, v *mxViewer, x mxTarget) mxRequest {
				// The actor's own Support.
				return mxRequest{query: `query($id: ID!, $e: String!) { node(id: $id) { ... on Division { members(where: {or: [{hasDivisionsWith: [{hasMembersWith: [{email: $e}]}]}, {hasRoleWith: [{hasUsersWith: [{email: $e}]}]}]}) { totalCount } } } }`,
					vars: vars{"id": strconv.Itoa(f.support[v.org()]), "e": f.users[x].email}}
			},
			seen: func(_ *mxFixture, _ mxTarget, v json.RawMessage) bool {
				var n struct{ Members struct{ TotalCount int } }
				_ = json.Unmarshal(v, &n)
				return n.Members.TotalCount > 0
			}},

		// Subscriptions.
		{field: "userStatusChanged", doc: "every viewer, their org; scoped: users sharing a division", rule: mxRead(mxFiltered, mxFiltered),
			sub: &mxSubscription{
				query: `subscription { userStatusChanged { user { id } availability online version } }`,
				change: func(t *testing.T, f *mxFixture, u *mxUser) int {
					var got struct{ SetUserAvailability struct{ Version int } }
					f.admins[u.org].do(t, `mutation($u: ID!, $a: Availability!) { setUserAvailability(id: $u, availability: $a) { version } }`,
						vars{"u": u.gid(), "a": f.nextAvailability(u)}).decode(t, &got)
					return got.SetUserAvailability.Version
				},
				event: func(p json.RawMessage) (string, int) {
					var ev struct {
						Data struct {
							UserStatusChanged struct {
								User    struct{ ID string }
								Version int
							}
						}
					}
					_ = json.Unmarshal(p, &ev)
					return ev.Data.UserStatusChanged.User.ID, ev.Data.UserStatusChanged.Version
				},
			}},
		{field: "presenceSummaryChanged", doc: "every viewer, their org; scoped: users sharing a division", rule: mxRead(mxFiltered, mxFiltered),
			sub: &mxSubscription{query: `subscription { presenceSummaryChanged { byRole { role { id } total } byDivision { division { id } total } } }`, observe: mxObserveSummary}},
		{field: "conversationAssigned", doc: "the assignee; ASSIGN_CONVERSATIONS holders, the conversations they see (scoped: their divisions)", rule: mxAssignedRule,
			sub: &mxSubscription{query: `subscription { conversationAssigned { id } }`, observe: mxObserveAssigned}},
		{field: "userChanged", doc: "every viewer, their org; scoped: users sharing a division", rule: mxRead(mxFiltered, mxFiltered),
			sub: &mxSubscription{
				query: `subscription { userChanged { kind userID user { id lastName } version } }`,
				change: func(t *testing.T, f *mxFixture, u *mxUser) int {
					var got struct{ UpdateUser struct{ Version int } }
					f.admins[u.org].do(t, `mutation($u: ID!, $n: String!) { updateUser(id: $u, input: {lastName: $n}) { version } }`,
						vars{"u": u.gid(), "n": fmt.Sprintf("Changed%d", f.seq.Add(1))}).decode(t, &got)
					return got.UpdateUser.Version
				},
				event: func(p json.RawMessage) (string, int) {
					var ev struct {
						Data struct {
							UserChanged struct {
								UserID  string
								Version int
							}
						}
					}
					_ = json.Unmarshal(p, &ev)
					return ev.Data.UserChanged.UserID, ev.Data.UserChanged.Version
				},
			}},

		mxObjectRow("divisionChanged", &mxObjects{
			targets: func(f *mxFixture) [3]int { return f.divs },
			create:  func(t *testing.T, f *mxFixture, org int) int { return f.newDivision(t, org) },
			change:  mxChangeObject(`mutation($id: ID!, $t: String!) { updateDivision(id: $id, input: {description: $t}) { version } }`),
		}),
		mxObjectRow("roleChanged", &mxObjects{
			targets: func(f *mxFixture) [3]int { return f.roles },
			create:  func(t *testing.T, f *mxFixture, org int) int { return f.newRole(t, org) },
			change:  mxChangeObject(`mutation($id: ID!, $t: String!) { updateRole(id: $id, input: {description: $t}) { version } }`),
		}),
		mxObjectRow("channelChanged", &mxObjects{
			targets: func(f *mxFixture) [3]int { return f.channels },
			create: func(t *testing.T, f *mxFixture, org int) int {
				return f.newChannel(t, [2]mxTarget{mxOwn, mxForeign}[org])
			},
			change: mxChangeObject(`mutation($id: ID!, $t: String!) { updateChannel(id: $id, input: {name: $t}) { version } }`),
		}),
		// The snapshots: what each actor's snapshot sends, up to
		// SNAPSHOT_END, is what the same rule lets them see.
		mxSnapshotRow("userStatusChanged", "every viewer, their org; scoped: users sharing a division", mxRead(mxFiltered, mxFiltered),
			`subscription { userStatusChanged(snapshot: true) { kind user { id } version } }`, mxUserTargets),
		mxSnapshotRow("userChanged", "every viewer, their org; scoped: users sharing a division", mxRead(mxFiltered, mxFiltered),
			`subscription { userChanged(snapshot: true) { kind userID user { id } version } }`, mxUserTargets),
		mxSnapshotRow("divisionChanged", "every viewer, their org", mxRead(mxFiltered, mxOK),
			`subscription { divisionChanged(snapshot: true) { kind divisionID version division { id } } }`, mxObjectTargets(func(f *mxFixture) [3]int { return f.divs })),
		mxSnapshotRow("roleChanged", "every viewer, their org", mxRead(mxFiltered, mxOK),
			`subscription { roleChanged(snapshot: true) { kind roleID version role { id } } }`, mxObjectTargets(func(f *mxFixture) [3]int { return f.roles })),
		mxSnapshotRow("channelChanged", "every viewer, their org", mxRead(mxFiltered, mxOK),
			`subscription { channelChanged(snapshot: true) { kind channelID version channel { id } } }`, mxObjectTargets(func(f *mxFixture) [3]int { return f.channels })),

		{field: "auditEventAdded", doc: "VIEW_AUDIT_LOG, their org's entries", rule: mxManageOr(viewer.ViewAuditLog, false, mxFiltered),
			sub: &mxSubscription{
				query: `subscription { auditEventAdded { targetID changes } }`,
				change: func(t *testing.T, f *mxFixture, u *mxUser) int {
					n := int(f.seq.Add(1))
					f.admins[u.org].do(t, `mutation($u: ID!, $n: String!) { updateUser(id: $u, input: {lastName: $n}) { id } }`,
						vars{"u": u.gid(), "n": fmt.Sprintf("Changed%d", n)}).decode(t, &struct{}{})
					return n
				},
				event: func(p json.RawMessage) (string, int) {
					var ev struct {
						Data struct {
							AuditEventAdded struct {
								TargetID string
								Changes  map[string]map[string]any
							}
						}
					}
					_ = json.Unmarshal(p, &ev)
					after, _ := ev.Data.AuditEventAdded.Changes["last_name"]["after"].(string)
					n, _ := strconv.Atoi(strings.TrimPrefix(after, "Changed"))
					return ev.Data.AuditEventAdded.TargetID, n
				},
			}},

		// Logging in: anyone; the credential decides.
		{field: "login", doc: "anyone (the credentials decide)", rule: mxPublic,
			call: op(`mutation($i: LoginInput!) { login(input: $i) { token user { id } } }`, func(f *mxFixture, x mxTarget) vars {
				return vars{"i": vars{"email": f.logins[x].email, "password": mxPassword}}
			}),
			seen: func(f *mxFixture, x mxTarget, v json.RawMessage) bool {
				return strings.Contains(string(v), `"token":"rst_`) && strings.Contains(string(v), `"id":"`+f.logins[x].gid()+`"`)
			}},
		{field: "verifyMfa", doc: "anyone (the challenge and code decide)", rule: mxPublic,
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				u := f.mfa[x]
				challenge := f.challenge(t, u)
				code := f.box.last(t, u.email, loginCode)
				return mxRequest{query: `mutation($c: String!, $code: String!) { verifyMfa(challengeID: $c, code: $code) { token user { id } } }`,
					vars: vars{"c": challenge, "code": code}}
			},
			seen: func(f *mxFixture, x mxTarget, v json.RawMessage) bool {
				return strings.Contains(string(v), `"token":"rst_`) && strings.Contains(string(v), `"id":"`+f.mfa[x].gid()+`"`)
			}},
		{field: "resendMfaCode", doc: "anyone (the challenge decides)", rule: mxPublic,
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				// An authenticator user's challenge has emailed nothing
				// yet, so a code may be sent at once.
				return mxRequest{query: `mutation($c: String!) { resendMfaCode(challengeID: $c) { id methods } }`, vars: vars{"c": f.challenge(t, f.totp[x])}}
			}},
		// The anonymous actor, who invitations are for, accepts them. The
		// others send their token with a password the policy refuses: the
		// invitation's token is judged first, so BAD_USER_INPUT on password
		// says it was accepted, without the cost of hashing a password
		// (seconds under -race, and the server hashes it holding SQLite's
		// write lock, so acceptances cannot run in parallel either).
		{field: "acceptInvitation", doc: "anyone (the invitation token decides; B: accepted, the too-short password refused)", acmeOnly: true,
			rule: func(a mxActor, _ mxTarget) mxOutcome {
				if a == mxAnonymous {
					return mxOK
				}
				return mxInvalidPassword
			},
			call: func(t *testing.T, f *mxFixture, v *mxViewer, x mxTarget) mxRequest {
				const query = `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { user { id status } } }`
				password := "a new passphrase for the invitee"
				if v.kind != mxAnonymous {
					password = "short"
				}
				if v.kind == mxAdmin && x == mxOwn {
					// Once: a wrong token with that password is refused
					// for its token, else the row tells nothing.
					f.srv.client("").do(t, query, vars{"t": "rst_not-an-invitation", "p": password}).wantError(t, "BAD_USER_INPUT", "token")
				}
				email := fmt.Sprintf("invitee%d@%s.test", f.seq.Add(1), mxOrgNames[x.org()])
				f.admins[x.org()].createUser(t, vars{"firstName": "Ines", "lastName": "Invitee", "email": email,
					"roleID": strconv.Itoa(f.builtin[x.org()][role.BuiltinAgent]), "divisionIDs": []string{strconv.Itoa(f.divs[x])}})
				token, err := url.QueryUnescape(f.box.last(t, email, invitationLink))
				if err != nil {
					t.Fatal(err)
				}
				return mxRequest{query: query, vars: vars{"t": token, "p": password}}
			},
			seen: func(_ *mxFixture, _ mxTarget, v json.RawMessage) bool {
				return strings.Contains(string(v), `"status":"ACTIVE"`)
			}},

		// Password resets: the email or the token decides, never the
		// viewer. Everyone gets the same answer for an email without an
		// account; the token of a fresh link is accepted from anyone
		// (the others send a password the policy refuses, as for
		// acceptInvitation).
		{field: "requestPasswordReset", doc: "anyone (the answer is the same for every email)", rule: mxPublic, self: true,
			call: func(_ *testing.T, f *mxFixture, _ *mxViewer, _ mxTarget) mxRequest {
				return mxRequest{query: `mutation($e: String!) { requestPasswordReset(email: $e) }`, vars: vars{"e": fmt.Sprintf("nobody%d@acme.test", f.seq.Add(1))}}
			}},
		{field: "resetPassword", doc: "anyone (the reset token decides; B: accepted, the too-short password refused)", rule: func(a mxActor, _ mxTarget) mxOutcome {
			if a == mxAnonymous {
				return mxOK
			}
			return mxInvalidPassword
		}, self: true, acmeOnly: true,
			call: func(t *testing.T, f *mxFixture, v *mxViewer, _ mxTarget) mxRequest {
				u := f.newUser(t, "forgetful", mxSpec{org: 0, role: role.BuiltinAgent})
				f.srv.client("").do(t, `mutation($e: String!) { requestPasswordReset(email: $e) }`, vars{"e": u.email}).decode(t, new(any))
				token, err := url.QueryUnescape(f.box.last(t, u.email, resetLink))
				if err != nil {
					t.Fatal(err)
				}
				password := "a new passphrase for the forgetful"
				if v.kind != mxAnonymous {
					password = "short"
				}
				return mxRequest{query: `mutation($t: String!, $p: String!) { resetPassword(token: $t, password: $p) }`, vars: vars{"t": token, "p": password}}
			}},

		// Mutations of the viewer and their organization.
		{field: "updateMe", doc: "any viewer, their own", rule: mxAnyViewer, self: true,
			call: op(`mutation { updateMe(input: {phone: "+6281234567890"}) { id phone } }`, nil)},
		{field: "uploadMyAvatar", doc: "any viewer, their own", rule: mxAnyViewer, self: true,
			call: func(*testing.T, *mxFixture, *mxViewer, mxTarget) mxRequest {
				return mxRequest{query: `mutation($file: Upload!) { uploadMyAvatar(file: $file) { id avatarURL } }`, upload: testImage(8, 8)}
			}},
		{field: "updateOrganization", doc: "MANAGE_USERS, their org", rule: mxManage(users, false), self: true,
			// The current time zone: the call is checked, nothing changes.
			call: op(`mutation { updateOrganization(input: {timeZone: "UTC"}) { id timeZone } }`, nil)},
		{field: "setMyAvailability", doc: "any viewer, their own", rule: mxAnyViewer, self: true,
			call: op(`mutation { setMyAvailability(availability: BUSY) { id availability } }`, nil)},
		{field: "setOrganizationPlan", doc: "MANAGE_USERS, their org", rule: mxManage(users, false), self: true,
			// The current plan: the call is checked, nothing changes.
			call: op(`mutation { setOrganizationPlan(plan: TRIAL) { id plan } }`, nil)},
		{field: "setOrganizationCountry", doc: "MANAGE_USERS, their org", rule: mxManage(users, false), self: true,
			// The current country: the call is checked, nothing changes.
			call: op(`mutation { setOrganizationCountry(country: "ID") { id country } }`, nil)},

		// Users.
		{field: "uploadUserAvatar", doc: "MANAGE_USERS", rule: mxManage(users, true),
			call: func(_ *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($id: ID!, $file: Upload!) { uploadUserAvatar(id: $id, file: $file) { id } }`,
					vars: vars{"id": f.users[x].gid()}, upload: testImage(8, 8)}
			}},
		{field: "setUserAvailability", doc: "MANAGE_USERS", rule: mxManage(users, true),
			call: op(`mutation($id: ID!) { setUserAvailability(id: $id, availability: AWAY) { id } }`, targetUser)},
		{field: "createUser", doc: "MANAGE_USERS (target: the division)", rule: mxManage(users, false),
			call: func(_ *testing.T, f *mxFixture, v *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`, vars: vars{"i": vars{
					"firstName": "Nina", "lastName": "New", "email": fmt.Sprintf("new%d@acme.test", f.seq.Add(1)),
					"roleID": strconv.Itoa(f.builtin[v.org()][role.BuiltinAgent]), "divisionIDs": []string{strconv.Itoa(f.divs[x])}}}}
			}},
		{field: "updateUser", doc: "MANAGE_USERS", rule: mxManage(users, true),
			call: op(`mutation($id: ID!) { updateUser(id: $id, input: {lastName: "Updated"}) { id } }`, targetUser)},
		{field: "archiveUser", doc: "MANAGE_USERS", rule: mxManage(users, true),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				u := f.newUser(t, "archivee", mxSpec{org: x.org(), role: role.BuiltinAgent, div: f.divs[x]})
				return mxRequest{query: `mutation($id: ID!) { archiveUser(id: $id) { id status } }`, vars: vars{"id": u.gid()}}
			}},
		{field: "deleteUser", doc: "MANAGE_USERS", rule: mxManage(users, true),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				u := f.newUser(t, "deletee", mxSpec{org: x.org(), role: role.BuiltinAgent, div: f.divs[x]})
				return mxRequest{query: `mutation($id: ID!) { deleteUser(id: $id) }`, vars: vars{"id": u.gid()}}
			}},
		{field: "restoreUser", doc: "MANAGE_USERS", rule: mxManage(users, true),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				u := f.newUser(t, "archived", mxSpec{org: x.org(), role: role.BuiltinAgent, div: f.divs[x], status: user.StatusArchived})
				return mxRequest{query: `mutation($id: ID!) { restoreUser(id: $id) { id status } }`, vars: vars{"id": u.gid()}}
			}},
		{field: "resendInvitation", doc: "MANAGE_USERS", rule: mxManage(users, true),
			call: op(`mutation($id: ID!) { resendInvitation(id: $id) { id } }`, func(f *mxFixture, x mxTarget) vars { return vars{"id": f.invited[x].gid()} })},
		{field: "revokeInvitation", doc: "MANAGE_USERS", rule: mxManage(users, true),
			call: op(`mutation($id: ID!) { revokeInvitation(id: $id) { id } }`, func(f *mxFixture, x mxTarget) vars { return vars{"id": f.invited[x].gid()} })},
		{field: "revokeSession", doc: "own sessions; MANAGE_USERS: anyone's (target: another user's session)",
			rule: func(a mxActor, x mxTarget) mxOutcome {
				// Others' sessions are invisible to those who do not
				// manage users: FORBIDDEN or NOT_FOUND.
				if r := mxManage(users, true)(a, x); r == mxForbid {
					return mxDenied
				} else {
					return r
				}
			},
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($id: ID!) { revokeSession(id: $id) }`, vars: vars{"id": strconv.Itoa(f.newSession(t, f.users[x]))}}
			}},
		{field: "revokeSession", variant: "own", doc: "any viewer, their own sessions", rule: mxAnyViewer, self: true,
			call: func(t *testing.T, f *mxFixture, v *mxViewer, _ mxTarget) mxRequest {
				// Another session of the actor's: the one in use stays.
				u := f.users[mxOwn]
				if v.user != nil {
					u = &mxUser{id: v.user.id, email: v.user.email, org: v.user.org}
				}
				return mxRequest{query: `mutation($id: ID!) { revokeSession(id: $id) }`, vars: vars{"id": strconv.Itoa(f.newSession(t, u))}}
			}},
		{field: "revokeUserSessions", doc: "MANAGE_USERS", rule: mxManage(users, true),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				u := f.newUser(t, "revokee", mxSpec{org: x.org(), role: role.BuiltinAgent, div: f.divs[x]})
				f.newSession(t, u)
				return mxRequest{query: `mutation($id: ID!) { revokeUserSessions(userID: $id) }`, vars: vars{"id": u.gid()}}
			}},

		// Roles: organization-wide objects, so the own and other targets
		// are both custom roles of Acme.
		{field: "createRole", doc: "MANAGE_USERS", rule: mxManage(users, false), self: true,
			call: func(_ *testing.T, f *mxFixture, _ *mxViewer, _ mxTarget) mxRequest {
				return mxRequest{query: `mutation($n: String!) { createRole(input: {name: $n}) { id } }`, vars: vars{"n": fmt.Sprintf("Role %d", f.seq.Add(1))}}
			}},
		{field: "updateRole", doc: "MANAGE_USERS", rule: mxManage(users, false),
			call: op(`mutation($id: ID!) { updateRole(id: $id, input: {description: "Updated"}) { id } }`, func(f *mxFixture, x mxTarget) vars {
				return vars{"id": strconv.Itoa(f.roles[x])}
			})},
		{field: "deleteRole", doc: "MANAGE_USERS", rule: mxManage(users, false),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($id: ID!) { deleteRole(id: $id) }`, vars: vars{"id": strconv.Itoa(f.newRole(t, x.org()))}}
			}},

		// Divisions.
		{field: "createDivision", doc: "MANAGE_DIVISIONS (target: the member)", rule: mxManage(divs, true),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				u := f.newUser(t, "member", mxSpec{org: x.org(), role: role.BuiltinAgent, div: f.divs[x]})
				return mxRequest{query: `mutation($n: String!, $m: ID!) { createDivision(input: {name: $n, memberIDs: [$m]}) { id } }`,
					vars: vars{"n": fmt.Sprintf("Division %d", f.seq.Add(1)), "m": u.gid()}}
			}},
		{field: "updateDivision", doc: "MANAGE_DIVISIONS", rule: mxManage(divs, false),
			call: op(`mutation($id: ID!) { updateDivision(id: $id, input: {description: "Updated"}) { id } }`, func(f *mxFixture, x mxTarget) vars {
				return vars{"id": strconv.Itoa(f.divs[x])}
			})},
		{field: "deleteDivision", doc: "MANAGE_DIVISIONS", rule: mxManage(divs, false),
			call: func(t *testing.T, f *mxFixture, v *mxViewer, x mxTarget) mxRequest {
				// A division of the actor's own, or not.
				var members []int
				if _, rx := mxRelative(v.kind, x); rx == mxOwn && v.user != nil {
					members = append(members, v.user.id)
				}
				return mxRequest{query: `mutation($id: ID!) { deleteDivision(id: $id) }`, vars: vars{"id": strconv.Itoa(f.newDivision(t, x.org(), members...))}}
			}},
		{field: "addDivisionMembers", doc: "MANAGE_DIVISIONS", rule: mxManage(divs, false),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				u := f.newUser(t, "joiner", mxSpec{org: x.org(), role: role.BuiltinAgent})
				return mxRequest{query: `mutation($d: ID!, $u: ID!) { addDivisionMembers(id: $d, userIDs: [$u]) { id } }`,
					vars: vars{"d": strconv.Itoa(f.divs[x]), "u": u.gid()}}
			}},
		{field: "removeDivisionMembers", doc: "MANAGE_DIVISIONS", rule: mxManage(divs, false),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				u := f.newUser(t, "leaver", mxSpec{org: x.org(), role: role.BuiltinAgent, div: f.divs[x]})
				return mxRequest{query: `mutation($d: ID!, $u: ID!) { removeDivisionMembers(id: $d, userIDs: [$u]) { id } }`,
					vars: vars{"d": strconv.Itoa(f.divs[x]), "u": u.gid()}}
			}},

		// Channels.
		{field: "createChannel", doc: "MANAGE_CHANNELS (target: the division fed)", rule: mxManage(channels, false),
			call: func(_ *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($n: String!, $d: ID!) { createChannel(input: {type: LIVECHAT, name: $n, divisionIDs: [$d]}) { id } }`,
					vars: vars{"n": fmt.Sprintf("Chat %d", f.seq.Add(1)), "d": strconv.Itoa(f.divs[x])}}
			}},
		{field: "updateChannel", doc: "MANAGE_CHANNELS", rule: mxManage(channels, false),
			call: op(`mutation($id: ID!) { updateChannel(id: $id, input: {name: "Renamed"}) { id } }`, mxTargetChannel)},
		{field: "deleteChannel", doc: "MANAGE_CHANNELS", rule: mxManage(channels, false),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($id: ID!) { deleteChannel(id: $id) }`, vars: vars{"id": strconv.Itoa(f.newChannel(t, x))}}
			}},
		{field: "setChannelEnabled", doc: "MANAGE_CHANNELS", rule: mxManage(channels, false),
			call: op(`mutation($id: ID!) { setChannelEnabled(id: $id, enabled: true) { id } }`, mxTargetChannel)},
		{field: "connectChannel", doc: "MANAGE_CHANNELS", rule: mxManage(channels, false),
			call: op(`mutation($id: ID!) { connectChannel(id: $id) { id } }`, mxTargetChannel)},
		{field: "disconnectChannel", doc: "MANAGE_CHANNELS", rule: mxManage(channels, false),
			call: op(`mutation($id: ID!) { disconnectChannel(id: $id) { id } }`, mxTargetChannel)},

		// The viewer's own account, last: these change the actors.
		{field: "beginTotpEnrollment", doc: "any viewer, their own", rule: mxAnyViewer, self: true,
			call: op(`mutation { beginTotpEnrollment { secret uri } }`, nil)},
		{field: "confirmTotpEnrollment", doc: "any viewer, their own", rule: mxAnyViewer, self: true,
			call: func(t *testing.T, f *mxFixture, v *mxViewer, _ mxTarget) mxRequest {
				code := "000000"
				if v.user != nil {
					var got struct{ BeginTotpEnrollment struct{ Secret string } }
					v.c.do(t, `mutation { beginTotpEnrollment { secret } }`, nil).decode(t, &got)
					secret, err := otp.DecodeSecret(got.BeginTotpEnrollment.Secret)
					if err != nil {
						t.Fatal(err)
					}
					code = otp.TOTP(secret, time.Now())
				}
				return mxRequest{query: `mutation($c: String!) { confirmTotpEnrollment(code: $c) { id totpEnabled } }`, vars: vars{"c": code}}
			}},
		{field: "disableTotp", doc: "any viewer, their own", rule: mxAnyViewer, self: true,
			call: op(`mutation($p: String!) { disableTotp(password: $p) { id totpEnabled } }`, func(*mxFixture, mxTarget) vars { return vars{"p": mxPassword} })},
		{field: "changeMyPassword", doc: "any viewer, their own", rule: mxAnyViewer, self: true, parallel: true,
			call: func(t *testing.T, f *mxFixture, v *mxViewer, _ mxTarget) mxRequest {
				req := mxRequest{query: `mutation($c: String!, $n: String!) { changeMyPassword(currentPassword: $c, newPassword: $n) }`,
					vars: vars{"c": mxPassword, "n": "another long passphrase"}}
				if v.user != nil {
					// A throwaway user made like the actor: the actors
					// keep their passwords.
					clone := f.newUser(t, "clone", v.spec)
					req.as = f.srv.login(t, clone.email, mxPassword)
				}
				return req
			}},
		// Allocation.
		{field: "allocationSettings", doc: "every viewer, their org's divisions", rule: mxRead(mxNotFound, mxOK),
			call: op(`query($d: ID) { allocationSettings(divisionID: $d) { mode } }`, mxTargetDivision)},
		{field: "allocationCandidates", doc: "ASSIGN_CONVERSATIONS (or MANAGE_CONVERSATIONS, MANAGE_ALLOCATION)", rule: mxManage(viewer.AssignConversations, false),
			call: op(`query($d: ID!) { allocationCandidates(divisionID: $d) { user { id } eligible reason } }`, mxTargetDivision)},
		{field: "allocationWorkload", doc: "any viewer, what they see", rule: mxAnyViewer, self: true,
			call: op(`{ allocationWorkload { agents { open headroom } divisions { queued longestWaitSeconds } } }`, nil)},
		{field: "conversations", doc: "any viewer, what they see", rule: mxAnyViewer, self: true,
			call: op(`{ conversations(first: 10) { totalCount } }`, nil)},
		{field: "apiKeys", doc: "MANAGE_API_KEYS", rule: mxHolders(viewer.ManageAPIKeys), self: true,
			call: op(`{ apiKeys(first: 10) { totalCount } }`, nil)},
		{field: "createApiKey", doc: "MANAGE_API_KEYS", rule: mxHolders(viewer.ManageAPIKeys), self: true,
			call: op(`mutation { createApiKey(input: {name: "Platform", permissions: [MANAGE_CONVERSATIONS]}) { secret } }`, nil)},
		{field: "revokeApiKey", doc: "MANAGE_API_KEYS", rule: mxManage(viewer.ManageAPIKeys, false),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`, vars: vars{"id": strconv.Itoa(f.newAPIKey(t, x))}}
			}},
		{field: "enqueueConversation", doc: "MANAGE_CONVERSATIONS (target: the division)", rule: mxManage(viewer.ManageConversations, false),
			call: func(_ *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($e: String!, $d: ID!) { enqueueConversation(input: {externalID: $e, divisionID: $d}) { id state } }`,
					vars: vars{"e": fmt.Sprintf("ext-%d", f.seq.Add(1)), "d": strconv.Itoa(f.divs[x])}}
			}},
		{field: "recordAgentReply", doc: "MANAGE_CONVERSATIONS", rule: mxManage(viewer.ManageConversations, false),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($id: ID!) { recordAgentReply(id: $id) { id } }`, vars: vars{"id": strconv.Itoa(f.newConversation(t, x, true))}}
			}},
		{field: "resolveConversation", doc: "MANAGE_CONVERSATIONS", rule: mxManage(viewer.ManageConversations, false),
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($id: ID!) { resolveConversation(id: $id) { id } }`, vars: vars{"id": strconv.Itoa(f.newConversation(t, x, true))}}
			}},
		{field: "assignConversation", doc: "ASSIGN_CONVERSATIONS, conversations and users they see; agents per the settings (not to others by default)", rule: mxAssign,
			call: func(t *testing.T, f *mxFixture, _ *mxViewer, x mxTarget) mxRequest {
				return mxRequest{query: `mutation($id: ID!, $u: ID!) { assignConversation(id: $id, userID: $u) { id assignee { id } } }`,
					vars: vars{"id": strconv.Itoa(f.newConversation(t, x, false)), "u": strconv.Itoa(f.newAgent(t, x))}}
			}},
		{field: "takeNextConversation", doc: "any user; null when nothing they may take", rule: mxNullForViewers, self: true,
			call: op(`mutation { takeNextConversation { id } }`, nil)},
		{field: "updateAllocationSettings", doc: "MANAGE_ALLOCATION", rule: mxManage(viewer.ManageAllocation, false),
			call: op(`mutation($d: ID) { updateAllocationSettings(divisionID: $d, input: {defaultCapacity: 4}) { defaultCapacity } }`, mxTargetDivision)},
		{field: "resetAllocationSettings", doc: "MANAGE_ALLOCATION", rule: mxManage(viewer.ManageAllocation, false),
			call: op(`mutation($d: ID!) { resetAllocationSettings(divisionID: $d) { mode } }`, mxTargetDivision)},
		{field: "logout", doc: "any viewer, their own session", rule: mxAnyViewer, self: true, call: op(`mutation { logout }`, nil)},
	}
}

func mxTargetDivision(f *mxFixture, x mxTarget) vars { return vars{"d": strconv.Itoa(f.divs[x])} }

// mxHolders: only holders of perm may; the others of the organization get
// FORBIDDEN.
func mxHolders(perm viewer.Permission) mxRule {
	return func(a mxActor, _ mxTarget) mxOutcome {
		switch {
		case a == mxAnonymous:
			return mxUnauth
		case slices.Contains(mxPermissions(a), perm):
			return mxOK
		}
		return mxForbid
	}
}

// mxNullForViewers: any viewer gets a null answer (nothing for them).
func mxNullForViewers(a mxActor, _ mxTarget) mxOutcome {
	if a == mxAnonymous {
		return mxUnauth
	}
	return "null"
}

// mxAssign: holders of ASSIGN_CONVERSATIONS assign the conversations they
// see (the scoped supervisor: of their divisions) to an eligible member;
// agents see only the queue of their own divisions and may not assign to
// others by default.
func mxAssign(a mxActor, x mxTarget) mxOutcome {
	switch {
	case a == mxAnonymous:
		return mxUnauth
	case x == mxForeign:
		return mxNotFound
	case slices.Contains(mxPermissions(a), viewer.AssignConversations):
		if a == mxScoped && x == mxOther {
			return mxNotFound
		}
		return mxOK
	case x == mxOther:
		return mxNotFound
	}
	return mxForbid
}

func mxTargetChannel(f *mxFixture, x mxTarget) vars { return vars{"id": strconv.Itoa(f.channels[x])} }

// mxEdgesHold reports whether a connection holds the node id.
func mxEdgesHold(v json.RawMessage, id int) bool {
	var conn struct {
		Edges []struct{ Node struct{ ID string } }
	}
	_ = json.Unmarshal(v, &conn)
	return slices.ContainsFunc(conn.Edges, func(e struct{ Node struct{ ID string } }) bool { return e.Node.ID == strconv.Itoa(id) })
}

// mxNotEmpty reports whether a connection counts at least one node.
func mxNotEmpty(_ *mxFixture, _ mxTarget, v json.RawMessage) bool {
	var conn struct{ TotalCount int }
	_ = json.Unmarshal(v, &conn)
	return conn.TotalCount > 0
}

// mxNestedNotEmpty reports whether a connection of objects holds, in the
// nested connection edge of one of them, at least one node.
func mxNestedNotEmpty(edge string) func(*mxFixture, mxTarget, json.RawMessage) bool {
	return func(_ *mxFixture, _ mxTarget, v json.RawMessage) bool {
		var conn struct {
			Edges []struct {
				Node map[string]struct {
					TotalCount *int
					Edges      []json.RawMessage
				}
			}
		}
		_ = json.Unmarshal(v, &conn)
		for _, e := range conn.Edges {
			n := e.Node[edge]
			if n.TotalCount != nil && *n.TotalCount > 0 || len(n.Edges) > 0 {
				return true
			}
		}
		return false
	}
}

// mxListHolds reports whether a list of objects holds id.
func mxListHolds(v json.RawMessage, id int) bool {
	var list []struct{ ID string }
	_ = json.Unmarshal(v, &list)
	return slices.ContainsFunc(list, func(o struct{ ID string }) bool { return o.ID == strconv.Itoa(id) })
}

// The fixture password. The fixture hashes it at bcrypt's lowest cost, so
// that the many logins and password checks of the matrix cost little; the
// cost of hashing is not what this test is about.
const mxPassword = fixture.Password

var mxOrgNames = [2]string{"acme", "globex"}

type mxUser struct {
	id      int
	email   string
	org     int // 0 Acme, 1 Globex
	session int // a session made for the user, if any
}

func (u *mxUser) gid() string { return strconv.Itoa(u.id) }

// org returns the index of the actor's organization (Acme for the
// anonymous).
func (v *mxViewer) org() int {
	if v.user == nil {
		return 0
	}
	return v.user.org
}

// mxViewer is an actor logged in (or not).
type mxViewer struct {
	kind mxActor
	user *mxUser // nil for the anonymous actor
	spec mxSpec  // how the user was made, to make throwaway copies
	c    *client
}

// mxSpec describes a fixture user.
type mxSpec struct {
	org       int
	role      role.Builtin
	div       int // a division to be a member of, or 0
	chat      user.ChatAccess
	broadcast bool
	// status is ACTIVE (with the fixture password) when empty.
	status user.Status
	// mfa makes the user answer an emailed code at login; totp, a code of
	// an authenticator app.
	mfa, totp bool
}

type mxFixture struct {
	srv *server
	db  *ent.Client
	box *outbox
	sys context.Context
	seq atomic.Int64

	org     [2]int
	builtin [2]map[role.Builtin]int
	// The targets, by mxTarget: Support, Sales and Globex's division;
	// channels feeding them; custom roles; active users, members of them,
	// each with a session; invited users; users to log in as, plain, with
	// an emailed code, or with an authenticator app.
	divs, channels, roles [3]int
	users, invited        [3]*mxUser
	logins, mfa, totp     [3]*mxUser
	sentinel              *mxUser    // a member of Support, whom every actor of Acme sees
	sentinels             [2]*mxUser // Acme's sentinel, and Globex's: a member of Globex's Support
	support               [2]int     // each organization's Support, the actors' division
	viewers               [8]*mxViewer
	admins                [2]*client // Acme's and Globex's admins
	availability          map[int]int
	mu                    sync.Mutex
	results               map[string]map[mxActor]map[mxTarget]mxCell
	durations             map[string]time.Duration
}

type mxCell struct {
	got  string
	pass bool
}

func newMxFixture(t *testing.T) *mxFixture {
	t.Helper()
	srv, w := startWorld(t, fixture.SQLiteURL(t), []string{"Acme", "Globex"})
	f := &mxFixture{
		srv: srv, db: w.Client, box: &outbox{client: w.Client}, sys: fixture.System(),
		availability: map[int]int{}, results: map[string]map[mxActor]map[mxTarget]mxCell{}, durations: map[string]time.Duration{},
	}
	acme, globex := w.Orgs[0], w.Orgs[1]
	for i, o := range w.Orgs {
		f.org[i] = o.ID
		f.builtin[i] = o.Roles
	}

	f.divs = [3]int{acme.Support, f.newDivision(t, 0), f.newDivision(t, 1)}
	support := f.divs[mxOwn]

	// The actors: the fixture's users of Acme, all members of Support, and
	// a broadcasting agent.
	if err := f.db.User.UpdateOneID(acme.Admin.ID).AddDivisionIDs(support).Exec(f.sys); err != nil {
		t.Fatal(err)
	}
	for kind, a := range map[mxActor]struct {
		u    *fixture.User
		spec mxSpec
	}{
		mxAdmin:      {acme.Admin, mxSpec{role: role.BuiltinAdmin, div: support}},
		mxSupervisor: {acme.Supervisor, mxSpec{role: role.BuiltinSupervisor, div: support, chat: user.ChatAccessAllDivisions}},
		mxScoped:     {acme.Scoped, mxSpec{role: role.BuiltinSupervisor, div: support, chat: user.ChatAccessAssignedDivisions}},
		mxAgent:      {acme.Agent, mxSpec{role: role.BuiltinAgent, div: support}},
	} {
		f.viewers[kind] = &mxViewer{kind: kind, user: &mxUser{id: a.u.ID, email: a.u.Email}, spec: a.spec, c: srv.as(a.u)}
	}
	broadcaster := mxSpec{role: role.BuiltinAgent, div: support, broadcast: true}
	f.viewers[mxBroadcaster] = &mxViewer{kind: mxBroadcaster, user: f.newUser(t, mxActorNames[mxBroadcaster], broadcaster), spec: broadcaster}
	f.viewers[mxBroadcaster].c = srv.login(t, f.viewers[mxBroadcaster].user.email, mxPassword)
	// Globex's actors, with sessions of their own.
	if err := f.db.User.UpdateOneID(globex.Admin.ID).AddDivisionIDs(globex.Support).Exec(f.sys); err != nil {
		t.Fatal(err)
	}
	for kind, a := range map[mxActor]struct {
		u    *fixture.User
		spec mxSpec
	}{
		mxGlobexAdmin:  {globex.Admin, mxSpec{org: 1, role: role.BuiltinAdmin, div: globex.Support}},
		mxGlobexScoped: {globex.Scoped, mxSpec{org: 1, role: role.BuiltinSupervisor, div: globex.Support, chat: user.ChatAccessAssignedDivisions}},
	} {
		f.viewers[kind] = &mxViewer{kind: kind, user: &mxUser{id: a.u.ID, email: a.u.Email, org: 1}, spec: a.spec, c: srv.login(t, a.u.Email, mxPassword)}
	}
	f.support = [2]int{support, globex.Support}
	f.viewers[mxAnonymous] = &mxViewer{kind: mxAnonymous, c: srv.client("")}
	f.admins = [2]*client{f.viewers[mxAdmin].c, srv.as(globex.Admin)}

	// The targets.
	for x := range []mxTarget{mxOwn, mxOther, mxForeign} {
		x := mxTarget(x)
		o, div := x.org(), f.divs[x]
		f.users[x] = f.newUser(t, "target", mxSpec{org: o, role: role.BuiltinAgent, div: div})
		f.newSession(t, f.users[x])
		f.invited[x] = f.newUser(t, "invited", mxSpec{org: o, role: role.BuiltinAgent, div: div, status: user.StatusInvited})
		f.logins[x] = f.newUser(t, "login", mxSpec{org: o, role: role.BuiltinAgent, div: div})
		f.mfa[x] = f.newUser(t, "mfa", mxSpec{org: o, role: role.BuiltinAgent, div: div, mfa: true})
		f.totp[x] = f.newUser(t, "totp", mxSpec{org: o, role: role.BuiltinAgent, div: div, totp: true})
		f.channels[x] = f.newChannel(t, x)
		f.roles[x] = f.newRole(t, o)
	}
	f.sentinel = f.newUser(t, "sentinel", mxSpec{role: role.BuiltinAgent, div: support})
	f.sentinels = [2]*mxUser{f.sentinel, f.newUser(t, "sentinel", mxSpec{org: 1, role: role.BuiltinAgent, div: globex.Support})}
	return f
}

func (f *mxFixture) newUser(t *testing.T, label string, s mxSpec) *mxUser {
	t.Helper()
	email := fmt.Sprintf("%s%d@%s.test", label, f.seq.Add(1), mxOrgNames[s.org])
	c := f.db.User.Create().
		SetOrganizationID(f.org[s.org]).
		SetRoleID(f.builtin[s.org][s.role]).
		SetFirstName(label).
		SetLastName("Fixture").
		SetEmail(email).
		SetBroadcast(s.broadcast).
		SetMfaRequired(s.mfa)
	if s.div != 0 {
		c.AddDivisionIDs(s.div)
	}
	if s.chat != "" {
		c.SetChatAccess(s.chat)
	}
	switch s.status {
	case "", user.StatusActive:
		c.SetPassword(mxPassword)
	case user.StatusArchived:
		c.SetStatus(user.StatusArchived).SetArchivedAt(time.Now())
	default:
		c.SetStatus(s.status)
	}
	if s.totp {
		secret, err := otp.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		c.SetTotpSecret(secret).SetTotpEnabled(true)
	}
	u, err := c.Save(f.sys)
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return &mxUser{id: u.ID, email: email, org: s.org}
}

// newSession makes a session of u and returns its ID.
func (f *mxFixture) newSession(t *testing.T, u *mxUser) int {
	t.Helper()
	hash := make([]byte, 32)
	_, _ = rand.Read(hash)
	s, err := f.db.Session.Create().SetOrganizationID(f.org[u.org]).SetUserID(u.id).SetTokenHash(hash).SetExpiresAt(time.Now().Add(time.Hour)).Save(f.sys)
	if err != nil {
		t.Fatal(err)
	}
	u.session = s.ID
	return s.ID
}

func (f *mxFixture) newDivision(t *testing.T, org int, members ...int) int {
	t.Helper()
	d, err := f.db.Division.Create().SetOrganizationID(f.org[org]).SetName(fmt.Sprintf("Division %d", f.seq.Add(1))).AddMemberIDs(members...).Save(f.sys)
	if err != nil {
		t.Fatal(err)
	}
	return d.ID
}

// newChannel makes a channel feeding the target's division.
func (f *mxFixture) newChannel(t *testing.T, x mxTarget) int {
	t.Helper()
	c, err := f.db.Channel.Create().SetOrganizationID(f.org[x.org()]).SetType(channel.TypeLIVECHAT).
		SetName(fmt.Sprintf("Chat %d", f.seq.Add(1))).AddDivisionIDs(f.divs[x]).Save(f.sys)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// newAPIKey makes an API key of the target's organization.
func (f *mxFixture) newAPIKey(t *testing.T, x mxTarget) int {
	t.Helper()
	k, err := f.db.ApiKey.Create().SetOrganizationID(f.org[x.org()]).SetName("Key").SetPrefix("rsk_test").
		SetSecretHash([]byte(fmt.Sprintf("hash %d", f.seq.Add(1)))).Save(f.sys)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

// newConversation makes a conversation of the target's division, assigned
// to the organization's sentinel or queued.
func (f *mxFixture) newConversation(t *testing.T, x mxTarget, assigned bool) int {
	t.Helper()
	c := f.db.Conversation.Create().SetOrganizationID(f.org[x.org()]).SetExternalID(fmt.Sprintf("mx-%d", f.seq.Add(1))).SetDivisionID(f.divs[x])
	if assigned {
		c.SetState(conversation.StateAssigned).SetAssigneeID(f.sentinels[x.org()].id).SetAssignedAt(time.Now())
	}
	conv, err := c.Save(f.sys)
	if err != nil {
		t.Fatal(err)
	}
	return conv.ID
}

// newAgent makes an online, available agent who is a member of the
// target's division.
func (f *mxFixture) newAgent(t *testing.T, x mxTarget) int {
	t.Helper()
	org := x.org()
	u, err := f.db.User.Create().SetOrganizationID(f.org[org]).SetRoleID(f.builtin[org][role.BuiltinAgent]).
		SetFirstName("Online").SetLastName("Agent").SetEmail(fmt.Sprintf("online%d@mx.test", f.seq.Add(1))).
		SetStatus(user.StatusActive).SetOnline(true).SetAvailability(user.AvailabilityOnline).AddDivisionIDs(f.divs[x]).Save(f.sys)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func (f *mxFixture) newRole(t *testing.T, org int) int {
	t.Helper()
	r, err := f.db.Role.Create().SetOrganizationID(f.org[org]).SetName(fmt.Sprintf("Custom %d", f.seq.Add(1))).
		SetPermissions([]viewer.Permission{}).Save(f.sys)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// challenge logs u in and returns the second-factor challenge's ID.
func (f *mxFixture) challenge(t *testing.T, u *mxUser) string {
	t.Helper()
	var got struct {
		Login struct{ Challenge *struct{ ID string } }
	}
	f.srv.client("").do(t, `mutation($i: LoginInput!) { login(input: $i) { challenge { id } } }`,
		vars{"i": vars{"email": u.email, "password": mxPassword}}).decode(t, &got)
	if got.Login.Challenge == nil {
		t.Fatalf("%s logged in without a challenge", u.email)
	}
	return got.Login.Challenge.ID
}

// nextAvailability returns an availability u does not have.
func (f *mxFixture) nextAvailability(u *mxUser) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.availability[u.id]++
	return []string{"ONLINE", "BUSY", "AWAY"}[f.availability[u.id]%3]
}

// runHTTP makes one call of row r as v against x and judges it.
func (f *mxFixture) runHTTP(t *testing.T, r *mxRow, v *mxViewer, x mxTarget) {
	req := r.call(t, f, v, x)
	c := req.as
	if c == nil {
		c = v.c
	}
	var resp *response
	if req.upload != nil {
		resp, _ = c.upload(t, req.query, req.vars, req.upload, true)
	} else {
		resp = c.do(t, req.query, req.vars)
	}
	got := "null"
	if codes := mxCodes(resp); codes != "" {
		got = codes
	} else {
		var data map[string]json.RawMessage
		_ = json.Unmarshal(resp.Data, &data)
		if value := data[r.field]; len(value) > 0 && string(value) != "null" {
			got = string(mxOK)
			if r.seen != nil && !r.seen(f, x, value) {
				got = string(mxFiltered)
			}
		}
	}
	f.judge(t, r, v.kind, x, got, func() string {
		body, _ := json.Marshal(req.vars)
		errs, _ := json.Marshal(resp.Errors)
		return fmt.Sprintf("request: %s variables: %s\nresponse: data %s errors %s", req.query, body, resp.Data, errs)
	})
}

// mxCodes returns the distinct error codes of a response.
func mxCodes(resp *response) string {
	var codes []string
	for _, e := range resp.Errors {
		code := e.Extensions.Code
		if code == "" {
			code = "no code"
		}
		if e.Extensions.Field != "" {
			code += "(" + e.Extensions.Field + ")"
		}
		if !slices.Contains(codes, code) {
			codes = append(codes, code)
		}
	}
	return strings.Join(codes, "+")
}

// judge compares an observed outcome with the row's rule and records it.
func (f *mxFixture) judge(t *testing.T, r *mxRow, a mxActor, x mxTarget, got string, detail func() string) {
	t.Helper()
	want := r.rule(mxRelative(a, x))
	pass := want.matches(got)
	if !pass {
		t.Errorf("%s as %s against %s target: got %s, want %s (rule: %s)\n%s", r.name(), mxActorNames[a], mxTargetNames[x], got, want, r.doc, detail())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.results[r.name()] == nil {
		f.results[r.name()] = map[mxActor]map[mxTarget]mxCell{}
	}
	if f.results[r.name()][a] == nil {
		f.results[r.name()][a] = map[mxTarget]mxCell{}
	}
	f.results[r.name()][a][x] = mxCell{got: got, pass: pass}
}

// runSubscription subscribes as every actor at once, then, for each
// target, changes the target user and then the sentinel, a user every
// actor sees (for the subscriptions to divisions, roles or channels: the
// target object, then a sentinel object of each organization). A subscription hears of its organization's events in the
// order they were published, so when the sentinel's event arrives, the
// target's has arrived before it, or never will: no fixed wait is needed
// to tell a filtered event from a slow one.
func (f *mxFixture) runSubscription(t *testing.T, r *mxRow) {
	type feed struct {
		v    *mxViewer
		msgs <-chan wsMessage
	}
	var feeds []feed
	for _, v := range f.viewers[:mxAnonymous] {
		c := dialWS(t, f.srv.url, v.c.token)
		_ = c.conn.SetReadDeadline(time.Time{})
		c.subscribe("m", r.sub.query)
		feeds = append(feeds, feed{v: v, msgs: mxReader(c.conn)})
	}
	if r.sub.observe != nil {
		byActor := map[mxActor]<-chan wsMessage{}
		for _, fd := range feeds {
			byActor[fd.v.kind] = fd.msgs
		}
		f.judgeSubscription(t, r, r.sub.observe(t, f, byActor))
		return
	}
	// The targets and the sentinels: users, or the objects of the row.
	target := func(x mxTarget) string { return f.users[x].gid() }
	changeTarget := func(x mxTarget) { r.sub.change(t, f, f.users[x]) }
	sentinel := func(org int) string { return f.sentinels[org].gid() }
	changeSentinel := func(org int) int { return r.sub.change(t, f, f.sentinels[org]) }
	if o := r.sub.objects; o != nil {
		ids, sentinels := o.targets(f), [2]int{o.create(t, f, 0), o.create(t, f, 1)}
		target = func(x mxTarget) string { return strconv.Itoa(ids[x]) }
		changeTarget = func(x mxTarget) { o.change(t, f, x.org(), ids[x]) }
		sentinel = func(org int) string { return strconv.Itoa(sentinels[org]) }
		changeSentinel = func(org int) int { return o.change(t, f, org, sentinels[org]) }
	}

	// await reads until the sentinel's event of at least version, and
	// returns the users (or objects) heard of before it.
	await := func(fd feed, version int, timeout time.Duration) (users []string, err error) {
		deadline := time.After(timeout)
		for {
			select {
			case m, ok := <-fd.msgs:
				if !ok {
					return users, fmt.Errorf("the socket closed")
				}
				switch m.Type {
				case "ping", "pong", "ka":
					continue
				case "next":
				default:
					return users, fmt.Errorf("got %s %s", m.Type, m.Payload)
				}
				if code := mxRefusal(m.Payload); code != "" {
					return users, mxRefused(code)
				}
				id, v := r.sub.event(m.Payload)
				if id == sentinel(fd.v.org()) && v >= version {
					return users, nil
				}
				users = append(users, id)
			case <-deadline:
				return users, fmt.Errorf("no event of the sentinel within %v", timeout)
			}
		}
	}

	// changeSentinels changes the sentinel of each organization, and
	// returns their new versions.
	changeSentinels := func() (versions [2]int) {
		for i := range f.sentinels {
			versions[i] = changeSentinel(i)
		}
		return versions
	}

	// The server does not acknowledge a subscription: change the sentinels
	// until every subscription has heard of its own.
	ready := make([]bool, len(feeds))
	refused := map[mxActor]string{} // the code a subscription was refused with
	for deadline := time.Now().Add(30 * time.Second); slices.Contains(ready, false); {
		versions := changeSentinels()
		for i, fd := range feeds {
			if !ready[i] {
				_, err := await(fd, versions[fd.v.org()], 500*time.Millisecond)
				if code, ok := err.(mxRefused); ok {
					refused[fd.v.kind] = string(code)
					err = nil
				}
				ready[i] = err == nil
				if err != nil && time.Now().After(deadline) {
					t.Fatalf("the subscription of %s did not start: %v", mxActorNames[fd.v.kind], err)
				}
			}
		}
	}

	got := map[mxActor][3]string{}
	for _, x := range []mxTarget{mxOwn, mxOther, mxForeign} {
		changeTarget(x)
		versions := changeSentinels()
		for _, fd := range feeds {
			seen := got[fd.v.kind]
			if code, ok := refused[fd.v.kind]; ok {
				seen[x] = code
				got[fd.v.kind] = seen
				continue
			}
			users, err := await(fd, versions[fd.v.org()], 15*time.Second)
			switch {
			case err != nil:
				seen[x] = err.Error()
			case slices.Contains(users, target(x)):
				seen[x] = string(mxOK)
			default:
				seen[x] = string(mxFiltered)
			}
			got[fd.v.kind] = seen
		}
	}
	f.judgeSubscription(t, r, got)
}

// judgeSubscription judges what each actor's subscription heard of each
// target.
func (f *mxFixture) judgeSubscription(t *testing.T, r *mxRow, got map[mxActor][3]string) {
	for _, v := range f.viewers {
		t.Run(mxActorNames[v.kind], func(t *testing.T) {
			for _, x := range r.targetList() {
				t.Run(mxTargetNames[x], func(t *testing.T) {
					detail := func() string {
						if o := r.sub.objects; o != nil {
							return fmt.Sprintf("subscribed with %s, then changed object %d, then the sentinel of each organization", r.sub.query, o.targets(f)[x])
						}
						return fmt.Sprintf("subscribed with %s, then changed user %s (%s), then the sentinel %s", r.sub.query, f.users[x].gid(), f.users[x].email, f.sentinel.gid())
					}
					if v.kind == mxAnonymous {
						obs := mxAnonymousSocket(t, f.srv.url)
						f.judge(t, r, v.kind, x, obs, func() string { return "connection_init without a token: " + obs })
						return
					}
					f.judge(t, r, v.kind, x, got[v.kind][x], detail)
				})
			}
		})
	}
}

// mxRefused is the code a subscription was refused with.
type mxRefused string

func (c mxRefused) Error() string { return string(c) }

// mxRefusal returns the code of the error a subscription's message
// carries, or "" for an event.
func mxRefusal(payload json.RawMessage) string {
	var p struct {
		Errors []struct{ Extensions struct{ Code string } }
	}
	if json.Unmarshal(payload, &p) != nil || len(p.Errors) == 0 {
		return ""
	}
	return p.Errors[0].Extensions.Code
}

// mxReader hands the messages of conn over a channel, closed when the
// connection is.
func mxReader(conn *websocket.Conn) <-chan wsMessage {
	ch := make(chan wsMessage, 256)
	go func() {
		defer close(ch)
		for {
			var m wsMessage
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			ch <- m
		}
	}()
	return ch
}

// mxAnonymousSocket opens a websocket, initialises it without a token and
// tells what the server did: UNAUTHENTICATED when it closed the socket with
// 4403, as it must.
func mxAnonymousSocket(t *testing.T, baseURL string) string {
	c := dialWS(t, baseURL, "")
	c.send(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{}`)})
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m wsMessage
		err := c.conn.ReadJSON(&m)
		var ce *websocket.CloseError
		switch {
		case err == nil && m.Type == "connection_ack":
			// Try to subscribe anyway, for the report.
			c.subscribe("a", `subscription { userStatusChanged { user { id } } }`)
			return "connection_ack"
		case err == nil:
			continue
		case errors.As(err, &ce) && ce.Code == 4403:
			return string(mxUnauth)
		case ce != nil:
			return fmt.Sprintf("closed with %d %q", ce.Code, ce.Text)
		default:
			return "read: " + err.Error()
		}
	}
}

// summary returns the matrix as observed: one line per field, three
// symbols per actor (own division, other division, other organization).
func (f *mxFixture) summary(rows []mxRow) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	symbol := func(c mxCell, ok bool) string {
		if !ok {
			return "  "
		}
		code, _, _ := strings.Cut(c.got, "(")
		s := map[string]string{
			string(mxOK): "+", string(mxFiltered): "-", string(mxUnauth): "U", string(mxForbid): "F", string(mxNotFound): "N",
			"BAD_USER_INPUT": "B",
		}[code]
		if s == "" {
			s = "?"
		}
		if !c.pass {
			return s + "!"
		}
		return s + " "
	}
	var b strings.Builder
	fmt.Fprintf(&b, "permission matrix, per actor: own division, other division, other organization (self: one cell)\n")
	fmt.Fprintf(&b, "+ allowed, - filtered out, F FORBIDDEN, N NOT_FOUND, U UNAUTHENTICATED, B BAD_USER_INPUT, ? other; ! differs from the rule\n")
	width := 0
	for _, r := range rows {
		width = max(width, len(r.name()))
	}
	fmt.Fprintf(&b, "%-*s", width, "field")
	for _, name := range mxActorNames {
		fmt.Fprintf(&b, " %-8.8s", name)
	}
	fmt.Fprintf(&b, " rule\n")
	failures := 0
	for _, r := range rows {
		res := f.results[r.name()]
		if res == nil {
			continue
		}
		fmt.Fprintf(&b, "%-*s", width, r.name())
		for a := range mxActorNames {
			cells := ""
			for _, x := range r.targetList() {
				c, ok := res[mxActor(a)][x]
				cells += symbol(c, ok)
				if ok && !c.pass {
					failures++
				}
			}
			fmt.Fprintf(&b, " %-8s", cells)
		}
		fmt.Fprintf(&b, " %s\n", r.doc)
	}
	fmt.Fprintf(&b, "%d cell(s) differ from the rules", failures)
	return b.String()
}

// slowest names the n rows that took longest, with their times.
func (f *mxFixture) slowest(n int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := slices.Collect(maps.Keys(f.durations))
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(f.durations[b], f.durations[a]) })
	var out []string
	for _, name := range names[:min(n, len(names))] {
		out = append(out, fmt.Sprintf("%s %v", name, f.durations[name].Round(10*time.Millisecond)))
	}
	return strings.Join(out, ", ")
}

// mxAssignedRule: an assignment reaches the assignee (none of the actors
// here) and the holders of ASSIGN_CONVERSATIONS or MANAGE_CONVERSATIONS
// who see the conversation: the scoped supervisor, those of their
// divisions; nobody of another organization.
func mxAssignedRule(a mxActor, x mxTarget) mxOutcome {
	perms := mxPermissions(a)
	switch {
	case a == mxAnonymous:
		return mxUnauth
	case x == mxForeign, a == mxScoped && x == mxOther:
		return mxFiltered
	case slices.Contains(perms, viewer.AssignConversations), slices.Contains(perms, viewer.ManageConversations):
		return mxOK
	}
	return mxFiltered
}

// mxObserveAssigned assigns a conversation of each target's division to a
// fresh online agent of it, as the admin of its organization, and reports
// which actors heard of it. The admin of the conversation's organization
// hears of every one: once they did, the others' events were published;
// a short wait lets them arrive.
func mxObserveAssigned(t *testing.T, f *mxFixture, feeds map[mxActor]<-chan wsMessage) map[mxActor][3]string {
	heard := map[mxActor]map[string]bool{}
	failed := map[mxActor]string{}
	// handle records message m of actor a's feed; false when the feed
	// ended.
	handle := func(a mxActor, m wsMessage, ok bool) bool {
		switch {
		case !ok:
			failed[a] = "the socket closed"
			return false
		case m.Type == "ping" || m.Type == "pong" || m.Type == "ka":
		case m.Type != "next":
			failed[a] = fmt.Sprintf("got %s %s", m.Type, m.Payload)
		default:
			var ev struct {
				Data struct{ ConversationAssigned struct{ ID string } }
			}
			_ = json.Unmarshal(m.Payload, &ev)
			heard[a][ev.Data.ConversationAssigned.ID] = true
		}
		return true
	}
	// drain reads what every feed holds, and what arrives within d.
	drain := func(d time.Duration) {
		deadline := time.Now().Add(d)
		for a, ch := range feeds {
			if heard[a] == nil {
				heard[a] = map[string]bool{}
			}
			for open := failed[a] != "the socket closed"; open; {
				select {
				case m, ok := <-ch:
					open = handle(a, m, ok)
					continue
				default:
				}
				if !time.Now().Before(deadline) {
					break
				}
				select {
				case m, ok := <-ch:
					open = handle(a, m, ok)
				case <-time.After(time.Until(deadline)):
				}
			}
		}
	}
	assign := func(x mxTarget) string {
		id := f.newConversation(t, x, false)
		agent := f.newAgent(t, x)
		// Allocation may have given it to the new agent already: either
		// way it is assigned once.
		f.admins[x.org()].do(t, `mutation($id: ID!, $u: ID!) { assignConversation(id: $id, userID: $u) { id } }`,
			vars{"id": strconv.Itoa(id), "u": strconv.Itoa(agent)})
		return strconv.Itoa(id)
	}
	admins := [2]mxActor{mxAdmin, mxGlobexAdmin}
	// The server does not acknowledge a subscription: assign until both
	// admins hear of it, then give the others' a moment.
	for attempt := 0; ; attempt++ {
		own, foreign := assign(mxOwn), assign(mxForeign)
		drain(time.Second)
		if heard[admins[0]][own] && heard[admins[1]][foreign] {
			break
		}
		if attempt == 20 {
			t.Fatal("the subscriptions did not start")
		}
	}
	drain(500 * time.Millisecond)
	for a := range heard {
		heard[a] = map[string]bool{}
	}
	var ids [3]string
	for _, x := range []mxTarget{mxOwn, mxOther, mxForeign} {
		ids[x] = assign(x)
	}
	for start := time.Now(); !(heard[admins[0]][ids[mxOwn]] && heard[admins[0]][ids[mxOther]] && heard[admins[1]][ids[mxForeign]]); {
		if time.Since(start) > 15*time.Second {
			t.Fatal("the admins did not hear of the assignments")
		}
		drain(200 * time.Millisecond)
	}
	drain(time.Second)
	got := map[mxActor][3]string{}
	for a := range feeds {
		var seen [3]string
		for x, id := range ids {
			switch {
			case failed[a] != "":
				seen[x] = failed[a]
			case heard[a][id]:
				seen[x] = string(mxOK)
			default:
				seen[x] = string(mxFiltered)
			}
		}
		got[a] = seen
	}
	return got
}

// mxObserveSummary makes an active user in each target's division, as the
// admin of its organization, then a sentinel user in each organization's
// Support with a role of its own, which every actor sees; once an actor's
// summary counts the sentinel's role, it counts the target too, or never
// will. An actor heard of the target when its division's count grew by
// more than the sentinel's share.
func mxObserveSummary(t *testing.T, f *mxFixture, feeds map[mxActor]<-chan wsMessage) map[mxActor][3]string {
	type counts struct{ roles, divisions map[string]int }
	parse := func(m wsMessage) (counts, error) {
		if code := mxRefusal(m.Payload); code != "" {
			return counts{}, mxRefused(code)
		}
		var p struct {
			Data struct {
				PresenceSummaryChanged struct {
					ByRole []struct {
						Role  struct{ ID string }
						Total int
					}
					ByDivision []struct {
						Division struct{ ID string }
						Total    int
					}
				}
			}
		}
		if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil {
			return counts{}, fmt.Errorf("got %s %s", m.Type, m.Payload)
		}
		c := counts{roles: map[string]int{}, divisions: map[string]int{}}
		for _, r := range p.Data.PresenceSummaryChanged.ByRole {
			c.roles[r.Role.ID] = r.Total
		}
		for _, d := range p.Data.PresenceSummaryChanged.ByDivision {
			c.divisions[d.Division.ID] = d.Total
		}
		return c, nil
	}
	// await reads a's feed until a summary satisfies done.
	await := func(a mxActor, done func(counts) bool) (counts, error) {
		deadline := time.After(15 * time.Second)
		for {
			select {
			case m, ok := <-feeds[a]:
				if !ok {
					return counts{}, errors.New("the socket closed")
				}
				if m.Type == "ping" || m.Type == "pong" || m.Type == "ka" {
					continue
				}
				c, err := parse(m)
				if err != nil || done(c) {
					return c, err
				}
			case <-deadline:
				return counts{}, errors.New("no summary counting the sentinel within 15 s")
			}
		}
	}
	orgOf := func(a mxActor) int {
		if a == mxGlobexAdmin || a == mxGlobexScoped {
			return 1
		}
		return 0
	}
	createUser := func(org, division, role int) {
		f.admins[org].do(t, `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`, vars{"i": vars{
			"firstName": "Counted", "lastName": "User", "email": fmt.Sprintf("counted%d@%s.test", f.seq.Add(1), mxOrgNames[org]),
			"roleID": strconv.Itoa(role), "divisionIDs": []string{strconv.Itoa(division)}, "password": "a long enough password",
		}}).decode(t, new(any))
	}

	latest := map[mxActor]counts{}
	failed := map[mxActor]string{}
	for a := range feeds {
		c, err := await(a, func(counts) bool { return true })
		if err != nil {
			failed[a] = err.Error()
		}
		latest[a] = c
	}
	got := map[mxActor][3]string{}
	for _, x := range []mxTarget{mxOwn, mxOther, mxForeign} {
		createUser(x.org(), f.divs[x], f.builtin[x.org()][role.BuiltinAgent])
		var sentinelRoles [2]string
		for org := range 2 {
			r := f.newRole(t, org)
			sentinelRoles[org] = strconv.Itoa(r)
			createUser(org, f.support[org], r)
		}
		for a := range feeds {
			seen := got[a]
			if failed[a] != "" {
				seen[x] = failed[a]
				got[a] = seen
				continue
			}
			org := orgOf(a)
			c, err := await(a, func(c counts) bool { return c.roles[sentinelRoles[org]] > 0 })
			div := strconv.Itoa(f.divs[x])
			grew := c.divisions[div] - latest[a].divisions[div]
			if f.divs[x] == f.support[org] {
				grew-- // the sentinel
			}
			switch {
			case err != nil:
				failed[a] = err.Error()
				seen[x] = err.Error()
			case grew > 0:
				seen[x] = string(mxOK)
			default:
				seen[x] = string(mxFiltered)
			}
			latest[a] = c
			got[a] = seen
		}
	}
	return got
}
