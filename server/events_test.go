package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"roster/internal/fixture"
)

const changeSubscription = `subscription($d: ID) { userChanged(divisionID: $d, snapshot: true) {
	kind userID displayName divisionIDs version user { id version displayName } } }`

type changeEvent struct {
	Kind        string
	UserID      string
	DisplayName string
	DivisionIDs []string
	Version     int
	User        *struct {
		ID          string
		Version     int
		DisplayName string
	}
}

// subscribeChanges subscribes c to userChanged (on division d unless "")
// with a snapshot, and waits for the snapshot's first event: the
// subscription is live.
func subscribeChanges(t *testing.T, c *wsClient, d string) {
	t.Helper()
	v := map[string]any{}
	if d != "" {
		v["d"] = d
	}
	payload, _ := json.Marshal(map[string]any{"query": changeSubscription, "variables": v})
	c.send(wsMessage{ID: "1", Type: "subscribe", Payload: payload})
	if ev := c.change(true); ev.Kind != "SNAPSHOT" {
		t.Fatalf("first event %+v, want the snapshot", ev)
	}
}

// change reads the next userChanged event, skipping the snapshot's (and
// its end) unless snapshot is set.
func (c *wsClient) change(snapshot bool) changeEvent {
	c.t.Helper()
	for {
		m := c.read()
		var p struct {
			Data   struct{ UserChanged changeEvent }
			Errors []any
		}
		if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil || len(p.Errors) > 0 {
			c.t.Fatalf("want a next message, got %s %s", m.Type, m.Payload)
		}
		if ev := p.Data.UserChanged; snapshot || ev.Kind != "SNAPSHOT" && ev.Kind != "SNAPSHOT_END" {
			if ev.User != nil && (ev.User.Version != ev.Version || ev.User.ID != ev.UserID || ev.User.DisplayName != ev.DisplayName) {
				c.t.Fatalf("event %+v shows another state than its own", ev)
			}
			return ev
		}
	}
}

// TestMembershipAndDeletionEvents: division membership changes, through
// the division mutations and updateUser, reach every subscriber who sees
// the user with a newer version, and tell division-filtered and scoped
// subscribers that the user left; a deletion reaches them with a newer
// version still; another organization hears nothing.
func TestMembershipAndDeletionEvents(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		admin := srv.as(acme.Admin)
		d := admin.createDivision(t, "Sales")
		// A member, for the filtered snapshot to show.
		admin.do(t, `mutation($d: ID!, $u: ID!) { addDivisionMembers(id: $d, userIDs: [$u]) { id } }`,
			vars{"d": d, "u": strconv.Itoa(acme.Supervisor.ID)}).decode(t, new(any))
		agent := strconv.Itoa(acme.Agent.ID)
		support := strconv.Itoa(acme.Support)

		all, inSales, scoped, foreign := dialWS(t, srv.url, acme.Admin.Token), dialWS(t, srv.url, acme.Admin.Token),
			dialWS(t, srv.url, acme.Scoped.Token), dialWS(t, srv.url, globex.Admin.Token)
		subscribeChanges(t, all, "")
		subscribeChanges(t, inSales, d)
		subscribeChanges(t, scoped, "")
		subscribeChanges(t, foreign, "")

		version, latest := acme.Agent.Version, 0
		expect := func(c *wsClient, who, kind string, divisions ...string) {
			t.Helper()
			ev := c.change(false)
			slices.Sort(divisions)
			slices.Sort(ev.DivisionIDs)
			if ev.Kind != kind || ev.UserID != agent || !slices.Equal(ev.DivisionIDs, divisions) || ev.Version <= version ||
				ev.DisplayName != acme.Agent.DisplayName || (ev.User == nil) != (kind == "REMOVED" || kind == "DELETED") {
				t.Fatalf("%s got %+v, want %s of %s in %v, newer than version %d", who, ev, kind, agent, divisions, version)
			}
			if latest != 0 && ev.Version != latest {
				t.Fatalf("%s got version %d of the change others got as %d", who, ev.Version, latest)
			}
			latest = ev.Version
		}
		step := func(name, query string, v vars) {
			t.Helper()
			admin.do(t, query, v).decode(t, new(any))
			if latest != 0 {
				version, latest = latest, 0
			}
		}

		step("add to Sales", `mutation($d: ID!, $u: ID!) { addDivisionMembers(id: $d, userIDs: [$u]) { id } }`, vars{"d": d, "u": agent})
		expect(all, "admin", "UPDATED", support, d)
		expect(inSales, "Sales", "UPDATED", support, d)
		expect(scoped, "scoped", "UPDATED", support, d)

		step("remove from Sales", `mutation($d: ID!, $u: ID!) { removeDivisionMembers(id: $d, userIDs: [$u]) { id } }`, vars{"d": d, "u": agent})
		expect(all, "admin", "UPDATED", support)
		expect(inSales, "Sales", "REMOVED", support)
		expect(scoped, "scoped", "UPDATED", support)

		step("move to Sales", `mutation($u: ID!, $d: ID!) { updateUser(id: $u, input: {divisionIDs: [$d]}) { id } }`, vars{"d": d, "u": agent})
		expect(all, "admin", "UPDATED", d)
		expect(inSales, "Sales", "UPDATED", d)
		expect(scoped, "scoped", "REMOVED", d) // left the scoped supervisor's only division

		step("delete", `mutation($u: ID!) { deleteUser(id: $u) }`, vars{"u": agent})
		expect(all, "admin", "DELETED", d)
		expect(inSales, "Sales", "DELETED", d)

		// The scoped supervisor and the other organization hear nothing
		// more: their next event is a change of a user they see.
		srv.as(globex.Admin).do(t, `mutation($u: ID!) { updateUser(id: $u, input: {lastName: "Sentinel"}) { id } }`,
			vars{"u": strconv.Itoa(globex.Agent.ID)}).decode(t, new(any))
		admin.do(t, `mutation($u: ID!) { updateUser(id: $u, input: {lastName: "Sentinel"}) { id } }`,
			vars{"u": strconv.Itoa(acme.Supervisor.ID)}).decode(t, new(any))
		if ev := foreign.change(false); ev.UserID != strconv.Itoa(globex.Agent.ID) {
			t.Errorf("the other organization heard %+v", ev)
		}
		if ev := scoped.change(false); ev.UserID != strconv.Itoa(acme.Supervisor.ID) {
			t.Errorf("the scoped supervisor heard %+v", ev)
		}
	})
}

const snapshotStatus = `subscription { userStatusChanged(snapshot: true) { user { id version availability } availability online devices version } }`

type statusEvent struct {
	User struct {
		ID           string
		Version      int
		Availability string
	}
	Availability string
	Online       bool
	Devices      int
	Version      int
}

func (c *wsClient) statusEvent() statusEvent {
	c.t.Helper()
	m := c.read()
	var p struct {
		Data   struct{ UserStatusChanged statusEvent }
		Errors []any
	}
	if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil || len(p.Errors) > 0 {
		c.t.Fatalf("want a next message, got %s %s", m.Type, m.Payload)
	}
	ev := p.Data.UserStatusChanged
	if ev.User.Version != ev.Version || ev.User.Availability != ev.Availability {
		c.t.Fatalf("event %+v shows another state than its own", ev)
	}
	return ev
}

// TestSnapshotThenStream: a dashboard that subscribes with snapshot and
// applies "newer version wins" ends in the state of a change committed
// right after it subscribed, every time.
func TestSnapshotThenStream(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, nil)
		acme := w.Orgs[0]
		agent := strconv.Itoa(acme.Agent.ID)
		availabilities := []string{"BUSY", "AWAY", "ONLINE"}
		for i := range 20 {
			want := availabilities[i%len(availabilities)]
			dash := dialWS(t, srv.url, acme.Admin.Token)
			payload, _ := json.Marshal(map[string]any{"query": snapshotStatus})
			dash.send(wsMessage{ID: "1", Type: "subscribe", Payload: payload})
			srv.as(acme.Agent).do(t, `mutation($a: Availability!) { setMyAvailability(availability: $a) { id } }`, vars{"a": want}).decode(t, new(any))
			held := map[string]statusEvent{}
			for held[agent].Availability != want {
				ev := dash.statusEvent()
				if ev.Version > held[ev.User.ID].Version {
					held[ev.User.ID] = ev
				}
			}
			dash.conn.Close()
		}
	})
}

// TestConcurrentWritersNewerWins: two instances on PostgreSQL change one
// user's availability concurrently; a dashboard on one of them applying
// "newer version wins" ends in the true state, every event showing the
// state of its own version.
func TestConcurrentWritersNewerWins(t *testing.T) {
	t.Parallel()
	dbURL := fixture.PostgresURL(t)
	srv, w := startWorld(t, dbURL, nil)
	other := startServer(t, dbURL)
	acme := w.Orgs[0]
	agent := strconv.Itoa(acme.Agent.ID)
	dash := dialWS(t, srv.url, acme.Admin.Token)
	payload, _ := json.Marshal(map[string]any{"query": snapshotStatus})
	dash.send(wsMessage{ID: "1", Type: "subscribe", Payload: payload})
	held := map[string]statusEvent{}
	for held[agent].Version == 0 { // the snapshot reached the agent
		ev := dash.statusEvent()
		held[ev.User.ID] = ev
	}

	const writes = 40
	var wg sync.WaitGroup
	for i, s := range []*server{srv, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range writes {
				a := []string{"BUSY", "AWAY", "ONLINE", "OFFLINE"}[(i+j)%4]
				s.as(acme.Admin).do(t, `mutation($u: ID!, $a: Availability!) { setUserAvailability(id: $u, availability: $a) { id } }`,
					vars{"u": agent, "a": a}).decode(t, new(any))
			}
		}()
	}
	wg.Wait()
	var truth struct {
		Node struct {
			Availability string
			Version      int
		}
	}
	srv.as(acme.Admin).do(t, fmt.Sprintf(`{ node(id: "%s") { ... on User { availability version } } }`, agent), nil).decode(t, &truth)
	for held[agent].Version < truth.Node.Version {
		ev := dash.statusEvent()
		if ev.Version > held[ev.User.ID].Version {
			held[ev.User.ID] = ev
		}
	}
	if got := held[agent]; got.Version != truth.Node.Version || got.Availability != truth.Node.Availability {
		t.Errorf("the dashboard holds %+v, the truth is %+v", got, truth.Node)
	}
}

// TestSnapshotEnd: a subscription asking for a snapshot gets every user it
// follows, then one SNAPSHOT_END event with no user (also when it follows
// nobody), then the changes; on userChanged and userStatusChanged, over
// the websocket, with a second organization whose users never appear.
func TestSnapshotEnd(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		admin := srv.as(acme.Admin)
		empty := admin.createDivision(t, "Nobody")
		ids := func(us ...*fixture.User) []string {
			var out []string
			for _, u := range us {
				out = append(out, strconv.Itoa(u.ID))
			}
			slices.Sort(out)
			return out
		}
		everyone := ids(acme.Admin, acme.Supervisor, acme.Scoped, acme.Agent)
		// The scoped supervisor shares Support with the supervisor and
		// the agent; the admin is in no division.
		scopedSees := ids(acme.Scoped, acme.Supervisor, acme.Agent)

		type marker struct {
			Kind        string
			UserID      *string
			DisplayName *string
			DivisionIDs []string
			Version     *int
			User        *struct{ ID string }
			// userStatusChanged's
			Availability *string
			Online       *bool
			Devices      *int
			At           string
		}
		// snapshot subscribes with query and variables, and returns the
		// users of the SNAPSHOT events and the SNAPSHOT_END event that
		// follows them.
		snapshot := func(t *testing.T, c *wsClient, field, query string, v vars) ([]string, marker) {
			t.Helper()
			payload, _ := json.Marshal(map[string]any{"query": query, "variables": v})
			c.send(wsMessage{ID: field, Type: "subscribe", Payload: payload})
			var users []string
			for {
				m := c.read()
				var p struct {
					Data   map[string]marker
					Errors []any
				}
				if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil || len(p.Errors) > 0 {
					t.Fatalf("want a next message, got %s %s", m.Type, m.Payload)
				}
				ev := p.Data[field]
				switch ev.Kind {
				case "SNAPSHOT":
					if ev.User == nil {
						t.Fatalf("a SNAPSHOT event without its user: %s", m.Payload)
					}
					users = append(users, ev.User.ID)
				case "SNAPSHOT_END":
					slices.Sort(users)
					if ev.User != nil || ev.UserID != nil || ev.DisplayName != nil || ev.Version != nil || ev.Availability != nil ||
						ev.Online != nil || ev.Devices != nil || len(ev.DivisionIDs) != 0 || ev.At == "" {
						t.Fatalf("SNAPSHOT_END carries a user's fields: %s", m.Payload)
					}
					return users, ev
				default:
					t.Fatalf("before SNAPSHOT_END: %s", m.Payload)
				}
			}
		}
		const (
			changes = `subscription($d: ID) { userChanged(divisionID: $d, snapshot: true) {
				kind userID displayName divisionIDs version at user { id } } }`
			statuses = `subscription($d: ID) { userStatusChanged(divisionID: $d, snapshot: true) {
				kind availability online devices version at user { id } } }`
		)
		for _, tc := range []struct {
			name  string
			as    *fixture.User
			d     string
			users []string
		}{
			{"the organization", acme.Admin, "", everyone},
			{"a scoped supervisor", acme.Scoped, "", scopedSees},
			{"an empty division", acme.Admin, empty, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, sub := range []struct{ field, query string }{{"userChanged", changes}, {"userStatusChanged", statuses}} {
					c := dialWS(t, srv.url, tc.as.Token)
					v := vars{}
					if tc.d != "" {
						v["d"] = tc.d
					}
					users, _ := snapshot(t, c, sub.field, sub.query, v)
					if !slices.Equal(users, tc.users) {
						t.Errorf("%s: the snapshot sent %v, want %v", sub.field, users, tc.users)
					}
					if tc.d != "" {
						// A member joins: the change comes after the end.
						admin.do(t, `mutation($d: ID!, $u: ID!) { addDivisionMembers(id: $d, userIDs: [$u]) { id } }`,
							vars{"d": tc.d, "u": strconv.Itoa(acme.Agent.ID)}).decode(t, new(any))
						admin.do(t, `mutation($u: ID!) { setUserAvailability(id: $u, availability: BUSY) { id } }`,
							vars{"u": strconv.Itoa(acme.Agent.ID)}).decode(t, new(any))
						m := c.read()
						var p struct{ Data map[string]marker }
						if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil || p.Data[sub.field].User == nil ||
							p.Data[sub.field].User.ID != strconv.Itoa(acme.Agent.ID) || p.Data[sub.field].Kind == "SNAPSHOT_END" {
							t.Errorf("%s: after SNAPSHOT_END got %s %s, want the agent's change", sub.field, m.Type, m.Payload)
						}
						admin.do(t, `mutation($d: ID!, $u: ID!) { removeDivisionMembers(id: $d, userIDs: [$u]) { id } }`,
							vars{"d": tc.d, "u": strconv.Itoa(acme.Agent.ID)}).decode(t, new(any))
					}
					c.conn.Close()
				}
			})
		}
		t.Run("another organization's snapshot", func(t *testing.T) {
			c := dialWS(t, srv.url, globex.Admin.Token)
			users, _ := snapshot(t, c, "userChanged", changes, vars{})
			if want := ids(globex.Admin, globex.Supervisor, globex.Scoped, globex.Agent); !slices.Equal(users, want) {
				t.Errorf("Globex's snapshot sent %v, want %v", users, want)
			}
		})
	})
}

// TestScopedSubscriberFollowsOwnDivisions: a subscriber who sees only the
// users of their own divisions starts hearing a user once they join a
// division of that user's, and stops once they leave it, through either
// mutation, whether their subscription follows the whole organization or
// one division (one the subscriber is not in, so that only their own
// events tell them their divisions changed); the other organization's
// users are never heard.
func TestScopedSubscriberFollowsOwnDivisions(t *testing.T) {
	t.Parallel()
	for _, filtered := range []bool{false, true} {
		t.Run(fmt.Sprintf("filtered=%v", filtered), func(t *testing.T) {
			t.Parallel()
			fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
				testScopedSubscriber(t, dbURL, filtered)
			})
		})
	}
}

func testScopedSubscriber(t *testing.T, dbURL string, filtered bool) {
	srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
	acme, globex := w.Orgs[0], w.Orgs[1]
	admin := srv.as(acme.Admin)
	sales, shared := admin.createDivision(t, "Sales"), admin.createDivision(t, "Shared")
	salesID, _ := strconv.Atoi(sales)
	sharedID, _ := strconv.Atoi(shared)
	// The seller shares no division with the subscriber until they join
	// Shared; the sentinel shares Support with them all along. Both are
	// in Sales, the division a filtered subscription follows.
	seller := acme.NewUser(t, fixture.Spec{Name: "seller", Divisions: []int{salesID, sharedID}})
	sentinel := acme.NewUser(t, fixture.Spec{Name: "sentinel", Divisions: []int{salesID, acme.Support}})
	scopedID, sellerID, sentinelID := strconv.Itoa(acme.Scoped.ID), strconv.Itoa(seller.ID), strconv.Itoa(sentinel.ID)

	sock := dialWS(t, srv.url, acme.Scoped.Token)
	// With a snapshot, whose end tells that the subscription follows the
	// changes to come.
	if filtered {
		sock.subscribe("s", `subscription { userStatusChanged(divisionID: "`+sales+`", snapshot: true) { kind user { id } availability version } }`)
	} else {
		sock.subscribe("s", `subscription { userStatusChanged(snapshot: true) { kind user { id } availability version } }`)
	}
	for {
		m := sock.read()
		var p struct {
			Data struct{ UserStatusChanged struct{ Kind string } }
		}
		if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil {
			t.Fatalf("want the snapshot, got %s %s", m.Type, m.Payload)
		}
		if p.Data.UserStatusChanged.Kind == "SNAPSHOT_END" {
			break
		}
	}
	// next returns the next status event of another user than the
	// subscriber (whose own socket turns them online meanwhile).
	next := func() string {
		t.Helper()
		for {
			m := sock.read()
			var p struct {
				Data struct {
					UserStatusChanged struct{ User struct{ ID string } }
				}
			}
			if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil {
				t.Fatalf("want a next message, got %s %s", m.Type, m.Payload)
			}
			if id := p.Data.UserStatusChanged.User.ID; id != scopedID {
				return id
			}
		}
	}
	// Three values: a round's is never the one told two rounds before
	// (a subscriber is not told a status it already holds).
	availability := []string{"BUSY", "AWAY", "ONLINE"}
	change := func(u *fixture.User, i int) {
		t.Helper()
		srv.as(u).do(t, `mutation($a: Availability!) { setMyAvailability(availability: $a) { id } }`,
			vars{"a": availability[i%3]}).decode(t, new(any))
	}
	// heard reports whether the seller's change reached the subscriber:
	// the sentinel changes after it, so its event comes next when the
	// seller's does not.
	round := 0
	heard := func() bool {
		t.Helper()
		round++
		change(globex.Agent, round)
		change(seller, round)
		change(sentinel, round)
		switch id := next(); id {
		case sentinelID:
			return false
		case sellerID:
			if id := next(); id != sentinelID {
				t.Fatalf("after the seller, heard %s", id)
			}
			return true
		default:
			t.Fatalf("heard user %s", id)
			return false
		}
	}

	if heard() {
		t.Fatal("heard a user who shares no division with the subscriber")
	}
	admin.do(t, `mutation($d: ID!, $u: ID!) { addDivisionMembers(id: $d, userIDs: [$u]) { id } }`,
		vars{"d": shared, "u": scopedID}).decode(t, new(any))
	if !heard() {
		t.Fatal("did not hear a user of the division the subscriber joined")
	}
	admin.do(t, `mutation($u: ID!, $d: ID!) { updateUser(id: $u, input: {divisionIDs: [$d]}) { id } }`,
		vars{"u": scopedID, "d": strconv.Itoa(acme.Support)}).decode(t, new(any))
	if heard() {
		t.Fatal("heard a user of the division the subscriber left")
	}
	admin.do(t, `mutation($u: ID!, $d: ID!, $s: ID!) { updateUser(id: $u, input: {divisionIDs: [$d, $s]}) { id } }`,
		vars{"u": scopedID, "d": strconv.Itoa(acme.Support), "s": shared}).decode(t, new(any))
	if !heard() {
		t.Fatal("did not hear a user of the division the subscriber joined again")
	}
}
