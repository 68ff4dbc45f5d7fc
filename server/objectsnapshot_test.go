package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"roster/internal/fixture"
)

// objectFields are the subscriptions to divisions, roles and channels
// with a snapshot, and the queries that list what they follow, by field.
var objectFields = map[string]struct{ subscription, list string }{
	"divisionChanged": {`subscription { divisionChanged(snapshot: true) { kind divisionID version at division { id name version } } }`,
		`{ divisions(first: 100) { edges { node { id version } } } }`},
	"roleChanged": {`subscription { roleChanged(snapshot: true) { kind roleID version at role { id name version } } }`,
		`{ roles(first: 100) { edges { node { id version } } } }`},
	"channelChanged": {`subscription { channelChanged(snapshot: true) { kind channelID version at channel { id name version } } }`,
		`{ channels(first: 100) { edges { node { id version } } } }`},
}

// objectStream is one subscription of objectFields, over the websocket
// or Server-Sent Events, read event by event.
type objectStream struct {
	t     *testing.T
	name  string
	field string
	next  func() json.RawMessage
}

func openObjectStream(t *testing.T, srv *server, transport, token, field string) *objectStream {
	t.Helper()
	s := &objectStream{t: t, name: transport + " " + field, field: field}
	query := objectFields[field].subscription
	switch transport {
	case "websocket":
		c := dialWS(t, srv.url, token)
		c.subscribe("1", query)
		s.next = func() json.RawMessage {
			for {
				m := c.read()
				switch m.Type {
				case "ping", "pong":
					continue
				case "next":
					return m.Payload
				}
				t.Fatalf("%s: got %s %s", s.name, m.Type, m.Payload)
			}
		}
	case "sse":
		sse := subscribeSSE(t, srv, token, query)
		s.next = func() json.RawMessage {
			ev := sse.next()
			if ev.name != "next" {
				t.Fatalf("%s: got %q %s", s.name, ev.name, ev.data)
			}
			return ev.data
		}
	default:
		t.Fatalf("no transport %q", transport)
	}
	return s
}

// change reads the next event. Every event shows the object as of its own
// version; SNAPSHOT_END shows no object, ID or version.
func (s *objectStream) change() objectChange {
	s.t.Helper()
	raw := s.next()
	var p struct {
		Data   map[string]map[string]any
		Errors []any
	}
	if err := json.Unmarshal(raw, &p); err != nil || len(p.Errors) > 0 || p.Data[s.field] == nil {
		s.t.Fatalf("%s: got %s", s.name, raw)
	}
	ev, key := p.Data[s.field], strings.TrimSuffix(s.field, "Changed")
	ch := objectChange{Raw: string(raw)}
	ch.Kind, _ = ev["kind"].(string)
	ch.ID, _ = ev[key+"ID"].(string)
	v, _ := ev["version"].(float64)
	ch.Version = int(v)
	ch.Object, _ = ev[key].(map[string]any)
	if at, _ := ev["at"].(string); at == "" {
		s.t.Fatalf("%s: an event without a time: %s", s.name, raw)
	}
	switch {
	case ch.Kind == "SNAPSHOT_END":
		if ev[key+"ID"] != nil || ev["version"] != nil || ev[key] != nil {
			s.t.Fatalf("%s: SNAPSHOT_END carries an object's fields: %s", s.name, raw)
		}
	case ch.ID == "" || ch.Version == 0:
		s.t.Fatalf("%s: an event without its object's ID or version: %s", s.name, raw)
	case ch.Object == nil && ch.Kind != "DELETED":
		s.t.Fatalf("%s: a %s event without its object: %s", s.name, ch.Kind, raw)
	case ch.Object != nil:
		if ov, _ := ch.Object["version"].(float64); int(ov) != ch.Version || ch.Object["id"] != ch.ID {
			s.t.Fatalf("%s: event %s shows another state than its own: %s", s.name, ch, raw)
		}
	}
	return ch
}

// snapshot reads the snapshot: the objects of the SNAPSHOT events, with
// their versions, up to SNAPSHOT_END.
func (s *objectStream) snapshot() map[string]int {
	s.t.Helper()
	got := map[string]int{}
	for {
		ch := s.change()
		switch {
		case ch.Kind == "SNAPSHOT_END":
			return got
		case ch.Kind != "SNAPSHOT":
			s.t.Fatalf("%s: before SNAPSHOT_END: %s", s.name, ch.Raw)
		case got[ch.ID] != 0:
			s.t.Fatalf("%s: the snapshot sent %s twice", s.name, ch.ID)
		}
		got[ch.ID] = ch.Version
	}
}

// listObjects returns what the list query of field shows c, with
// versions.
func listObjects(t *testing.T, c *client, field string) map[string]int {
	t.Helper()
	var got map[string]struct {
		Edges []struct {
			Node struct {
				ID      string
				Version int
			}
		}
	}
	c.do(t, objectFields[field].list, nil).decode(t, &got)
	out := map[string]int{}
	for _, conn := range got {
		for _, e := range conn.Edges {
			out[e.Node.ID] = e.Node.Version
		}
	}
	return out
}

// TestObjectSnapshots: divisionChanged, roleChanged and channelChanged
// with snapshot: true send, over the websocket and over SSE, every object
// the viewer's queries show them (scoped supervisors and agents included;
// never another organization's), each with its version, then one
// SNAPSHOT_END (also when there is none: Globex has no channel), then the
// changes.
func TestObjectSnapshots(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		admin, gadmin := srv.as(acme.Admin), srv.as(globex.Admin)
		admin.createDivision(t, "Sales")
		var roles [2]struct{ CreateRole struct{ ID string } }
		admin.do(t, `mutation { createRole(input: {name: "Auditor", permissions: [VIEW_REPORTS]}) { id } }`, nil).decode(t, &roles[0])
		admin.do(t, `mutation { createChannel(input: {type: LIVECHAT, name: "Chat"}) { id } }`, nil).decode(t, new(any))
		admin.do(t, `mutation { createChannel(input: {type: LIVECHAT, name: "Help"}) { id } }`, nil).decode(t, new(any))
		gadmin.createDivision(t, "Globex Sales")
		gadmin.do(t, `mutation { createRole(input: {name: "Auditor"}) { id } }`, nil).decode(t, &roles[1])

		viewers := []struct {
			name string
			org  int
			u    *fixture.User
		}{
			{"acme admin", 0, acme.Admin}, {"acme scoped supervisor", 0, acme.Scoped}, {"acme agent", 0, acme.Agent},
			{"globex admin", 1, globex.Admin}, {"globex scoped supervisor", 1, globex.Scoped},
		}
		type opened struct {
			viewer string
			org    int
			s      *objectStream
			held   map[string]int
		}
		var streams []opened
		for _, transport := range []string{"websocket", "sse"} {
			for _, v := range viewers {
				for field := range objectFields {
					s := openObjectStream(t, srv, transport, v.u.Token, field)
					got := s.snapshot()
					want := listObjects(t, srv.as(v.u), field)
					if !maps.Equal(got, want) {
						t.Errorf("%s, %s: the snapshot sent %v, the query shows %v", v.name, s.name, got, want)
					}
					if field == "channelChanged" && v.org == 1 && len(got) != 0 {
						t.Errorf("%s, %s: Globex has no channel, the snapshot sent %v", v.name, s.name, got)
					}
					streams = append(streams, opened{v.name, v.org, s, got})
				}
			}
		}
		// Every organization's objects, for none of the other's to show.
		for field := range objectFields {
			a, g := listObjects(t, admin, field), listObjects(t, gadmin, field)
			for id := range a {
				if _, ok := g[id]; ok {
					t.Errorf("%s: object %s is listed in both organizations", field, id)
				}
			}
		}

		// The changes after the end: one of each type in each
		// organization (Globex's first channel is created).
		var ac, gc struct {
			UpdateDivision struct{ ID string }
			UpdateRole     struct{ ID string }
			Channel        struct{ ID string }
		}
		admin.do(t, `mutation($d: ID!, $r: ID!) {
			updateDivision(id: $d, input: {description: "after"}) { id }
			updateRole(id: $r, input: {description: "after"}) { id }
			channel: createChannel(input: {type: LIVECHAT, name: "After"}) { id } }`,
			vars{"d": fmt.Sprint(acme.Support), "r": roles[0].CreateRole.ID}).decode(t, &ac)
		gadmin.do(t, `mutation($d: ID!, $r: ID!) {
			updateDivision(id: $d, input: {description: "after"}) { id }
			updateRole(id: $r, input: {description: "after"}) { id }
			channel: createChannel(input: {type: LIVECHAT, name: "After"}) { id } }`,
			vars{"d": fmt.Sprint(globex.Support), "r": roles[1].CreateRole.ID}).decode(t, &gc)
		changed := [2]map[string]string{
			{"divisionChanged": ac.UpdateDivision.ID, "roleChanged": ac.UpdateRole.ID, "channelChanged": ac.Channel.ID},
			{"divisionChanged": gc.UpdateDivision.ID, "roleChanged": gc.UpdateRole.ID, "channelChanged": gc.Channel.ID},
		}
		for _, o := range streams {
			ch := o.s.change()
			want := changed[o.org][o.s.field]
			if ch.ID != want || ch.Kind == "SNAPSHOT" || ch.Kind == "SNAPSHOT_END" || ch.Version <= o.held[ch.ID] {
				t.Errorf("%s, %s: after the snapshot got %s, want the change of %s", o.viewer, o.s.name, ch, want)
			}
		}
	})
}

// TestObjectSnapshotRace: a client that subscribes with snapshot: true
// while changes commit (an update, a creation and a deletion of each
// subscription's objects, in one transaction) and applies "newer version
// wins" ends in the true state, every time: no change is lost between the
// snapshot and the stream, and none comes twice or out of order (every
// event it gets of an object is newer than the last).
func TestObjectSnapshotRace(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme"})
		acme := w.Orgs[0]
		admin := srv.as(acme.Admin)
		var made struct {
			Role    struct{ ID string }
			Channel struct{ ID string }
		}
		admin.do(t, `mutation {
			role: createRole(input: {name: "Race"}) { id }
			channel: createChannel(input: {type: LIVECHAT, name: "Race"}) { id } }`, nil).decode(t, &made)
		// The objects the previous round created, which the next deletes.
		old := map[string]string{"divisionChanged": admin.createDivision(t, "Race 0")}
		var r struct{ CreateRole, CreateChannel struct{ ID string } }
		admin.do(t, `mutation { createRole(input: {name: "Race 0"}) { id } createChannel(input: {type: LIVECHAT, name: "Race 0"}) { id } }`, nil).decode(t, &r)
		old["roleChanged"], old["channelChanged"] = r.CreateRole.ID, r.CreateChannel.ID

		for round := 1; round <= 6; round++ {
			transport := []string{"websocket", "sse"}[round%2]
			type answer struct {
				updated, created map[string]string
			}
			answered := make(chan answer, 1)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				var got struct {
					UD, UR, UC struct{ ID string }
					CD, CR, CC struct{ ID string }
				}
				admin.do(t, `mutation($d: ID!, $r: ID!, $c: ID!, $od: ID!, $or: ID!, $oc: ID!, $n: String!) {
					ud: updateDivision(id: $d, input: {description: $n}) { id }
					ur: updateRole(id: $r, input: {description: $n}) { id }
					uc: updateChannel(id: $c, input: {name: $n}) { id }
					cd: createDivision(input: {name: $n}) { id }
					cr: createRole(input: {name: $n}) { id }
					cc: createChannel(input: {type: LIVECHAT, name: $n}) { id }
					deleteDivision(id: $od) deleteRole(id: $or) deleteChannel(id: $oc) }`,
					vars{"d": fmt.Sprint(acme.Support), "r": made.Role.ID, "c": made.Channel.ID,
						"od": old["divisionChanged"], "or": old["roleChanged"], "oc": old["channelChanged"], "n": fmt.Sprintf("Race %d", round)}).decode(t, &got)
				answered <- answer{
					updated: map[string]string{"divisionChanged": got.UD.ID, "roleChanged": got.UR.ID, "channelChanged": got.UC.ID},
					created: map[string]string{"divisionChanged": got.CD.ID, "roleChanged": got.CR.ID, "channelChanged": got.CC.ID},
				}
			}()
			var streams []*objectStream
			for field := range objectFields {
				streams = append(streams, openObjectStream(t, srv, transport, acme.Admin.Token, field))
			}
			wg.Wait()
			a := <-answered
			for _, s := range streams {
				truth := listObjects(t, admin, s.field)
				// Newer version wins; a deleted object stays deleted.
				held, deleted, ended := map[string]int{}, map[string]bool{}, false
				last := map[string]int{}
				for !ended || !maps.Equal(held, truth) {
					ch := s.change()
					if ch.Kind == "SNAPSHOT_END" {
						if ended {
							t.Fatalf("round %d, %s: a second SNAPSHOT_END", round, s.name)
						}
						ended = true
						// The snapshot is the state: what it did not
						// send is gone.
						continue
					}
					if (ch.Kind == "SNAPSHOT") == ended {
						t.Fatalf("round %d, %s: %s (the snapshot ended: %v)", round, s.name, ch, ended)
					}
					if ch.Version <= last[ch.ID] {
						t.Fatalf("round %d, %s: %s after v%d of it: a change sent twice or out of order", round, s.name, ch, last[ch.ID])
					}
					last[ch.ID] = ch.Version
					if ch.Kind == "DELETED" {
						deleted[ch.ID] = true
						delete(held, ch.ID)
					} else if !deleted[ch.ID] {
						held[ch.ID] = ch.Version
					}
				}
				if _, ok := held[a.created[s.field]]; !ok {
					t.Errorf("round %d, %s: the object created holds %v", round, s.name, held)
				}
				if _, ok := held[old[s.field]]; ok {
					t.Errorf("round %d, %s: the object deleted is still held", round, s.name)
				}
				if held[a.updated[s.field]] != truth[a.updated[s.field]] {
					t.Errorf("round %d, %s: holds v%d of the object updated, the truth is v%d", round, s.name, held[a.updated[s.field]], truth[a.updated[s.field]])
				}
			}
			old = a.created
		}
	})
}
