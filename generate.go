// Package roster is the account-management API of an omnichannel
// customer-messaging platform. The program is in ./server; this file only
// holds the code generation steps, in order: ent, then gqlgen.
package roster

//go:generate go run -mod=mod ./ent/entc.go
//go:generate go run ./graph/gqlgen.go
