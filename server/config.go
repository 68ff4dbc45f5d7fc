package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"roster/store"
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

	AllowedOrigins    []string
	WSInitTimeout     time.Duration
	WSPingInterval    time.Duration
	WSMaxMessageBytes int64
	PresenceGrace     time.Duration
	InstanceTimeout   time.Duration
}

// setting describes one configurable value.
type setting struct {
	flag, env, def, usage string
	// alt is another environment variable read when env is unset.
	alt string
	set func(c *config, v string) error
}

var settings = []setting{
	{flag: "addr", env: "ROSTER_ADDR", def: ":8080", usage: "address to listen on",
		set: func(c *config, v string) error { c.Addr = v; return nil }},
	{flag: "database-url", env: "ROSTER_DATABASE_URL", alt: "DATABASE_URL", def: store.DefaultURL, usage: "database: postgres://… or sqlite://path",
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
	{flag: "presence-grace", env: "ROSTER_PRESENCE_GRACE", def: "5s", usage: "how long a user stays online after their last connection closes (avoids flapping on reloads)",
		set: func(c *config, v string) (err error) {
			if c.PresenceGrace, err = time.ParseDuration(v); err == nil && c.PresenceGrace < 0 {
				err = errors.New("must not be negative")
			}
			return err
		}},
	{flag: "instance-timeout", env: "ROSTER_INSTANCE_TIMEOUT", def: "30s", usage: "after how long without a heartbeat an instance is taken for dead and its users' connections for closed",
		set: func(c *config, v string) (err error) { c.InstanceTimeout, err = positiveDuration(v); return err }},
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
		v, source := *values[i], "-"+s.flag
		if v == "" {
			v, source = getenv(s.env), s.env
		}
		if v == "" && s.alt != "" {
			v, source = getenv(s.alt), s.alt
		}
		if v == "" {
			v, source = s.def, "default"
		}
		if err := s.set(c, v); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", s.env, source, err)
		}
	}
	return c, nil
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
