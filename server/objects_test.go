package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"roster/internal/fixture"
)

// The subscriptions to divisions, roles and channels, by the id each feed
// subscribes them with.
var objectSubscriptions = map[string]string{
	"d": `subscription { divisionChanged { kind divisionID version at division { id name description version } } }`,
	"r": `subscription { roleChanged { kind roleID version at role { id name description permissions version } } }`,
	"c": `subscription { channelChanged { kind channelID version at channel { id name enabled connectionState settings version } } }`,
}

// objectChange is one event of divisionChanged, roleChanged or
// channelChanged, with what the tests check.
type objectChange struct {
	Kind    string
	ID      string
	Version int
	// Object is the object's fields, null for a deletion.
	Object map[string]any
	// Raw is the message as sent.
	Raw string
}

func (c objectChange) String() string {
	name, _ := c.Object["name"].(string)
	return fmt.Sprintf("%s %s v%d %q", c.Kind, c.ID, c.Version, name)
}

// objectFeed is a socket subscribed to the three subscriptions, its
// events sorted by subscription.
type objectFeed struct {
	name string
	c    *wsClient
	msgs <-chan wsMessage
}

func newObjectFeed(t *testing.T, srv *server, name, token string) *objectFeed {
	t.Helper()
	c := dialWS(t, srv.url, token)
	_ = c.conn.SetReadDeadline(time.Time{})
	for id, q := range objectSubscriptions {
		c.subscribe(id, q)
	}
	return &objectFeed{name: name, c: c, msgs: mxReader(c.conn)}
}

// next returns the next event of the feed and the subscription it is of,
// or false when none comes within d.
func (f *objectFeed) next(t *testing.T, d time.Duration) (string, objectChange, bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-f.msgs:
			if !ok {
				t.Fatalf("%s: the socket closed", f.name)
			}
			switch m.Type {
			case "ping", "pong":
				continue
			case "next":
			default:
				t.Fatalf("%s: got %s %s", f.name, m.Type, m.Payload)
			}
			var p struct {
				Data   map[string]map[string]any
				Errors []any
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 || len(p.Data) != 1 {
				t.Fatalf("%s: got %s", f.name, m.Payload)
			}
			for field, ev := range p.Data {
				key := map[string]string{"divisionChanged": "division", "roleChanged": "role", "channelChanged": "channel"}[field]
				ch := objectChange{Raw: string(m.Payload)}
				ch.Kind, _ = ev["kind"].(string)
				ch.ID, _ = ev[key+"ID"].(string)
				v, _ := ev["version"].(float64)
				ch.Version = int(v)
				ch.Object, _ = ev[key].(map[string]any)
				if ch.Object != nil {
					if ov, _ := ch.Object["version"].(float64); int(ov) != ch.Version || ch.Object["id"] != ch.ID {
						t.Fatalf("%s: event %s shows another state than its own: %s", f.name, ch, m.Payload)
					}
				}
				if at, _ := ev["at"].(string); at == "" {
					t.Fatalf("%s: event without a time: %s", f.name, m.Payload)
				}
				return m.ID, ch, true
			}
		case <-deadline:
			return "", objectChange{}, false
		}
	}
}

// until reads every event up to a fence event (kind UPDATED of the given
// object on each subscription) and returns those before it, by
// subscription.
func (f *objectFeed) until(t *testing.T, fence map[string]string) map[string][]objectChange {
	t.Helper()
	got := map[string][]objectChange{}
	reached := map[string]bool{}
	for len(reached) < len(fence) {
		sub, ev, ok := f.next(t, 15*time.Second)
		if !ok {
			t.Fatalf("%s: no fence event within 15 s; heard %v", f.name, got)
		}
		if ev.ID == fence[sub] && strings.Contains(fmt.Sprint(ev.Object), "fence") {
			reached[sub] = true
			continue
		}
		if reached[sub] {
			t.Fatalf("%s: %s heard %s after its fence", f.name, sub, ev)
		}
		got[sub] = append(got[sub], ev)
	}
	return got
}

// objectOrg is what the test changes in one organization: a division, a
// role and a channel that exist throughout, changed to mark fences.
type objectOrg struct {
	admin *client
	// fence holds, by subscription, the object changed as a fence.
	fence map[string]string
	seq   int
}

func newObjectOrg(t *testing.T, admin *client, org *fixture.Org) *objectOrg {
	t.Helper()
	o := &objectOrg{admin: admin, fence: map[string]string{"d": strconv.Itoa(org.Support)}}
	var r struct{ CreateRole struct{ ID string } }
	admin.do(t, `mutation { createRole(input: {name: "Fence"}) { id } }`, nil).decode(t, &r)
	var c struct{ CreateChannel struct{ ID string } }
	admin.do(t, `mutation { createChannel(input: {type: LIVECHAT, name: "Fence"}) { id } }`, nil).decode(t, &c)
	o.fence["r"], o.fence["c"] = r.CreateRole.ID, c.CreateChannel.ID
	return o
}

// mark changes the fence objects, describing them with word.
func (o *objectOrg) mark(t *testing.T, word string) {
	t.Helper()
	o.seq++
	text := fmt.Sprintf("%s %d", word, o.seq)
	o.admin.do(t, `mutation($d: ID!, $r: ID!, $c: ID!, $t: String!) {
		updateDivision(id: $d, input: {description: $t}) { id }
		updateRole(id: $r, input: {description: $t}) { id }
		updateChannel(id: $c, input: {name: $t}) { id } }`,
		vars{"d": o.fence["d"], "r": o.fence["r"], "c": o.fence["c"], "t": text}).decode(t, new(any))
}

// TestObjectChangeEvents: over the websocket, with two organizations,
// every change of a division, a role or a channel reaches every viewer of
// its organization exactly once, as the kind of change it is, with the
// object as of that change and a version that orders the changes of the
// object (a deletion's newer than any before it); credentials are never
// sent; the other organization hears nothing of it.
func TestObjectChangeEvents(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		orgs := [2]*objectOrg{newObjectOrg(t, srv.as(acme.Admin), acme), newObjectOrg(t, srv.as(globex.Admin), globex)}
		// Every viewer of Acme may read its divisions, roles and channels,
		// the scoped supervisor and the agent included; Globex's admin and
		// scoped supervisor may read only Globex's.
		feeds := [2][]*objectFeed{
			{newObjectFeed(t, srv, "acme admin", acme.Admin.Token), newObjectFeed(t, srv, "acme supervisor", acme.Supervisor.Token),
				newObjectFeed(t, srv, "acme scoped supervisor", acme.Scoped.Token), newObjectFeed(t, srv, "acme agent", acme.Agent.Token)},
			{newObjectFeed(t, srv, "globex admin", globex.Admin.Token), newObjectFeed(t, srv, "globex scoped supervisor", globex.Scoped.Token)},
		}

		// The server does not acknowledge a subscription: mark the fence
		// objects until every subscription has heard of its own, then
		// mark them once more and read up to that mark.
		ready := map[*objectFeed]map[string]bool{}
		for deadline := time.Now().Add(30 * time.Second); ; {
			for _, o := range orgs {
				o.mark(t, "warm-up")
			}
			waiting := 0
			for org, fs := range feeds {
				for _, f := range fs {
					if ready[f] == nil {
						ready[f] = map[string]bool{}
					}
					for len(ready[f]) < len(objectSubscriptions) {
						sub, ev, ok := f.next(t, 500*time.Millisecond)
						if !ok {
							break
						}
						if ev.ID == orgs[org].fence[sub] {
							ready[f][sub] = true
						}
					}
					if len(ready[f]) < len(objectSubscriptions) {
						waiting++
					}
				}
			}
			if waiting == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d subscriptions did not start", waiting)
			}
		}
		fence := func() [2]map[*objectFeed]map[string][]objectChange {
			// Globex's fence first: its events, were they sent to Acme's
			// viewers, would come before Acme's fence.
			orgs[1].mark(t, "fence")
			orgs[0].mark(t, "fence")
			var got [2]map[*objectFeed]map[string][]objectChange
			for org, fs := range feeds {
				got[org] = map[*objectFeed]map[string][]objectChange{}
				for _, f := range fs {
					got[org][f] = f.until(t, orgs[org].fence)
				}
			}
			return got
		}
		_ = fence() // the warm-up's events

		admin, gadmin := orgs[0].admin, orgs[1].admin
		var div struct{ CreateDivision struct{ ID string } }
		admin.do(t, `mutation { createDivision(input: {name: "Sales"}) { id } }`, nil).decode(t, &div)
		d := div.CreateDivision.ID
		admin.do(t, `mutation($d: ID!) { updateDivision(id: $d, input: {name: "Sales EU"}) { id } }`, vars{"d": d}).decode(t, new(any))
		admin.do(t, `mutation($d: ID!, $u: ID!) { addDivisionMembers(id: $d, userIDs: [$u]) { id } }`,
			vars{"d": d, "u": strconv.Itoa(acme.Supervisor.ID)}).decode(t, new(any))
		var rl struct{ CreateRole struct{ ID string } }
		admin.do(t, `mutation { createRole(input: {name: "Auditor", permissions: [VIEW_REPORTS]}) { id } }`, nil).decode(t, &rl)
		r := rl.CreateRole.ID
		admin.do(t, `mutation($r: ID!) { updateRole(id: $r, input: {appendPermissions: [VIEW_AUDIT_LOG]}) { id } }`, vars{"r": r}).decode(t, new(any))
		var ch struct{ CreateChannel struct{ ID string } }
		admin.do(t, `mutation($d: ID!) { createChannel(input: {type: TELEGRAM, name: "Bot", settings: {botUsername: "acme_bot"}, divisionIDs: [$d]}) { id } }`,
			vars{"d": d}).decode(t, &ch)
		c := ch.CreateChannel.ID
		// A change in the other organization, between Acme's.
		var gdiv struct{ CreateDivision struct{ ID string } }
		gadmin.do(t, `mutation { createDivision(input: {name: "Globex Sales"}) { id } }`, nil).decode(t, &gdiv)
		gd := gdiv.CreateDivision.ID
		const secret = "bot-token-never-sent"
		for _, step := range []string{
			`mutation($c: ID!) { setChannelEnabled(id: $c, enabled: false) { id } }`,
			`mutation($c: ID!) { setChannelEnabled(id: $c, enabled: true) { id } }`,
			`mutation($c: ID!) { updateChannel(id: $c, input: {credentials: {botToken: "` + secret + `"}}) { id } }`,
			`mutation($c: ID!) { connectChannel(id: $c) { id } }`,
			`mutation($c: ID!) { disconnectChannel(id: $c) { id } }`,
			`mutation($c: ID!) { deleteChannel(id: $c) }`,
		} {
			admin.do(t, step, vars{"c": c}).decode(t, new(any))
		}
		admin.do(t, `mutation($r: ID!) { deleteRole(id: $r) }`, vars{"r": r}).decode(t, new(any))
		admin.do(t, `mutation($d: ID!) { deleteDivision(id: $d) }`, vars{"d": d}).decode(t, new(any))
		// A change rolled back sends nothing: the second field fails.
		var kept struct{ CreateDivision struct{ ID string } }
		admin.do(t, `mutation { createDivision(input: {name: "Kept"}) { id } }`, nil).decode(t, &kept)
		k := kept.CreateDivision.ID
		admin.do(t, `mutation($k: ID!, $r: ID!) { updateDivision(id: $k, input: {name: "Rolled back"}) { id } deleteRole(id: $r) }`,
			vars{"k": k, "r": r}).wantError(t, "NOT_FOUND", "")

		want := [2]map[string][]string{
			{
				"d": {"CREATED " + d + ` v1 "Sales"`, "UPDATED " + d + ` v2 "Sales EU"`,
					// A member added; the channel linked to it, and
					// unlinked by its deletion.
					"UPDATED " + d + ` v3 "Sales EU"`, "UPDATED " + d + ` v4 "Sales EU"`, "UPDATED " + d + ` v5 "Sales EU"`, "DELETED " + d + ` v6 ""`,
					"CREATED " + k + ` v1 "Kept"`},
				"r": {"CREATED " + r + ` v1 "Auditor"`, "UPDATED " + r + ` v2 "Auditor"`, "DELETED " + r + ` v3 ""`},
				"c": {"CREATED " + c + ` v1 "Bot"`, "DISABLED " + c + ` v2 "Bot"`, "ENABLED " + c + ` v3 "Bot"`, "UPDATED " + c + ` v4 "Bot"`,
					"CONNECTED " + c + ` v5 "Bot"`, "DISCONNECTED " + c + ` v6 "Bot"`, "DELETED " + c + ` v7 ""`},
			},
			{"d": {"CREATED " + gd + ` v1 "Globex Sales"`}},
		}
		got := fence()
		for org := range feeds {
			for _, f := range feeds[org] {
				for sub := range objectSubscriptions {
					var heard []string
					for _, ev := range got[org][f][sub] {
						heard = append(heard, ev.String())
						if strings.Contains(ev.Raw, secret) {
							t.Errorf("%s: an event carries the channel's credentials: %s", f.name, ev.Raw)
						}
					}
					if fmt.Sprint(heard) != fmt.Sprint(want[org][sub]) {
						t.Errorf("%s heard on %s:\n  %q\nwant\n  %q", f.name, sub, heard, want[org][sub])
					}
				}
			}
		}
		// The object each event shows is as of its change.
		for _, ev := range got[0][feeds[0][0]]["r"] {
			perms := fmt.Sprint(ev.Object["permissions"])
			if ev.Kind == "CREATED" && perms != "[VIEW_REPORTS]" || ev.Kind == "UPDATED" && perms != "[VIEW_REPORTS VIEW_AUDIT_LOG]" {
				t.Errorf("role event %s shows permissions %s", ev, perms)
			}
		}
		for _, ev := range got[0][feeds[0][0]]["c"] {
			enabled, connected := ev.Object["enabled"], ev.Object["connectionState"]
			want := map[string][2]any{"CREATED": {true, "DISCONNECTED"}, "DISABLED": {false, "DISCONNECTED"}, "ENABLED": {true, "DISCONNECTED"},
				"UPDATED": {true, "DISCONNECTED"}, "CONNECTED": {true, "CONNECTED"}, "DISCONNECTED": {true, "DISCONNECTED"}, "DELETED": {nil, nil}}[ev.Kind]
			if enabled != want[0] || connected != want[1] {
				t.Errorf("channel event %s shows enabled %v, %v", ev, enabled, connected)
			}
		}

		// Authority stays current on the socket: archiving the agent
		// closes theirs, and its subscriptions end with it.
		agent := feeds[0][3]
		admin.do(t, `mutation($u: ID!) { archiveUser(id: $u) { id } }`, vars{"u": strconv.Itoa(acme.Agent.ID)}).decode(t, new(any))
		for deadline := time.After(10 * time.Second); ; {
			select {
			case m, open := <-agent.msgs:
				if open && m.Type == "next" {
					t.Errorf("the archived agent heard %s", m.Payload)
				}
				if open {
					continue
				}
			case <-deadline:
				t.Fatal("the archived agent's socket stayed open")
			}
			break
		}
	})
}

// TestLargeChannelEvents: a channel whose settings do not fit in one
// broker message as they are (compressed, or read back by the receiver)
// still reaches subscribers as of its change, settings included.
func TestLargeChannelEvents(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme"})
		acme := w.Orgs[0]
		admin := srv.as(acme.Admin)
		feed := newObjectFeed(t, srv, "acme supervisor", acme.Supervisor.Token)
		var fence struct{ CreateChannel struct{ ID string } }
		admin.do(t, `mutation { createChannel(input: {type: LIVECHAT, name: "Fence"}) { id } }`, nil).decode(t, &fence)
		// The server does not acknowledge a subscription: rename until
		// the feed hears of it.
		for deadline, n := time.Now().Add(30*time.Second), 0; ; n++ {
			admin.do(t, `mutation($c: ID!, $n: String!) { updateChannel(id: $c, input: {name: $n}) { id } }`,
				vars{"c": fence.CreateChannel.ID, "n": fmt.Sprintf("Fence %d", n)}).decode(t, new(any))
			if sub, ev, ok := feed.next(t, 500*time.Millisecond); ok && sub == "c" && ev.ID == fence.CreateChannel.ID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the subscription did not start")
			}
		}
		// Settings of 4 × 2,000 characters: hexadecimal ones compress
		// below the limit of a message; random base64 ones do not.
		random := func(encode func([]byte) string) map[string]any {
			out := map[string]any{"address": "support@acme.test"}
			for _, k := range []string{"senderName", "imapHost", "smtpHost", "username"} {
				b := make([]byte, 1500)
				_, _ = rand.Read(b)
				out[k] = encode(b)[:2000]
			}
			return out
		}
		for name, settings := range map[string]map[string]any{
			"compressed": random(hex.EncodeToString),
			"read back":  random(base64.StdEncoding.EncodeToString),
		} {
			var ch struct {
				CreateChannel struct {
					ID      string
					Version int
				}
			}
			admin.do(t, `mutation($s: Map!) { createChannel(input: {type: EMAIL, name: "Mailbox", settings: $s}) { id version } }`,
				vars{"s": settings}).decode(t, &ch)
			for {
				sub, ev, ok := feed.next(t, 15*time.Second)
				if !ok {
					t.Fatalf("%s: no event of the new channel", name)
				}
				if sub != "c" || ev.ID != ch.CreateChannel.ID {
					continue
				}
				var got struct {
					Data struct {
						ChannelChanged struct {
							Channel struct{ Settings map[string]any }
						}
					}
				}
				_ = json.Unmarshal([]byte(ev.Raw), &got)
				if ev.Kind != "CREATED" || ev.Version != ch.CreateChannel.Version || fmt.Sprint(got.Data.ChannelChanged.Channel.Settings) != fmt.Sprint(settings) {
					t.Errorf("%s: got %s with settings %.80v…, want CREATED v%d with the settings sent", name, ev, got.Data.ChannelChanged.Channel.Settings, ch.CreateChannel.Version)
				}
				break
			}
		}
	})
}
