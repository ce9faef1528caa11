package cli

import (
	"context"
	"fmt"

	"selection/api"
)

func init() {
	register(&command{name: "apikey", usage: "apikey create --name NAME --role reader|planner|approver",
		summary: "create an API key (printed once; only its hash is stored)", run: runAPIKey})
}

func runAPIKey(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return usageErr("want: apikey create --name NAME --role reader|planner|approver")
	}
	fs := newFlags(env, "apikey create")
	name := fs.String("name", "", "who or what uses the key")
	role := fs.String("role", api.RoleReader, "reader (read published pools), planner (read and write) or approver (a planner who publishes)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageErr("%v", err)
	}
	if *name == "" {
		return usageErr("--name is required")
	}
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	key, err := api.CreateKey(ctx, pool, *name, *role)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, key)
	return nil
}
