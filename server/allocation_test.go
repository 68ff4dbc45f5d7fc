package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"roster/internal/fixture"
)

// rawSocket opens a graphql-transport-ws socket and sends connection_init
// with token, without waiting for the answer.
func rawSocket(t *testing.T, baseURL, token string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(baseURL, "http")+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.WriteJSON(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"authorization": "Bearer ` + token + `"}`)}); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestAllocationAPI drives allocation as the messaging platform does, with
// an API key, over HTTP and over the websocket: enqueue (idempotent),
// queued while nobody is eligible, assigned by itself once an agent comes
// online and sets ONLINE, resolve; another organization's key gets
// NOT_FOUND; a revoked key authenticates nothing.
func TestAllocationAPI(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		newKey := func(admin *fixture.User) (string, string) {
			t.Helper()
			var got struct {
				CreateApiKey struct {
					Secret string
					ApiKey struct{ ID, Prefix string }
				}
			}
			srv.as(admin).do(t, `mutation { createApiKey(input: {name: "Platform", permissions: [MANAGE_CONVERSATIONS]}) { secret apiKey { id prefix } } }`, nil).decode(t, &got)
			k := got.CreateApiKey
			if !strings.HasPrefix(k.Secret, "rsk_") || !strings.HasPrefix(k.Secret, k.ApiKey.Prefix) || len(k.Secret) < 40 {
				t.Fatalf("createApiKey returned %+v", k)
			}
			return k.ApiKey.ID, k.Secret
		}
		acmeKeyID, acmeSecret := newKey(acme.Admin)
		_, globexSecret := newKey(globex.Admin)

		// Keys are listed without their secret, with their last use.
		var listed struct {
			APIKeys struct {
				Edges []struct{ Node struct{ ID string } }
			} `json:"apiKeys"`
		}
		srv.as(acme.Admin).do(t, `{ apiKeys(first: 10) { edges { node { id name permissions lastUsedAt revokedAt } } } }`, nil).decode(t, &listed)
		if len(listed.APIKeys.Edges) != 1 || listed.APIKeys.Edges[0].Node.ID != acmeKeyID {
			t.Fatalf("Acme's keys: %+v", listed)
		}

		platform := transports(t, srv, srv.client(acmeSecret))
		foreign := transports(t, srv, srv.client(globexSecret))
		support := strconv.Itoa(acme.Support)
		const enqueue = `mutation($e: String!, $d: ID) { enqueueConversation(input: {externalID: $e, divisionID: $d}) { id state assignee { id } } }`
		type conv struct {
			ID       string
			State    string
			Assignee *struct{ ID string }
		}
		for _, name := range []string{"http", "websocket"} {
			t.Run(name, func(t *testing.T) {
				p := platform[name]
				ext := "conv-" + name
				var first, again struct{ EnqueueConversation conv }
				p.do(t, enqueue, vars{"e": ext, "d": support}).decode(t, &first)
				if first.EnqueueConversation.State != "QUEUED" {
					t.Fatalf("enqueued with nobody online: %+v", first.EnqueueConversation)
				}
				p.do(t, enqueue, vars{"e": ext, "d": support}).decode(t, &again)
				if again.EnqueueConversation.ID != first.EnqueueConversation.ID {
					t.Fatalf("enqueueing %s again made %s, first %s", ext, again.EnqueueConversation.ID, first.EnqueueConversation.ID)
				}
				id := first.EnqueueConversation.ID
				foreign[name].do(t, `mutation($id: ID!) { resolveConversation(id: $id) { id } }`, vars{"id": id}).wantError(t, "NOT_FOUND", "")
				p.do(t, enqueue, vars{"e": "x-" + name, "d": strconv.Itoa(globex.Support)}).wantError(t, "NOT_FOUND", "divisionID")
				// The key acts for no user: what needs one is refused.
				p.do(t, `mutation { takeNextConversation { id } }`, nil).wantError(t, "UNAUTHENTICATED", "")
			})
		}

		// The agent comes online and sets ONLINE: the queue moves by
		// itself, oldest first.
		agentWS := dialWS(t, srv.url, acme.Agent.Token)
		_ = agentWS
		srv.as(acme.Agent).do(t, `mutation { setMyAvailability(availability: ONLINE) { id } }`, nil)
		deadline := time.Now().Add(15 * time.Second)
		for {
			var got struct {
				Conversations struct {
					Edges []struct{ Node conv }
				}
			}
			srv.client(acmeSecret).do(t, `{ conversations(first: 10) { edges { node { id state assignee { id } } } } }`, nil).decode(t, &got)
			assigned := 0
			for _, e := range got.Conversations.Edges {
				if e.Node.State == "ASSIGNED" && e.Node.Assignee != nil && e.Node.Assignee.ID == strconv.Itoa(acme.Agent.ID) {
					assigned++
				}
			}
			if assigned == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the queue did not move when the agent came online: %+v", got)
			}
			time.Sleep(50 * time.Millisecond)
		}

		// The agent sees their own conversations; the workload counts them.
		var wl struct {
			AllocationWorkload struct {
				Agents []struct {
					User           struct{ ID string }
					Open, Headroom int
				}
			}
		}
		srv.as(acme.Supervisor).do(t, `{ allocationWorkload { agents { user { id } open headroom } } }`, nil).decode(t, &wl)
		found := false
		for _, a := range wl.AllocationWorkload.Agents {
			if a.User.ID == strconv.Itoa(acme.Agent.ID) {
				found = a.Open == 2 && a.Headroom == 3
			}
		}
		if !found {
			t.Fatalf("workload: %+v", wl)
		}

		// Revoked, the key authenticates nothing.
		srv.as(acme.Admin).do(t, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, vars{"id": acmeKeyID})
		srv.client(acmeSecret).do(t, `{ conversations(first: 1) { totalCount } }`, nil).wantError(t, "UNAUTHENTICATED", "")
		// A socket opened with it closes at its next operation, and a new
		// one is refused at connection_init.
		for _, c := range []*websocket.Conn{platform["websocket"].(*wsDoer).c.conn, rawSocket(t, srv.url, acmeSecret)} {
			_ = c.WriteJSON(wsMessage{ID: "late", Type: "subscribe", Payload: json.RawMessage(`{"query": "{ conversations(first: 1) { totalCount } }"}`)})
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				var m wsMessage
				err := c.ReadJSON(&m)
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code == 4403 {
					break
				}
				if err != nil || m.Type == "next" {
					t.Fatalf("a revoked key's socket: %+v, %v", m, err)
				}
			}
		}
	})
}
