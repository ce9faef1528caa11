// Package cli is the selection binary's command line: it reads the configuration once from the
// environment (settings, printed by `selection config`), builds a logger, and dispatches to one
// subcommand. Commands write to the io.Writer they are given and log through *slog.Logger; the
// wiring of the service's parts lives here, their logic in the packages they call.
package cli
