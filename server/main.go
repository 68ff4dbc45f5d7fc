// Command server runs the roster GraphQL API.
//
// With no settings it keeps its data in an SQLite file under ./data and
// listens on :8080; see the README for every setting. "roster org create"
// provisions an organization in the same database.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "roster: %v\n", err)
		os.Exit(1)
	}
}
