package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"roster/internal/limits"
	"roster/internal/mail"
	"roster/internal/password"
	"roster/internal/store"
)

// config holds every setting of the server. Each has a flag and an
// environment variable; a flag wins over the variable, which wins over the
// default.
type config struct {
	Addr             string
	DatabaseURL      string
	AdminEmail       string
	AdminPassword    string
	OrganizationName string
	SessionTTL       time.Duration
	ShutdownTimeout  time.Duration
	LogLevel         slog.Level
	LogFormat        string

	AllowedOrigins     []string
	WSInitTimeout      time.Duration
	WSPingInterval     time.Duration
	WSMaxMessageBytes  int64
	WSMaxSubscriptions int
	PresenceGrace      time.Duration
	InstanceTimeout    time.Duration
	AllocationSweep    time.Duration

	Production       bool
	Limits           limits.Config
	PublicURL        string
	SMTPURL          string
	Secret           string
	InvitationTTL    time.Duration
	PasswordResetTTL time.Duration
	AvatarDir        string
	AvatarMaxBytes   int64
	ArchiveRetention time.Duration
	AuditRetention   time.Duration
	PurgeInterval    time.Duration
	GCMinHeap        uint64

	// Passwords hashes passwords: productionPasswords, unless a test asks
	// for less (see runWith). It is not a setting.
	Passwords password.Hasher
}

// setting describes one configurable value.
type setting struct {
	flag, env, def, usage string
	// alt is another environment variable read when env is unset.
	alt string
	set func(c *config, v string) error
}

var settings = []setting{
	// ROSTER_ENV comes first: other defaults depend on it.
	{flag: "env", env: "ROSTER_ENV", def: "development", usage: "development or production (production turns off introspection and suggestions unless set)",
		set: func(c *config, v string) error {
			if v != "development" && v != "production" {
				return errors.New("want development or production")
			}
			c.Production = v == "production"
			c.Limits = limits.Defaults(c.Production)
			return nil
		}},
	{flag: "addr", env: "ROSTER_ADDR", def: ":8080", usage: "address to listen on",
		set: func(c *config, v string) error { c.Addr = v; return nil }},
	{flag: "database-url", env: "ROSTER_DATABASE_URL", alt: "DATABASE_URL", def: store.DefaultURL, usage: "database: postgres://…, or an SQLite file: sqlite:path, sqlite:///abs/path, file:path",
		set: func(c *config, v string) error { c.DatabaseURL = v; return nil }},
	{flag: "admin-email", env: "ROSTER_ADMIN_EMAIL", def: "admin@example.com", usage: "email of the first admin, created with the first organization",
		set: func(c *config, v string) error { c.AdminEmail = v; return nil }},
	{flag: "admin-password", env: "ROSTER_ADMIN_PASSWORD", def: "", usage: "password of the first admin (generated and printed once when empty)",
		set: func(c *config, v string) error { c.AdminPassword = v; return nil }},
	{flag: "organization-name", env: "ROSTER_ORGANIZATION_NAME", def: "My Organization", usage: "name of the first organization",
		set: func(c *config, v string) error { c.OrganizationName = v; return nil }},
	{flag: "session-ttl", env: "ROSTER_SESSION_TTL", def: "720h", usage: "how long a login token stays valid",
		set: func(c *config, v string) (err error) { c.SessionTTL, err = positiveDuration(v); return err }},
	{flag: "shutdown-timeout", env: "ROSTER_SHUTDOWN_TIMEOUT", def: "30s", usage: "how long in-flight requests may take to finish on shutdown",
		set: func(c *config, v string) (err error) { c.ShutdownTimeout, err = positiveDuration(v); return err }},
	{flag: "allowed-origins", env: "ROSTER_ALLOWED_ORIGINS", def: "", usage: "comma-separated origins (https://app.example.com) whose pages may open websockets, besides the server's own; * for any",
		set: func(c *config, v string) error {
			for _, o := range strings.Split(v, ",") {
				if o = strings.TrimSpace(o); o != "" {
					if err := checkOriginSetting(o); err != nil {
						return err
					}
					c.AllowedOrigins = append(c.AllowedOrigins, o)
				}
			}
			return nil
		}},
	{flag: "ws-init-timeout", env: "ROSTER_WS_INIT_TIMEOUT", def: "10s", usage: "how long a websocket may take to send connection_init",
		set: func(c *config, v string) (err error) { c.WSInitTimeout, err = positiveDuration(v); return err }},
	{flag: "ws-ping-interval", env: "ROSTER_WS_PING_INTERVAL", def: "15s", usage: "how often the server pings websockets; a silent one is dropped after two intervals",
		set: func(c *config, v string) (err error) { c.WSPingInterval, err = positiveDuration(v); return err }},
	{flag: "ws-max-message-bytes", env: "ROSTER_WS_MAX_MESSAGE_BYTES", def: "65536", usage: "largest websocket message accepted from a client",
		set: func(c *config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1024 {
				return errors.New("want a number of bytes, at least 1024")
			}
			c.WSMaxMessageBytes = n
			return nil
		}},
	{flag: "ws-max-subscriptions", env: "ROSTER_WS_MAX_SUBSCRIPTIONS", def: "100", usage: "most subscriptions running at once on one websocket",
		set: func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return errors.New("want a number, at least 1")
			}
			c.WSMaxSubscriptions = n
			return nil
		}},
	{flag: "presence-grace", env: "ROSTER_PRESENCE_GRACE", def: "5s", usage: "how long a user stays online after their last connection closes, or the instance they were connected to shuts down (avoids flapping on reloads and restarts)",
		set: func(c *config, v string) (err error) {
			if c.PresenceGrace, err = time.ParseDuration(v); err == nil && c.PresenceGrace < 0 {
				err = errors.New("must not be negative")
			}
			return err
		}},
	{flag: "instance-timeout", env: "ROSTER_INSTANCE_TIMEOUT", def: "10s", usage: "after how long without a heartbeat an instance is taken for dead and its users' connections for closed",
		set: func(c *config, v string) (err error) { c.InstanceTimeout, err = positiveDuration(v); return err }},
	{flag: "allocation-sweep", env: "ROSTER_ALLOCATION_SWEEP", def: "30s", usage: "how often the idle-reassignment and offline rules of allocation run",
		set: func(c *config, v string) (err error) { c.AllocationSweep, err = positiveDuration(v); return err }},
	{flag: "public-url", env: "ROSTER_PUBLIC_URL", def: "http://localhost:8080", usage: "where users open the product, for the links in mails (invitations go to <url>/accept-invitation?token=…)",
		set: func(c *config, v string) error {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errors.New("want an http(s) URL")
			}
			c.PublicURL = v
			return nil
		}},
	{flag: "smtp-url", env: "ROSTER_SMTP_URL", def: "", usage: "SMTP server for mails: smtp://user:password@host:587?from=noreply@example.com (or smtps://…:465); when empty, mails go to the log",
		set: func(c *config, v string) error {
			if v != "" {
				if _, err := mail.NewSMTP(v); err != nil {
					return err
				}
			}
			c.SMTPURL = v
			return nil
		}},
	{flag: "secret", env: "ROSTER_SECRET", def: "", usage: "a server secret keying the hashes of emailed login codes (the same on every instance)",
		set: func(c *config, v string) error { c.Secret = v; return nil }},
	{flag: "invitation-ttl", env: "ROSTER_INVITATION_TTL", def: "72h", usage: "how long an invitation link works",
		set: func(c *config, v string) (err error) { c.InvitationTTL, err = positiveDuration(v); return err }},
	{flag: "password-reset-ttl", env: "ROSTER_PASSWORD_RESET_TTL", def: "1h", usage: "how long a password reset link works",
		set: func(c *config, v string) (err error) { c.PasswordResetTTL, err = positiveDuration(v); return err }},
	{flag: "avatar-dir", env: "ROSTER_AVATAR_DIR", def: "data/avatars", usage: "directory where uploaded avatars are kept (created if missing), served at /avatars/",
		set: func(c *config, v string) error {
			if strings.TrimSpace(v) == "" {
				return errors.New("want a directory")
			}
			c.AvatarDir = v
			return nil
		}},
	{flag: "avatar-max-bytes", env: "ROSTER_AVATAR_MAX_BYTES", def: "5242880", usage: "largest avatar image accepted, in bytes",
		set: func(c *config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1024 {
				return errors.New("want a number of bytes, at least 1024")
			}
			c.AvatarMaxBytes = n
			return nil
		}},
	{flag: "archive-retention", env: "ROSTER_ARCHIVE_RETENTION", def: "720h", usage: "how long an archived user can be restored before being deleted for good",
		set: func(c *config, v string) (err error) { c.ArchiveRetention, err = positiveDuration(v); return err }},
	{flag: "audit-retention", env: "ROSTER_AUDIT_RETENTION", def: "8760h", usage: "how long audit log entries are kept before the purge job deletes them",
		set: func(c *config, v string) (err error) { c.AuditRetention, err = positiveDuration(v); return err }},
	{flag: "purge-interval", env: "ROSTER_PURGE_INTERVAL", def: "1h", usage: "how often users past the archive retention, and expired sessions, are deleted",
		set: func(c *config, v string) (err error) { c.PurgeInterval, err = positiveDuration(v); return err }},
	{flag: "max-depth", env: "ROSTER_MAX_DEPTH", def: "10", usage: "deepest nesting of fields in an operation (0: no limit)",
		set: intSetting(func(c *config) *int { return &c.Limits.MaxDepth })},
	{flag: "max-aliases", env: "ROSTER_MAX_ALIASES", def: "30", usage: "most aliases in an operation (0: no limit)",
		set: intSetting(func(c *config) *int { return &c.Limits.MaxAliases })},
	{flag: "max-complexity", env: "ROSTER_MAX_COMPLEXITY", def: "1000", usage: "largest cost of an operation, about the number of objects it may load (0: no limit)",
		set: intSetting(func(c *config) *int { return &c.Limits.MaxComplexity })},
	{flag: "max-page-size", env: "ROSTER_MAX_PAGE_SIZE", def: "100", usage: "largest first/last of a connection, and the page size when neither is given",
		set: intSetting(func(c *config) *int { return &c.Limits.MaxPageSize })},
	{flag: "max-filter-depth", env: "ROSTER_MAX_FILTER_DEPTH", def: "8", usage: "deepest nesting of filters in a where argument (0: no limit)",
		set: intSetting(func(c *config) *int { return &c.Limits.MaxFilterDepth })},
	{flag: "max-filter-predicates", env: "ROSTER_MAX_FILTER_PREDICATES", def: "100", usage: "most predicates in a where argument, a list of values counting one per value (0: no limit)",
		set: intSetting(func(c *config) *int { return &c.Limits.MaxFilterPredicates })},
	{flag: "max-query-length", env: "ROSTER_MAX_QUERY_LENGTH", def: "15000", usage: "most characters of query text (0: no limit)",
		set: intSetting(func(c *config) *int { return &c.Limits.MaxQueryLength })},
	{flag: "max-tokens", env: "ROSTER_MAX_TOKENS", def: "5000", usage: "most lexical tokens of query text (0: no limit)",
		set: intSetting(func(c *config) *int { return &c.Limits.MaxTokens })},
	{flag: "introspection", env: "ROSTER_INTROSPECTION", def: "", usage: "true or false; by default on in development, off in production",
		set: boolSetting(func(c *config) *bool { return &c.Limits.Introspection })},
	{flag: "suggestions", env: "ROSTER_SUGGESTIONS", def: "", usage: `"did you mean" hints in validation errors: true or false; by default on in development, off in production`,
		set: boolSetting(func(c *config) *bool { return &c.Limits.Suggestions })},
	{flag: "apq-cache-size", env: "ROSTER_APQ_CACHE_SIZE", def: "1000", usage: "automatic persisted queries kept (0: off)",
		set: intSetting(func(c *config) *int { return &c.Limits.APQCacheSize })},
	{flag: "gc-min-heap", env: "ROSTER_GC_MIN_HEAP", def: "67108864", usage: "bytes the heap may grow to before a garbage collection while the data kept is small (GOGC applies once it is over half of this); 0: GOGC alone",
		set: func(c *config, v string) error {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return errors.New("want a number of bytes")
			}
			c.GCMinHeap = n
			return nil
		}},
	{flag: "log-level", env: "ROSTER_LOG_LEVEL", def: "info", usage: "debug, info, warn or error",
		set: func(c *config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	{flag: "log-format", env: "ROSTER_LOG_FORMAT", def: "text", usage: "text or json",
		set: func(c *config, v string) error {
			if v != "text" && v != "json" {
				return errors.New("want text or json")
			}
			c.LogFormat = v
			return nil
		}},
}

// loadConfig reads the settings from args and getenv.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("roster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // -h: run prints the usage, to stdout
	values := make([]*string, len(settings))
	for i, s := range settings {
		values[i] = fs.String(s.flag, "", fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def))
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	c := &config{}
	for i, s := range settings {
		v, source := s.lookup(*values[i], getenv)
		if err := s.set(c, v); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", s.env, source, err)
		}
	}
	return c, nil
}

// usage lists every setting: its flag, type, meaning, environment variable
// and default.
func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  roster [flags]       serve the API
  roster org create -name NAME -admin-email EMAIL [-admin-password PW]

Every setting is a flag and an environment variable: the flag wins, then
the variable, then the default.

Flags:
`)
	for _, s := range settings {
		env := s.env
		if s.alt != "" {
			env += " (or " + s.alt + ")"
		}
		def := strconv.Quote(s.def)
		if s.def == "" {
			def = "none"
		}
		fmt.Fprintf(w, "  -%s %s\n      %s\n      env %s, default %s\n", s.flag, s.kind(), s.usage, env, def)
	}
}

// kind names the type of a setting's value.
func (s setting) kind() string {
	switch {
	case s.flag == "introspection" || s.flag == "suggestions":
		return "bool"
	case s.def != "" && strings.Trim(s.def, "0123456789") == "":
		return "int"
	}
	if _, err := time.ParseDuration(s.def); err == nil && s.def != "0" {
		return "duration"
	}
	switch s.flag {
	case "database-url", "public-url", "smtp-url":
		return "url"
	case "allowed-origins":
		return "list"
	}
	return "string"
}

// lookup returns the value of s: flagValue when set, else its environment
// variable's, else its default; and where the value came from.
func (s setting) lookup(flagValue string, getenv func(string) string) (v, source string) {
	v, source = flagValue, "-"+s.flag
	if v == "" {
		v, source = getenv(s.env), s.env
	}
	if v == "" && s.alt != "" {
		v, source = getenv(s.alt), s.alt
	}
	if v == "" {
		v, source = s.def, "default"
	}
	return v, source
}

func intSetting(field func(*config) *int) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errors.New("want a whole number, 0 or more")
		}
		*field(c) = n
		return nil
	}
}

// boolSetting leaves the value as ROSTER_ENV made it when v is empty.
func boolSetting(field func(*config) *bool) func(*config, string) error {
	return func(c *config, v string) error {
		if v == "" {
			return nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		*field(c) = b
		return nil
	}
}

// checkOriginSetting accepts "*" or an origin: scheme and host (with the
// port), nothing else, as browsers send in the Origin header.
func checkOriginSetting(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(strings.TrimRight(o, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q is not an origin: want scheme://host[:port], such as https://app.example.com, or *", o)
	}
	return nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}
