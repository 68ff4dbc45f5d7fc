package wstransport

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/99designs/gqlgen/graphql"
)

// groupID identifies subscriptions that can share one execution.
type groupID struct {
	key, query, operation, variables string
}

// group is one shared subscription run and the operations it serves.
type group struct {
	id      groupID
	cancel  context.CancelFunc
	mu      sync.Mutex
	members []*operation // guarded by mu
	ended   bool         // guarded by mu: no one may join any more
}

// join adds op to the group of equal subscriptions, starting the group's run
// if there is none. It reports false if the subscription cannot be grouped,
// and whether op joined a run already going (shared).
func (t *Transport) join(op *operation, ctx context.Context, rc *graphql.OperationContext, key string, exec graphql.GraphExecutor) (ok, shared bool) {
	vars, err := json.Marshal(rc.Variables) // map keys are sorted: canonical
	if err != nil {
		return false, false
	}
	id := groupID{key: key, query: rc.RawQuery, operation: rc.OperationName, variables: string(vars)}

	t.gmu.Lock()
	g := t.groups[id]
	var run context.Context
	if g == nil {
		g = &group{id: id}
		run, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
		if t.groups == nil {
			t.groups = make(map[groupID]*group)
		}
		t.groups[id] = g
	}
	g.mu.Lock()
	op.group = g
	op.gidx = len(g.members)
	g.members = append(g.members, op)
	g.mu.Unlock()
	t.gmu.Unlock()

	if run != nil {
		go t.runGroup(g, run, rc, exec)
	}
	return true, run == nil
}

// leave removes op from its group; the last member to leave cancels the run.
func (t *Transport) leave(op *operation) {
	g := op.group
	var cancel context.CancelFunc
	t.gmu.Lock()
	g.mu.Lock()
	if i := op.gidx; i >= 0 && i < len(g.members) && g.members[i] == op {
		last := len(g.members) - 1
		g.members[i] = g.members[last]
		g.members[i].gidx = i
		g.members[last] = nil
		g.members = g.members[:last]
		op.gidx = -1
	}
	if len(g.members) == 0 && !g.ended {
		g.ended = true
		if t.groups[g.id] == g {
			delete(t.groups, g.id)
		}
		cancel = g.cancel
	}
	g.mu.Unlock()
	t.gmu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// runGroup executes a shared subscription: each result is encoded once and
// the same bytes are queued for every member.
func (t *Transport) runGroup(g *group, ctx context.Context, rc *graphql.OperationContext, exec graphql.GraphExecutor) {
	defer g.cancel()
	errs := execute(ctx, exec, rc, t, func(payload []byte) {
		g.mu.Lock()
		for _, m := range g.members {
			m.c.enqueue(outMsg{op: m, body: payload, next: true})
		}
		g.mu.Unlock()
	})

	t.gmu.Lock()
	g.mu.Lock()
	g.ended = true
	members := g.members
	g.members = nil
	if t.groups[g.id] == g {
		delete(t.groups, g.id)
	}
	g.mu.Unlock()
	t.gmu.Unlock()

	for _, m := range members {
		m.c.finish(m, errs)
	}
}
