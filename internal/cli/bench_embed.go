package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"selection/embed"
	"selection/ingest"
	"selection/internal/bench/embedbench"
)

func init() {
	registerBench(&command{name: "embed", usage: "bench embed [--titles N] [--dir DIR]",
		summary: "embed the Icecat titles with the configured model; last line: embed titles_per_sec=... gflops=... query_p50_ms=... cores=... kernel=... peak_pct=...",
		run:     runBenchEmbed})
}

func runBenchEmbed(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench embed")
	n := fs.Int("titles", 0, "embed only the first N titles (0: all 19,406)")
	dir := fs.String("dir", env.Config.Demo.Data, "directory of the Icecat zips")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *n < 0 {
		return usageErr("--titles >= 0, no arguments")
	}
	files, err := filepath.Glob(filepath.Join(*dir, "products_*.json.zip"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no Icecat catalogue in %s (--dir)", *dir)
	}
	var titles []string
	err = ingest.ReadIcecatDir(ctx, *dir, func(p ingest.IcecatProduct) error {
		if *n == 0 || len(titles) < *n {
			titles = append(titles, p.Title)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The model alone, without the embedding cache: every title is embedded.
	e, err := embed.New(ctx, embedConfig(env))
	if err != nil {
		return err
	}
	_, err = embedbench.Run(ctx, env.Stdout, e, titles)
	return err
}
