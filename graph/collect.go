package graph

import (
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// collectedFields remembers, for an operation, the fields collected from
// the selection sets of its objects: every element of a list collects the
// same. graphql.CollectFields caches them too, but builds its key for each
// object (a hash of the type's names, allocated), where these are found by
// the identity of the selection set and of the list of types.
type collectedFields struct {
	mu      sync.Mutex
	entries []collected
}

type collected struct {
	sel       *ast.Selection
	n         int
	satisfies *string
	fields    []graphql.CollectedField
}

// maxCollected bounds what an operation remembers here; beyond it,
// graphql.CollectFields's own cache answers.
const maxCollected = 32

// collect returns the fields of sel for an object of the types satisfies in
// operation oc, as graphql.CollectFields does.
func (c *collectedFields) collect(oc *graphql.OperationContext, sel ast.SelectionSet, satisfies []string) []graphql.CollectedField {
	if len(sel) == 0 || len(satisfies) == 0 {
		return graphql.CollectFields(oc, sel, satisfies)
	}
	key, types := &sel[0], &satisfies[0]
	c.mu.Lock()
	for i := range c.entries {
		if e := &c.entries[i]; e.sel == key && e.n == len(sel) && e.satisfies == types {
			c.mu.Unlock()
			return e.fields
		}
	}
	c.mu.Unlock()
	fields := graphql.CollectFields(oc, sel, satisfies)
	c.mu.Lock()
	if len(c.entries) < maxCollected {
		c.entries = append(c.entries, collected{sel: key, n: len(sel), satisfies: types, fields: fields})
	}
	c.mu.Unlock()
	return fields
}
