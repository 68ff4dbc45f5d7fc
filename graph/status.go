package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"roster/internal/realtime"
)

// statusReads returns what the userStatusChanged subscription in ctx reads
// of a status, from its selection: a change of a user's device count alone
// is no event for a dashboard that shows only who is online and their
// availability (in a storm of one user's reconnections, it was an event to
// every such socket for every batch of them). The version and the time of
// a change describe it rather than the status. Reading the user's fields
// other than its ID reads every newer version of the user (its version and
// update time change even when its status does not); reading nothing of
// the status reads all of it.
func statusReads(ctx context.Context) realtime.StatusFields {
	oc := graphql.GetOperationContext(ctx)
	fc := graphql.GetFieldContext(ctx)
	if oc == nil || fc == nil {
		return 0
	}
	var reads realtime.StatusFields
	for _, f := range graphql.CollectFields(oc, fc.Field.Selections, userStatusEventImplementors) {
		switch f.Name {
		case "availability":
			reads |= realtime.ReadsAvailability
		case "online":
			reads |= realtime.ReadsOnline
		case "devices":
			reads |= realtime.ReadsDevices
		case "user":
			for _, uf := range graphql.CollectFields(oc, f.Selections, userImplementors) {
				if uf.Name != "id" && uf.Name != "__typename" {
					reads |= realtime.ReadsUser
				}
			}
		}
	}
	return reads
}
