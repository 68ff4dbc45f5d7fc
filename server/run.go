package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"roster/ent"
	_ "roster/ent/runtime" // registers the ent hooks and privacy policies
	"roster/internal/account"
	"roster/internal/auth"
	"roster/internal/avatar"
	"roster/internal/gcfloor"
	"roster/internal/mail"
	"roster/internal/metrics"
	"roster/internal/password"
	"roster/internal/ratelimit"
	"roster/internal/store"
	"roster/internal/viewer"
)

// run starts the server and serves until ctx is done, then shuts down
// gracefully: in-flight requests finish before the database closes. With
// the arguments "org create …" it provisions an organization instead.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWith(ctx, productionPasswords(), args, getenv, stdout, stderr)
}

// productionPasswords hashes the passwords of the program: at
// password.DefaultCost, which makes a stolen hash expensive to guess.
func productionPasswords() password.Hasher { return password.Hasher{Cost: password.DefaultCost} }

// runWith is run with passwords hashed by passwords; only tests pass
// another than productionPasswords, to spend less time hashing.
func runWith(ctx context.Context, passwords password.Hasher, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "org" {
		return orgCommand(ctx, passwords, args[1:], getenv, stdout, stderr)
	}
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return nil
	}
	if err != nil {
		return err
	}
	cfg.Passwords = passwords
	return serve(ctx, cfg, stdout, stderr)
}

// serve runs the server with the settings of cfg until ctx is done.
func serve(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	gcfloor.Start(cfg.GCMinHeap)

	// Every setting has been checked; take the port before anything is
	// created, so that a start that cannot serve creates nothing.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()

	db, err := store.Open(ctx, cfg.DatabaseURL, ent.Hasher(cfg.Passwords))
	if err != nil {
		return err
	}
	defer db.Close()
	if file := store.SQLiteFile(cfg.DatabaseURL); file != "" && db.Dialect == "sqlite3" {
		log.Info("database ready", "dialect", db.Dialect, "file", file)
	} else {
		log.Info("database ready", "dialect", db.Dialect)
	}
	m := metrics.New()
	m.WatchDB(db.SQL)

	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	sendMail, err := startMail(bg, cfg, db.Client, log)
	if err != nil {
		return err
	}
	limiter := ratelimit.New(db.Driver, nil)
	limiter.OnRefused(m.RateLimitRefused)
	authn := auth.New(db.Client, auth.Options{
		SessionTTL: cfg.SessionTTL,
		Secret:     []byte(cfg.Secret),
		SendMail:   sendMail,
		Limits:     limiter,
	}, log)
	defer authn.Wait() // before the database closes
	accounts := account.New(db.Client, authn, account.Options{
		Retention:        cfg.ArchiveRetention,
		AuditRetention:   cfg.AuditRetention,
		InvitationTTL:    cfg.InvitationTTL,
		PasswordResetTTL: cfg.PasswordResetTTL,
		PublicURL:        cfg.PublicURL,
		SendMail:         sendMail,
	}, log)
	broker, err := newBroker(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	registerHooks(db.Client, accounts, broker, m, log)
	rt, err := startLive(ctx, cfg, db, broker, authn, m, log)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			rt.stop(context.Background())
		}
	}()
	// Last, when nothing is left to fail before serving: the one-time
	// password it may print is then never lost to a failed start.
	if err := bootstrap(ctx, db.Client, cfg, stdout, log); err != nil {
		return err
	}
	go accounts.RunPurge(bg, cfg.PurgeInterval)

	srv := &http.Server{
		Handler: newServer(db, &services{auth: authn, live: rt, accounts: accounts, limits: cfg.Limits, metrics: m, origins: cfg.AllowedOrigins,
			avatars: &avatar.Store{Dir: cfg.AvatarDir, MaxBytes: cfg.AvatarMaxBytes, BaseURL: cfg.PublicURL}}, log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "url", "http://"+displayAddr(ln.Addr()))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Websockets are hijacked connections: Shutdown does not wait for
	// them, so close them first (1012 Service Restart); clients reconnect to
	// another instance.
	stopped = true
	rt.presence.Stopping()
	rt.ws.Close()
	rt.closeStreams()
	shutdownErr := srv.Shutdown(shutdownCtx)
	rt.stop(shutdownCtx)
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// bootstrap creates the first organization and its admin when the database
// has none. A generated password is printed once, to stdout.
func bootstrap(ctx context.Context, client *ent.Client, cfg *config, stdout io.Writer, log *slog.Logger) error {
	n, err := client.Organization.Query().Count(viewer.NewSystemContext(ctx))
	if err != nil {
		return fmt.Errorf("count organizations: %w", err)
	}
	if n > 0 {
		return nil
	}
	log.Info("creating the first organization", "name", cfg.OrganizationName, "admin", cfg.AdminEmail)
	return createOrganization(ctx, client, cfg.OrganizationName, account.Admin{
		FirstName: "Admin", LastName: "User", Email: cfg.AdminEmail, Password: cfg.AdminPassword,
	}, stdout)
}

// startMail starts sending the mails of the outbox, through SMTP when
// configured, else to the log, and returns how to queue one.
func startMail(ctx context.Context, cfg *config, client *ent.Client, log *slog.Logger) (func(context.Context, *ent.Client, string, string, string) error, error) {
	var sender mail.Sender = &mail.DevOutbox{Log: log}
	if cfg.SMTPURL != "" {
		smtp, err := mail.NewSMTP(cfg.SMTPURL)
		if err != nil {
			return nil, err
		}
		sender = smtp
	}
	w := &mail.Worker{Client: client, Sender: sender, Log: log, Interval: 2 * time.Second}
	go w.Run(ctx)
	return func(ctx context.Context, c *ent.Client, to, subject, body string) error {
		if err := mail.Enqueue(ctx, c, to, subject, body); err != nil {
			return err
		}
		// The mail is sent once its transaction commits: look soon, and
		// again at the next interval.
		time.AfterFunc(50*time.Millisecond, w.Kick)
		return nil
	}, nil
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// displayAddr turns a listening address into one a browser can open.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return fmt.Sprintf("localhost:%d", tcp.Port)
}
