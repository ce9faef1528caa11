package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"selection/internal/pg"
)

// Config is every setting of the service. Each field's default is stated in settings below,
// which is also what `selection config` prints and what README.md's table documents.
type Config struct {
	DatabaseURL  string
	LogLevel     string
	LogFormat    string
	ModelDir     string
	HTTPAddr     string
	ShutdownWait time.Duration
}

// setting is one configuration entry: its environment variable, default and meaning.
type setting struct {
	env, def, help string
	set            func(c *Config, v string) error
}

func str(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

func dur(dst func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*dst(c) = d
		return nil
	}
}

func oneOf(dst func(*Config) *string, allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				*dst(c) = v
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
	}
}

var _ = strconv.Itoa

var settings = []setting{
	{"DATABASE_URL", pg.DefaultURL, "Postgres connection URL (the setup creates this database)",
		str(func(c *Config) *string { return &c.DatabaseURL })},
	{"SELECTION_LOG_LEVEL", "info", "log level: debug, info, warn, error",
		oneOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
	{"SELECTION_LOG_FORMAT", "text", "log format: text or json",
		oneOf(func(c *Config) *string { return &c.LogFormat }, "text", "json")},
	{"SELECTION_MODEL_DIR", "/var/cache/selection/models/use-lite-0.2.0", "directory of the USE-Lite model files (the setup fills it)",
		str(func(c *Config) *string { return &c.ModelDir })},
	{"SELECTION_HTTP_ADDR", "127.0.0.1:8080", "address the API and web page listen on",
		str(func(c *Config) *string { return &c.HTTPAddr })},
	{"SELECTION_SHUTDOWN_WAIT", "10s", "how long a graceful shutdown may take",
		dur(func(c *Config) *time.Duration { return &c.ShutdownWait })},
}

// LoadConfig reads every setting once, from getenv, falling back to its default.
func LoadConfig(getenv func(string) string) (Config, error) {
	var c Config
	for _, s := range settings {
		v := getenv(s.env)
		if v == "" {
			v = s.def
		}
		if err := s.set(&c, v); err != nil {
			return c, fmt.Errorf("%s=%s: %w", s.env, shownValue(s.env, v), err)
		}
	}
	return c, nil
}

// secretSettings hold keys: a configuration error names them without their value.
var secretSettings = map[string]bool{"SELECTION_API_KEYS": true, "SELECTION_LLM_API_KEY": true}

// shownValue is a setting's value as an error message may show it: hidden for secrets, without
// the password for the database URL.
func shownValue(env, v string) string {
	switch {
	case secretSettings[env]:
		return "(value hidden)"
	case env == "DATABASE_URL":
		return strconv.Quote(redactURL(v))
	}
	return strconv.Quote(v)
}

// printSettings writes the settings table (name, default, meaning).
func printSettings(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, s := range settings {
		def := s.def
		if s.env == "DATABASE_URL" {
			def = redactURL(def)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.env, def, s.help)
	}
	tw.Flush()
}

// redactURL hides the password of a postgres URL.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 {
		return u
	}
	userinfo := u[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return u[:scheme+3] + userinfo[:i] + ":***" + u[at:]
	}
	return u
}
