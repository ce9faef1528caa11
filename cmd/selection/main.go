// Command selection is the product-selection service: one binary, many subcommands.
// Run `selection help` for the list.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"selection/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
