package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/internal/pg"
)

// Env is what every command gets: where to write, how to log, and the configuration.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Log    *slog.Logger
	Config Config
}

// Connect opens the configured database.
func (e *Env) Connect(ctx context.Context) (*pgxpool.Pool, error) {
	return pg.Connect(ctx, pg.Config{URL: e.Config.DatabaseURL})
}

type command struct {
	name, usage, summary string
	run                  func(ctx context.Context, env *Env, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// errUsage marks a mistake in the command line: exit code 2.
var errUsage = errors.New("usage")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

func init() {
	register(&command{name: "config", usage: "config", summary: "print every setting, its default and environment variable",
		run: func(_ context.Context, env *Env, _ []string) error { printSettings(env.Stdout); return nil }})
}

// Main runs one command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "selection: unknown command %q\n\n", args[0])
		printHelp(stderr)
		return 2
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "selection: configuration: %v\n", err)
		return 2
	}
	applyGC(cfg, getenv)
	env := &Env{Stdout: stdout, Stderr: stderr, Config: cfg, Log: newLogger(stderr, cfg)}
	if err := cmd.run(ctx, env, args[1:]); err != nil {
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(stderr, "selection %s: %v\n", cmd.name, strings.TrimPrefix(err.Error(), "usage: "))
			}
			fmt.Fprintf(stderr, "usage: selection %s\n", cmd.usage)
			return 2
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			fmt.Fprintf(stderr, "selection %s: interrupted\n", cmd.name)
			return 130
		}
		fmt.Fprintf(stderr, "selection %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, cfg Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "selection: real-time product selection for a multi-market marketplace")
	fmt.Fprintln(w, "\nusage: selection <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nSettings come from the environment: `selection config` lists them.")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// parseNoArgs parses args into fs and refuses positional arguments.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

var _ = os.Stdout
