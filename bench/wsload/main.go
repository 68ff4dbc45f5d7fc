// Command wsload measures how roster fans realtime events out to many
// websocket subscribers.
//
// It starts roster on a fresh database (a new PostgreSQL database by
// default, dropped at the end; with -sqlite a temporary SQLite file), logs
// in as the admin, creates a second user with a password and logs in as
// that user too. It then opens -subscribers websocket connections
// (graphql-transport-ws, all with the admin's token) and subscribes each
// to
//
//	subscription { userStatusChanged { user { id } availability online version at } }
//
// and has the second user change their availability over HTTP (BUSY and
// AWAY in turn, so each call is a change) -events times at -rate per
// second. Every subscriber must receive every change exactly once.
//
// It reports:
//
//   - setup: how long opening and subscribing the connections took;
//   - idle server memory: roster's RSS (VmRSS in /proc/<pid>/status)
//     after all connections are subscribed and idle minus its RSS before
//     they were opened, each read after a pause of -settle, divided by the
//     number of connections;
//   - latency to the last subscriber: per event, the time from sending the
//     mutation to the moment the last subscriber received the event; and
//     per delivery, the same for each subscriber; p50, p99 and max;
//   - lost and duplicated deliveries, which must both be 0;
//   - roster's CPU time (utime + stime in /proc/<pid>/stat) over the event
//     phase, per event, and the rate of events actually sent.
//
// The load generator runs in this process on the same machine, so it is
// kept lean: one goroutine per connection, 1 KiB read buffers, shared
// write buffers, messages scanned rather than decoded, and timestamps
// appended to preallocated slices. It reports its own CPU time and the
// machine's busy share during the event phase, to show when the measurement
// is limited by the machine rather than by roster.
//
// Both this command and roster hold one open file per connection: it raises
// its soft RLIMIT_NOFILE to the hard limit before starting roster, which
// inherits it.
//
// Usage, from the repository root:
//
//	go run ./bench/wsload [flags]
//
// The flags are:
//
//	-subscribers N     websocket connections, each with one subscription (default 1000)
//	-events N          availability changes measured (default 20)
//	-rate R            changes per second (default 2)
//	-concurrency N     connections opened at a time (default 200)
//	-timeout D         how long an event may take to reach every subscriber before the
//	                   missing deliveries count as lost (default 30s)
//	-settle D          pause before each memory reading (default 5s)
//	-sqlite            use a temporary SQLite file instead of PostgreSQL
//	-database-url URL  PostgreSQL server to create the database on (default
//	                   $ROSTER_TEST_DATABASE_URL, else
//	                   postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
//	-roster-bin PATH   a prebuilt roster server; by default ./server is built
//	-log-level LEVEL   roster's log level (default warn); warnings and errors
//	                   are copied to stderr
//	-json              print the results as JSON instead of the table
//	-cpuprofile FILE   write a CPU profile of this command's event phase
//
// roster reads its other settings from the environment as usual, for
// example ROSTER_WS_PING_INTERVAL or ROSTER_PRESENCE_GRACE.
//
// Progress goes to stderr, the results to stdout. The command exits with
// status 1, after printing the results, when a delivery was lost,
// duplicated or carried an unknown version, a change failed or a
// connection broke.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq"
)

// defaultDatabaseURL is the PostgreSQL server used when neither the flag
// nor ROSTER_TEST_DATABASE_URL names one.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// adminEmail is the email of the admin roster creates on first start.
const adminEmail = "admin@example.com"

// changerEmail is the user whose availability changes.
const changerEmail = "status.changer@bench.example.com"

// spareFiles is what besides the connections needs open files: the
// listener, database connections, logs, the HTTP client.
const spareFiles = 100

// options are the command-line settings.
type options struct {
	subscribers int
	events      int
	rate        float64
	concurrency int
	timeout     time.Duration
	settle      time.Duration
	sqlite      bool
	databaseURL string
	rosterBin   string
	logLevel    string
	json        bool
	cpuProfile  string
	users       int
	storm       bool
	addr        string
	restart     bool
	group       int
	grace       time.Duration
	phase       time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "wsload: %v\n", err)
		os.Exit(2)
	}
	runner := run
	if opts.restart {
		runner = runRestart
	}
	if err := runner(ctx, opts, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "wsload: %v\n", err)
		os.Exit(1)
	}
}

// parseFlags reads the options from args, with defaults from getenv.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("wsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbDefault := getenv("ROSTER_TEST_DATABASE_URL")
	if dbDefault == "" {
		dbDefault = defaultDatabaseURL
	}
	var o options
	fs.IntVar(&o.subscribers, "subscribers", 1000, "websocket connections, each with one subscription")
	fs.IntVar(&o.events, "events", 20, "availability changes measured")
	fs.Float64Var(&o.rate, "rate", 2, "availability changes per second")
	fs.IntVar(&o.concurrency, "concurrency", 200, "connections opened at a time")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long an event may take to reach every subscriber before missing deliveries count as lost")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "pause before each memory reading")
	fs.BoolVar(&o.sqlite, "sqlite", false, "use a temporary SQLite file instead of PostgreSQL")
	fs.StringVar(&o.databaseURL, "database-url", dbDefault, "PostgreSQL server to create the benchmark database on (env ROSTER_TEST_DATABASE_URL)")
	fs.StringVar(&o.rosterBin, "roster-bin", "", "prebuilt roster server binary (default: build ./server)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "roster's log level")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this command's event phase to this file")
	fs.IntVar(&o.users, "users", 1, "subscribing users: 1, every connection is the admin's; more, each connection is one of that many agents (connection i of agent i mod N), as dashboards of many people are")
	fs.BoolVar(&o.storm, "storm", false, "connect storm: open every connection at once (-concurrency is the number of subscribers)")
	fs.StringVar(&o.addr, "addr", "", "address roster listens on (default: a free local port)")
	fs.BoolVar(&o.restart, "restart", false, "restart scenario: restart roster under the connected clients, which reconnect and resubscribe with a snapshot, and check what they hold (-users defaults to -subscribers, -rate to 20)")
	fs.IntVar(&o.group, "group", 10, "with -restart: users per division; each client follows its division's members")
	fs.DurationVar(&o.grace, "grace", 2*time.Minute, "with -restart: roster's presence grace period (ROSTER_PRESENCE_GRACE), which must cover the restart")
	fs.DurationVar(&o.phase, "phase", 5*time.Second, "with -restart: how long changes go on before the restart, and after every client is back")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.restart && !set["users"] {
		o.users = o.subscribers
	}
	if o.restart && !set["rate"] {
		o.rate = 20
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.subscribers < 1:
		return o, errors.New("-subscribers must be at least 1")
	case o.events < 1:
		return o, errors.New("-events must be at least 1")
	case o.rate <= 0:
		return o, errors.New("-rate must be positive")
	case o.concurrency < 1:
		return o, errors.New("-concurrency must be at least 1")
	case o.timeout <= 0:
		return o, errors.New("-timeout must be positive")
	case o.settle < 0:
		return o, errors.New("-settle must not be negative")
	case o.users < 1 || o.users > o.subscribers:
		return o, errors.New("-users must be between 1 and -subscribers")
	case o.group < 1:
		return o, errors.New("-group must be at least 1")
	case o.phase <= 0 || o.grace <= 0:
		return o, errors.New("-phase and -grace must be positive")
	}
	if o.storm {
		o.concurrency = o.subscribers
	}
	return o, nil
}

// run sets everything up, measures and prints the results. It tears down
// what it set up whatever happens.
func run(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	stderr = syncWriter(stderr) // roster's log is copied to it from its own goroutine
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "wsload: "+format+"\n", args...)
	}
	// The load generator keeps little garbage; collecting less often
	// leaves more of the shared CPUs to roster.
	debug.SetGCPercent(400)

	limit, err := raiseOpenFileLimit()
	if err != nil {
		return fmt.Errorf("raise the open file limit: %w", err)
	}
	if need := uint64(o.subscribers + spareFiles); limit < need {
		return fmt.Errorf("%d connections need about %d open files in this process and in roster; the limit is %d", o.subscribers, need, limit)
	}

	r := &report{
		Subscribers: o.subscribers, Events: o.events, Rate: o.rate,
		Go:   fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH),
		CPUs: runtime.NumCPU(), CPUModel: cpuModel(), OpenFileLimit: limit,
		LoadBefore: loadAverage(),
	}

	db, err := prepareDatabase(ctx, o, progress)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.drop()) }()
	dbURL, pgCPU := db.url, db.cpu
	r.Database = db.name

	bin, removeBin, err := rosterBinary(ctx, o, progress)
	if err != nil {
		return err
	}
	defer removeBin()

	adminPassword := rand.Text()
	roster, err := startRoster(ctx, bin, o.addr, dbURL, adminEmail, adminPassword, o.logLevel, nil, stderr)
	if err != nil {
		return err
	}
	pid := fmt.Sprint(roster.pid())
	progress("roster (pid %s) listening on %s", pid, roster.url)
	var fl *fleet
	defer func() {
		// Stop roster first: it closes every websocket, after which
		// the readers end.
		if fl != nil {
			fl.closing.Store(true)
		}
		if serr := roster.stop(2 * time.Minute); serr != nil {
			err = errors.Join(err, serr)
		}
		if fl != nil && !fl.waitReaders(30*time.Second) {
			fl.closeAll()
			fl.waitReaders(30 * time.Second)
		}
	}()

	admin := newAPIClient(roster.url + "/graphql")
	if err := admin.login(ctx, adminEmail, adminPassword); err != nil {
		return err
	}
	changerPassword := rand.Text()
	changerID, err := admin.createAgent(ctx, changerEmail, changerPassword)
	if err != nil {
		return err
	}
	changer := newAPIClient(roster.url + "/graphql")
	if err := changer.login(ctx, changerEmail, changerPassword); err != nil {
		return err
	}
	tokens := []string{admin.token}
	if o.users > 1 {
		progress("creating and logging in %d agents", o.users)
		tokens = tokens[:0]
		for i := range o.users {
			email, password := fmt.Sprintf("agent%d@bench.example.com", i), rand.Text()
			if _, err := admin.createAgent(ctx, email, password); err != nil {
				return fmt.Errorf("create agent %d: %w", i, err)
			}
			c := newAPIClient(roster.url + "/graphql")
			if err := c.login(ctx, email, password); err != nil {
				return fmt.Errorf("log in agent %d: %w", i, err)
			}
			tokens = append(tokens, c.token)
		}
	}
	r.Users = len(tokens)
	var me struct {
		Me struct {
			Version      int    `json:"version"`
			Availability string `json:"availability"`
		} `json:"me"`
	}
	if err := changer.call(ctx, "Me", `query Me { me { version availability } }`, nil, &me); err != nil {
		return err
	}

	if err := sleep(ctx, o.settle); err != nil {
		return err
	}
	rssBefore, err := processRSS(pid)
	if err != nil {
		return fmt.Errorf("read roster's memory: %w", err)
	}
	cpuBeforeSetup, _ := processCPU(pid)
	pgBeforeSetup := pgCPU()

	// Versions of the changer's events: one probe, then the events; the
	// slots leave room for versions bumped by anything else.
	base := time.Now()
	slots := 8*(o.events+1) + 1024
	fl = newFleet(base, roster.url, tokens, changerID, me.Me.Version, slots, o.events+4)
	progress("opening %d connections, %d at a time", o.subscribers, o.concurrency)
	setupStart := time.Now()
	if err := fl.open(ctx, o.subscribers, o.concurrency, progress); err != nil {
		return fmt.Errorf("setup failed after %v with %d of %d connections subscribed: %w\nroster alive: %v; its last log lines:\n%s",
			time.Since(setupStart).Round(time.Millisecond), len(fl.subs), o.subscribers, err, roster.alive(), roster.lastLines())
	}
	r.SetupSeconds = time.Since(setupStart).Seconds()
	cpuAfterSetup, _ := processCPU(pid)
	pgAfterSetup := pgCPU()
	r.SetupServerCPUms = ms(cpuAfterSetup - cpuBeforeSetup)
	if !o.sqlite {
		r.SetupPostgresCPUms = ms(cpuDelta(pgBeforeSetup, pgAfterSetup))
	}
	r.DialRetries = fl.dialRetries.Load()
	setups := make([]time.Duration, len(fl.subs))
	for i, s := range fl.subs {
		setups[i] = s.setup
	}
	r.ConnectionSetup = toMS(summarizeUnsorted(setups))
	progress("%d connections subscribed in %.2f s", len(fl.subs), r.SetupSeconds)

	// The probe: one change that must reach everyone before anything is
	// measured. It also shows that roster's shared execution is running.
	busy := me.Me.Availability != "BUSY"
	probeSent, probeVersion, err := changer.setAvailability(ctx, busy)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	busy = !busy
	probeAt := probeSent.Sub(base)
	if got := fl.waitFor(ctx, probeVersion, o.subscribers, probeSent.Add(o.timeout), roster); got < o.subscribers {
		return fmt.Errorf("the first change reached %d of %d subscribers within %v; roster alive: %v; its last log lines:\n%s",
			max(got, 0), o.subscribers, o.timeout, roster.alive(), roster.lastLines())
	}
	r.ProbeMS = ms(lastArrival(fl.subs, probeVersion) - probeAt)
	progress("a first change reached all %d subscribers in %.1f ms", o.subscribers, r.ProbeMS)

	if err := sleep(ctx, o.settle); err != nil {
		return err
	}
	rssIdle, err := processRSS(pid)
	if err != nil {
		return fmt.Errorf("read roster's memory: %w", err)
	}
	r.ServerRSSBeforeMiB, r.ServerRSSIdleMiB = mib(rssBefore), mib(rssIdle)
	r.IdleKiBPerConnection = float64(rssIdle-rssBefore) / 1024 / float64(o.subscribers)
	if self, err := processRSS("self"); err == nil {
		r.LoadGeneratorRSSMiB = mib(self)
	}

	// The event phase.
	progress("sending %d changes at %g/s", o.events, o.rate)
	events := make([]event, o.events)
	serverCPU0, err := processCPU(pid)
	if err != nil {
		return fmt.Errorf("read roster's CPU time: %w", err)
	}
	selfCPU0, _ := processCPU("self")
	pgCPU0 := pgCPU()
	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	machine0, _ := readMachineCPU()
	phaseStart := time.Now()
	interval := time.Duration(float64(time.Second) / o.rate)
	for i := range events {
		if err := sleep(ctx, time.Until(phaseStart.Add(time.Duration(i)*interval))); err != nil {
			return err
		}
		sent, version, err := changer.setAvailability(ctx, busy)
		busy = !busy
		events[i] = event{sent: sent.Sub(base), version: version, err: err}
		if err != nil {
			progress("change %d failed: %v", i+1, err)
		}
	}
	lastSent := time.Now()
	for _, e := range events {
		if e.err == nil {
			fl.waitFor(ctx, e.version, o.subscribers, base.Add(e.sent).Add(o.timeout), roster)
		}
	}
	phaseEnd := time.Now()
	stopProfile()
	serverCPU1, err := processCPU(pid)
	if err != nil {
		return fmt.Errorf("read roster's CPU time (did it exit?): %w\n%s", err, roster.lastLines())
	}
	selfCPU1, _ := processCPU("self")
	pgCPU1 := pgCPU()
	machine1, _ := readMachineCPU()
	if rss, err := processRSS(pid); err == nil {
		r.ServerRSSAfterMiB = mib(rss)
	}
	// Give late duplicates a moment to show up.
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	r.LoadAfter = loadAverage()

	// Stop roster and the readers, then count.
	fl.closing.Store(true)
	stopStart := time.Now()
	_ = roster.stop(2 * time.Minute) // the deferred stop reports an unclean exit
	r.ServerStopSeconds = time.Since(stopStart).Seconds()
	if !fl.waitReaders(30 * time.Second) {
		fl.closeAll()
		fl.waitReaders(30 * time.Second)
	}
	logs := make([][]delivery, len(fl.subs))
	for i, s := range fl.subs {
		logs[i] = s.got
		r.OtherEvents += s.others
		if s.failure != "" {
			r.FailedConnections++
			if r.FirstFailure == "" {
				r.FirstFailure = fmt.Sprintf("%s (at %.3f s)", s.failure, s.failureAt.Seconds())
			}
		}
	}
	a := account(events, logs, []int{probeVersion})
	r.fill(a, events, phaseStart, lastSent, phaseEnd)
	r.ServerCPUPerEventMS = ms(serverCPU1-serverCPU0) / float64(max(a.sent, 1))
	r.ServerCPUPerDeliveryUS = float64(serverCPU1-serverCPU0) / float64(time.Microsecond) / float64(max(a.sent*o.subscribers, 1))
	r.LoadGeneratorCPUPerEventMS = ms(selfCPU1-selfCPU0) / float64(max(a.sent, 1))
	r.MachineBusyPercent = 100 * busyShare(machine0, machine1)
	pgUsed := cpuDelta(pgCPU0, pgCPU1)
	r.PostgresCPUPerEventMS = ms(pgUsed) / float64(max(a.sent, 1))
	other := busyTime(machine0, machine1) - (serverCPU1 - serverCPU0) - (selfCPU1 - selfCPU0) - pgUsed
	r.OtherCPUPerEventMS = ms(max(other, 0)) / float64(max(a.sent, 1))
	if total := machine1.total - machine0.total; total > 0 {
		r.OtherBusyPercent = 100 * float64(max(other, 0)/clockTick) / float64(total)
	}
	r.RosterWarnings, r.RosterErrors = roster.warnings.Load(), roster.errors.Load()
	r.RosterStopWarnings, r.RosterFirstStopWarning = roster.stopWarnings.Load(), roster.stopWarning()

	if o.json {
		err = r.writeJSON(stdout)
	} else {
		r.writeText(stdout)
	}
	if err != nil {
		return err
	}
	if r.Lost > 0 || r.Duplicated > 0 || r.Unexpected > 0 || r.FailedEvents > 0 || r.FailedConnections > 0 {
		return fmt.Errorf("not every subscriber received every event exactly once (lost %d, duplicated %d, unexpected %d, failed changes %d, broken connections %d)",
			r.Lost, r.Duplicated, r.Unexpected, r.FailedEvents, r.FailedConnections)
	}
	return nil
}

// benchDatabase is the database a run works on.
type benchDatabase struct {
	// url is roster's database URL; name describes the database system.
	url, name string
	// cpu reads the CPU time of the PostgreSQL processes serving the
	// database, by process; nil with SQLite.
	cpu func() map[int]time.Duration
	// drop removes the database.
	drop func() error
}

// prepareDatabase creates the database of a run: a temporary SQLite file
// with -sqlite, else a new PostgreSQL database on -database-url.
func prepareDatabase(ctx context.Context, o options, progress func(string, ...any)) (*benchDatabase, error) {
	if o.sqlite {
		dir, err := os.MkdirTemp("", "wsload-db-")
		if err != nil {
			return nil, fmt.Errorf("create database folder: %w", err)
		}
		return &benchDatabase{url: "sqlite://" + filepath.Join(dir, "roster.db"), name: "SQLite",
			cpu:  func() map[int]time.Duration { return nil },
			drop: func() error { return os.RemoveAll(dir) }}, nil
	}
	v, err := serverVersion(ctx, o.databaseURL)
	if err != nil {
		return nil, err
	}
	dbName := "roster_bench_" + randomHex(6)
	dbURL, err := createDatabase(ctx, o.databaseURL, dbName)
	if err != nil {
		return nil, err
	}
	progress("created database %s", dbName)
	return &benchDatabase{url: dbURL, name: "PostgreSQL " + v,
		cpu: func() map[int]time.Duration {
			cpu, _ := postgresCPU(dbName)
			return cpu
		},
		drop: func() error {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := dropDatabase(cctx, o.databaseURL, dbName); err != nil {
				return err
			}
			progress("dropped database %s", dbName)
			return nil
		}}, nil
}

// rosterBinary returns the roster server to run: -roster-bin, or one
// built now into a temporary folder that remove deletes.
func rosterBinary(ctx context.Context, o options, progress func(string, ...any)) (bin string, remove func(), err error) {
	if o.rosterBin != "" {
		bin, err := filepath.Abs(o.rosterBin)
		if err != nil {
			return "", nil, fmt.Errorf("-roster-bin: %w", err)
		}
		return bin, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "wsload-")
	if err != nil {
		return "", nil, fmt.Errorf("create build folder: %w", err)
	}
	bin = filepath.Join(dir, "roster")
	progress("building roster")
	if err := buildRoster(ctx, bin); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// waitFor waits until version v has been delivered to n subscribers, the
// deadline has passed or roster has exited, and returns the deliveries
// counted (-1 when v cannot be counted live).
func (f *fleet) waitFor(ctx context.Context, v, n int, deadline time.Time, roster *rosterProcess) int {
	for {
		got := f.delivered(v)
		if got >= n || got < 0 || time.Now().After(deadline) || ctx.Err() != nil || !roster.alive() {
			return got
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lastArrival returns when the last subscriber received version v.
func lastArrival(subs []*subscriber, v int) time.Duration {
	var last time.Duration
	for _, s := range subs {
		for _, d := range s.got {
			if int(d.version) == v {
				last = max(last, d.at)
				break
			}
		}
	}
	return last
}

// startCPUProfile starts profiling this process into file, when named, and
// returns the function that stops it.
func startCPUProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serverVersion returns the version of the PostgreSQL server at dbURL.
func serverVersion(ctx context.Context, dbURL string) (string, error) {
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", redact(dbURL), err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", fmt.Errorf("connect to %s: %w", redact(dbURL), err)
	}
	return v, nil
}

// loadAverage returns the system's 1, 5 and 15 minute load averages, or
// "" where the system does not tell them.
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

// cpuModel returns the first CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// randomHex returns n random bytes in hexadecimal.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
