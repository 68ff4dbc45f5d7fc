package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"roster/ent"
	"roster/internal/account"
	"roster/internal/password"
	"roster/internal/store"
)

// orgUsage describes the org subcommand.
const orgUsage = `usage: roster org create -name NAME -admin-email EMAIL [-admin-password PW]
       [-admin-first-name NAME] [-admin-last-name NAME] [-database-url URL]

Creates an organization with its built-in roles (Admin, Supervisor, Agent)
and its first admin, in the database the server uses (-database-url, else
ROSTER_DATABASE_URL or DATABASE_URL, else the default). Without
-admin-password, a password is generated and printed once.`

// orgCommand runs "roster org …", with the arguments after "org".
func orgCommand(ctx context.Context, passwords password.Hasher, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, orgUsage)
		return errors.New("org: want the subcommand create")
	}
	fs := flag.NewFlagSet("roster org create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, orgUsage) }
	name := fs.String("name", "", "the organization's name (required)")
	email := fs.String("admin-email", "", "the first admin's email (required)")
	pw := fs.String("admin-password", "", "the first admin's password; generated and printed once when empty")
	first := fs.String("admin-first-name", "Admin", "the first admin's first name")
	last := fs.String("admin-last-name", "User", "the first admin's last name")
	dbSetting := settings[slices.IndexFunc(settings, func(s setting) bool { return s.flag == "database-url" })]
	dbFlag := fs.String(dbSetting.flag, "", fmt.Sprintf("%s (env %s, default %q)", dbSetting.usage, dbSetting.env, dbSetting.def))
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("org create: unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if strings.TrimSpace(*name) == "" || strings.TrimSpace(*email) == "" {
		fmt.Fprintln(stderr, orgUsage)
		return errors.New("org create: -name and -admin-email are required")
	}
	dbURL, _ := dbSetting.lookup(*dbFlag, getenv)
	db, err := store.Open(ctx, dbURL, ent.Hasher(passwords))
	if err != nil {
		return err
	}
	defer db.Close()
	return createOrganization(ctx, db.Client, *name, account.Admin{FirstName: *first, LastName: *last, Email: *email, Password: *pw}, stdout)
}

// createOrganization creates an organization with its built-in roles and
// first admin, and says so on stdout. When admin has no password, one is
// generated and printed there, once: it is nowhere else.
func createOrganization(ctx context.Context, client *ent.Client, name string, admin account.Admin, stdout io.Writer) error {
	generated := admin.Password == ""
	if generated {
		admin.Password = rand.Text()
	}
	org, u, err := account.CreateOrganization(ctx, client, name, admin)
	if err != nil {
		return fmt.Errorf("create organization %q: %w", name, err)
	}
	fmt.Fprintf(stdout, "Created organization %q (ID %d) with admin %s.\n", org.Name, org.ID, u.Email)
	if generated {
		fmt.Fprintf(stdout, "The admin's password is shown only this once: %s\n", admin.Password)
	}
	return nil
}
