package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"roster/internal/fixture"
)

const auditQuery = `query($w: AuditEventFilter) {
  auditEvents(first: 10, where: $w) {
    edges { node { id action targetType targetID targetLabel actorType actorID actorLabel changes requestID userAgent clientAddress } }
  }
}`

type auditNode struct {
	ID, Action, TargetType, TargetID, TargetLabel, ActorType, ActorID, ActorLabel string
	Changes                                                                       map[string]map[string]any
	RequestID, UserAgent, ClientAddress                                           string
}

func auditEvents(t *testing.T, c *client, where vars) []auditNode {
	t.Helper()
	var got struct {
		AuditEvents struct{ Edges []struct{ Node auditNode } }
	}
	c.do(t, auditQuery, vars{"w": where}).decode(t, &got)
	var out []auditNode
	for _, e := range got.AuditEvents.Edges {
		out = append(out, e.Node)
	}
	return out
}

// auditEvent reads the next auditEventAdded event of a socket.
func (c *wsClient) auditEvent() auditNode {
	c.t.Helper()
	m := c.read()
	var p struct {
		Data   struct{ AuditEventAdded auditNode }
		Errors []any
	}
	if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil || len(p.Errors) > 0 {
		c.t.Fatalf("want a next message, got %s %s", m.Type, m.Payload)
	}
	return p.Data.AuditEventAdded
}

// TestAuditLog: a change made over HTTP is one entry, read back over HTTP
// and delivered live over the websocket, to its organization's viewers
// with VIEW_AUDIT_LOG only.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		s, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		sub := `subscription { auditEventAdded { id action targetType targetID actorID changes } }`
		acmeWS, globexWS, agentWS := dialWS(t, s.url, acme.Admin.Token), dialWS(t, s.url, globex.Admin.Token), dialWS(t, s.url, acme.Agent.Token)
		acmeWS.subscribe("a", sub)
		globexWS.subscribe("g", sub)
		agentWS.subscribe("x", sub)
		if m := agentWS.read(); (m.Type != "error" && m.Type != "next") || !json.Valid(m.Payload) || !strings.Contains(string(m.Payload), "FORBIDDEN") {
			t.Fatalf("an agent's subscription answered %s %s", m.Type, m.Payload)
		}
		agentID := strconv.Itoa(acme.Agent.ID)
		update := `mutation($id: ID!, $n: String!) { updateUser(id: $id, input: {lastName: $n}) { id } }`
		// Globex changes first: Acme's socket must not see it.
		s.as(globex.Admin).do(t, update, vars{"id": globex.Agent.ID, "n": "Globex change"}).decode(t, &struct{}{})
		s.as(acme.Admin).do(t, update, vars{"id": agentID, "n": "Changed"}).decode(t, &struct{}{})

		if ev := globexWS.auditEvent(); ev.TargetID != strconv.Itoa(globex.Agent.ID) {
			t.Fatalf("Globex's socket got %+v", ev)
		}
		ev := acmeWS.auditEvent()
		if ev.Action != "user.update" || ev.TargetID != agentID || ev.ActorID != strconv.Itoa(acme.Admin.ID) {
			t.Fatalf("Acme's socket got %+v", ev)
		}
		if ev.Changes["last_name"]["after"] != "Changed" || ev.Changes["last_name"]["before"] != acme.Agent.LastName {
			t.Fatalf("changes %v", ev.Changes)
		}

		got := auditEvents(t, s.as(acme.Admin), vars{"targetID": agentID, "action": "user.update"})
		if len(got) != 1 || got[0].ID != ev.ID || got[0].RequestID == "" || got[0].ClientAddress == "" || got[0].ActorLabel != acme.Admin.Email {
			t.Fatalf("Acme's log: %+v", got)
		}
		for _, tc := range []struct {
			name  string
			c     *client
			where vars
		}{
			{"by target", s.as(globex.Admin), vars{"targetID": agentID}},
			{"by actor", s.as(globex.Admin), vars{"actor": acme.Admin.ID}},
			{"everything", s.as(globex.Admin), nil},
		} {
			for _, n := range auditEvents(t, tc.c, tc.where) {
				if n.TargetID == agentID || n.ActorID == strconv.Itoa(acme.Admin.ID) {
					t.Errorf("%s: Globex's admin sees Acme's entry %+v", tc.name, n)
				}
			}
		}
		s.as(acme.Agent).do(t, auditQuery, nil).wantError(t, "FORBIDDEN", "")
		s.as(acme.Agent).do(t, `{ verifyAuditChain { intact } }`, nil).wantError(t, "FORBIDDEN", "")

		var chain struct {
			VerifyAuditChain struct {
				Intact  bool
				Checked int
			}
		}
		s.as(acme.Admin).do(t, `{ verifyAuditChain { intact checked brokenAtSeq reason } }`, nil).decode(t, &chain)
		if !chain.VerifyAuditChain.Intact || chain.VerifyAuditChain.Checked == 0 {
			t.Fatalf("verifyAuditChain: %+v", chain)
		}
		// Failed logins are recorded though their operation fails.
		s.client("").do(t, loginMutation, vars{"i": vars{"email": acme.Agent.Email, "password": "not the password"}}).wantError(t, "UNAUTHENTICATED", "")
		if ev := acmeWS.auditEvent(); ev.Action != "login.failed" || ev.TargetID != agentID {
			t.Fatalf("after a failed login, Acme's socket got %+v", ev)
		}
	})
}
