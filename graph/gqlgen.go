//go:build ignore

// gqlgen generates the GraphQL executor (graph/generated.go), as
// `gqlgen generate` does, with one change: the fields of the objects in
// sequential are resolved one after the other, on the goroutine of their
// object, instead of each on a goroutine of its own. A user's role and
// divisions come loaded with the page of users they are on (entgql's field
// collection), so resolving them is reading memory, and a goroutine per
// user and field (a stack grown and copied each time) cost more than the
// reading. Run it from the repository root: go generate ./...
package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"slices"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
)

// sequential names the objects whose fields are resolved one after the
// other.
var sequential = []string{"User"}

// sequentialFields is the plugin that marks them.
type sequentialFields struct{}

func (sequentialFields) Name() string { return "sequentialfields" }

// GenerateCode runs before the executor is written.
func (sequentialFields) GenerateCode(data *codegen.Data) error {
	found := 0
	for _, o := range data.Objects {
		if slices.Contains(sequential, o.Name) {
			o.DisableConcurrency = true
			found++
		}
	}
	if found != len(sequential) {
		return fmt.Errorf("sequential objects %v: found %d of them", sequential, found)
	}
	return nil
}

func main() {
	log.SetOutput(io.Discard) // as gqlgen's command does
	cfg, err := config.LoadConfigFromDefaultLocations()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load gqlgen config:", err)
		os.Exit(2)
	}
	if err := api.Generate(cfg, api.AddPlugin(sequentialFields{})); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
}
