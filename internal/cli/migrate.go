package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"selection/migrations"
)

func init() {
	register(&command{name: "migrate", usage: "migrate up|down|down-to-zero|status",
		summary: "apply, roll back or list the database migrations", run: runMigrate})
}

func runMigrate(ctx context.Context, env *Env, args []string) error {
	if len(args) != 1 {
		return usageErr("want exactly one of up, down, down-to-zero, status")
	}
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := migrations.New(pool)
	if err != nil {
		return err
	}
	defer m.Close()
	switch args[0] {
	case "up":
		res, err := m.Up(ctx)
		for _, r := range res {
			fmt.Fprintf(env.Stdout, "applied %s (%s)\n", r.Source.Path, r.Duration.Round(1000))
		}
		if err != nil {
			return err
		}
		if len(res) == 0 {
			fmt.Fprintln(env.Stdout, "up to date")
		}
	case "down":
		r, err := m.Down(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "rolled back %s\n", r.Source.Path)
	case "down-to-zero":
		res, err := m.DownTo(ctx, 0)
		for _, r := range res {
			fmt.Fprintf(env.Stdout, "rolled back %s\n", r.Source.Path)
		}
		return err
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATE\tAPPLIED AT")
		for _, s := range st {
			when := ""
			if !s.AppliedAt.IsZero() {
				when = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.Source.Path, s.State, when)
		}
		return tw.Flush()
	default:
		return usageErr("unknown migrate action %q", args[0])
	}
	return nil
}
