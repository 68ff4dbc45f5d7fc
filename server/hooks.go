package main

import (
	"log/slog"

	"roster/ent"
	"roster/internal/account"
	"roster/internal/audit"
	"roster/internal/metrics"
	"roster/internal/pubsub"
	"roster/internal/realtime"
)

// registerHooks is the one place where client gets the hooks that need the
// server's services; the schema's own hooks and privacy policies are
// registered by ent/runtime (imported in run.go). Call it before anything
// uses client in the background: hooks are not added to a client in use.
func registerHooks(client *ent.Client, accounts *account.Service, broker pubsub.Broker, m *metrics.Metrics, log *slog.Logger) {
	// Every change of account data appends an entry to its
	// organization's audit log, in its transaction. First, so that what
	// the hooks below do around a change belongs to the change's entry.
	audit.Register(client, broker, log)
	// A user created without a password is invited, in the transaction
	// that creates them.
	accounts.InviteOnCreate(client)
	// Changes to users and sessions are published once their transaction
	// commits.
	realtime.Publish(client, broker, log, m.EventPublished)
}
