// Command listusers measures the cost of roster's most common read, "list
// 50 users with their role and divisions", end to end through the real
// GraphQL endpoint, and compares it with a hand-written handler that answers
// the same question with plain database/sql and encoding/json on the same
// PostgreSQL database.
//
// It creates a fresh PostgreSQL database, builds and starts the roster
// server on it (which migrates the schema and creates the first
// organization and its admin), seeds divisions and users through the API as
// that admin, and then loads each target in turn with concurrent keep-alive
// clients:
//
//   - graphql: POST /graphql with the ListUsers query (see listUsersQuery)
//     to the roster child process;
//   - handwritten: GET /users?first=50 to an http.Server inside this
//     process, which authenticates the same bearer token against the
//     sessions table and reads the page, the roles, the divisions and the
//     total count with prepared statements.
//
// For each target it reports requests per second, the 50th and 99th
// percentile and the maximum latency, the SQL statements each request ran
// (read from roster's request log for graphql, counted around each
// statement for handwritten) and the failed requests, round by round (the
// targets take turns), then the throughput ratio of each round and their
// median. Every response must
// be 200, carry no GraphQL errors and hold a full page; any failure makes
// the command exit with status 1 after printing the table. The database is
// dropped at the end, also on error or interrupt.
//
// Usage, from the repository root:
//
//	go run ./bench/listusers [flags]
//
// The flags are:
//
//	-users N           users to create besides the admin (default 200)
//	-workers N         concurrent clients (default 8)
//	-duration D        measured time per target and round (default 10s)
//	-rounds N          rounds of loading each target in turn, each in the
//	                   other order than the last (default 3)
//	-warmup D          unmeasured time before it (default 2s)
//	-database-url URL  PostgreSQL server to create the database on (default
//	                   $ROSTER_TEST_DATABASE_URL, else
//	                   postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
//	-roster-bin PATH   a prebuilt roster server; by default ./server is
//	                   built into a temporary folder
//	-sqlite            a temporary SQLite file instead of a PostgreSQL
//	                   database, for both targets
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// defaultDatabaseURL is the PostgreSQL server used when neither the flag
// nor ROSTER_TEST_DATABASE_URL names one.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// pageSize is the number of users each measured request lists.
const pageSize = 50

// adminEmail is the email of the admin roster creates on first start.
const adminEmail = "admin@example.com"

// options are the command-line settings.
type options struct {
	users       int
	workers     int
	duration    time.Duration
	rounds      int
	warmup      time.Duration
	databaseURL string
	rosterBin   string
	sqlite      bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "listusers: %v\n", err)
		os.Exit(2)
	}
	if err := run(ctx, opts, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "listusers: %v\n", err)
		os.Exit(1)
	}
}

// parseFlags reads the options from args, with defaults from getenv.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("listusers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbDefault := getenv("ROSTER_TEST_DATABASE_URL")
	if dbDefault == "" {
		dbDefault = defaultDatabaseURL
	}
	var o options
	fs.IntVar(&o.users, "users", 200, "users to create besides the admin")
	fs.IntVar(&o.workers, "workers", 8, "concurrent clients")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per target and round")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of loading each target in turn")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time per target before the measured time")
	fs.StringVar(&o.databaseURL, "database-url", dbDefault, "PostgreSQL server to create the benchmark database on (env ROSTER_TEST_DATABASE_URL)")
	fs.StringVar(&o.rosterBin, "roster-bin", "", "prebuilt roster server binary (default: build ./server)")
	fs.BoolVar(&o.sqlite, "sqlite", false, "a temporary SQLite file instead of a PostgreSQL database")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.users < 0:
		return o, errors.New("-users must not be negative")
	case o.workers < 1:
		return o, errors.New("-workers must be at least 1")
	case o.rounds < 1:
		return o, errors.New("-rounds must be at least 1")
	case o.duration <= 0:
		return o, errors.New("-duration must be positive")
	case o.warmup < 0:
		return o, errors.New("-warmup must not be negative")
	}
	return o, nil
}

// run sets everything up, measures both targets and prints the table. It
// tears down what it set up whatever happens.
func run(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "listusers: "+format+"\n", args...) }

	db, err := openDatabase(ctx, o, progress)
	if err != nil {
		return err
	}
	defer func() {
		if derr := db.drop(); derr != nil {
			err = errors.Join(err, derr)
		}
	}()

	bin := o.rosterBin
	if bin != "" {
		// An absolute path, so that a bare name is not looked up in PATH.
		if bin, err = filepath.Abs(bin); err != nil {
			return fmt.Errorf("-roster-bin: %w", err)
		}
	} else {
		dir, err := os.MkdirTemp("", "listusers-")
		if err != nil {
			return fmt.Errorf("create build folder: %w", err)
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "roster")
		progress("building roster")
		if err := buildRoster(ctx, bin); err != nil {
			return err
		}
	}

	adminPassword := rand.Text()
	roster, err := startRoster(ctx, bin, db.rosterURL, adminEmail, adminPassword, stderr)
	if err != nil {
		return err
	}
	progress("roster listening on %s", roster.url)
	defer func() {
		if serr := roster.stop(40 * time.Second); serr != nil {
			err = errors.Join(err, serr)
		}
	}()

	api := newAPIClient(roster.url + "/graphql")
	if err := api.login(ctx, adminEmail, adminPassword); err != nil {
		return err
	}
	progress("seeding %d users", o.users)
	seedStart := time.Now()
	if err := seed(ctx, api, o.users); err != nil {
		return err
	}
	progress("seeded in %v", time.Since(seedStart).Round(time.Millisecond))

	hw, err := startHandwritten(ctx, db)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := hw.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	loadBefore := loadAverage()
	wantEdges := min(pageSize, o.users+1) // the seeded users and the admin
	targets := []*target{
		newGraphQLTarget(roster.url+"/graphql", api.token, o.workers, &roster.listUsers),
		newHandwrittenTarget(hw.url+fmt.Sprintf("/users?first=%d", pageSize), api.token, o.workers, &hw.handler.statements),
	}
	same, err := compareTargets(ctx, targets[0], targets[1], wantEdges)
	if err != nil {
		return err
	}

	// The targets take turns, round after round, each round in the other
	// order: a slow spell of the machine falls on both alike, and the
	// median of the rounds' ratios is not one spell's.
	rounds := make([][]*result, o.rounds)
	for r := range rounds {
		rounds[r] = make([]*result, len(targets))
		for k := range targets {
			i := k
			if r%2 == 1 {
				i = len(targets) - 1 - k
			}
			t := targets[i]
			progress("round %d of %d, loading %s: %d workers, %v warm-up, %v measured", r+1, o.rounds, t.name, o.workers, o.warmup, o.duration)
			res, err := runLoad(ctx, t, wantEdges, o.workers, o.warmup, o.duration, cpuProbe(roster.cmd.Process.Pid, db.pgName))
			if err != nil {
				return fmt.Errorf("load %s: %w", t.name, err)
			}
			res.sqlite = db.sqlite
			rounds[r][i] = res
		}
	}

	fmt.Fprintf(stdout, "list %d users with role and divisions — %d users, %d workers, %d rounds of %v each (after %v warm-up)\n",
		pageSize, o.users, o.workers, o.rounds, o.duration, o.warmup)
	fmt.Fprintf(stdout, "%s %s/%s, GOMAXPROCS %d, %d CPUs, %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(), db.version)
	if loadBefore != "" {
		fmt.Fprintf(stdout, "load average before the runs: %s; after: %s\n", loadBefore, loadAverage())
	}
	for r, results := range rounds {
		if o.rounds > 1 {
			fmt.Fprintf(stdout, "\nround %d\n", r+1)
		}
		printTable(stdout, results)
	}
	if o.rounds > 1 {
		fmt.Fprintf(stdout, "\n%s\n", roundRatios(rounds))
	}
	if same == "" {
		fmt.Fprintln(stdout, "responses compared: the same data apart from cursors")
	} else {
		fmt.Fprintf(stdout, "responses compared: DIFFERENT: %s\n", same)
	}

	var failed int64
	for _, results := range rounds {
		for _, r := range results {
			failed += r.failures + r.warmupFailures
			if r.firstFailure != "" {
				fmt.Fprintf(stderr, "listusers: %s: first failure: %s\n", r.name, r.firstFailure)
			}
		}
	}
	switch {
	case failed > 0:
		return fmt.Errorf("%d requests failed", failed)
	case same != "":
		return errors.New("the targets answered with different data")
	}
	return nil
}

// loadAverage returns the system's 1, 5 and 15 minute load averages, or
// "" where the system does not tell them. Other work on the machine skews
// the results; this shows whether there was any.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// randomHex returns n random bytes in hexadecimal.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
