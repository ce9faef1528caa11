package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/embed"
	"selection/filter"
	"selection/internal/pg"
	"selection/prodtype"
	"selection/selection"
	"selection/tagger"
	"selection/vectorindex"
)

func init() {
	register(&command{name: "tag",
		usage: "tag define|list|show|explain|rebuild|delete [flags]\n" +
			"  tag define --kind rule --name N [--rule EXPR] [--words W,...] (a rule, words its titles hold, or both)\n" +
			"  tag define --kind prototype --name N --description TEXT... [--examples ID,...] [--scope EXPR]\n" +
			"  tag define --kind propagated --name N --seeds EXPR [--seed-ids ID,...] [--reference EXPR] [--k 10] [--min-vote 0.5] [--balance 0.2]\n" +
			"  tag define --kind discovered --name FAMILY [--clusters K]\n" +
			"  tag list | tag show NAME [--limit 20] | tag explain NAME SKU_ID [--json] | tag rebuild [NAME...]\n" +
			"  tag explain product_type SKU_ID [--json] (why the SKU has its learned product type)\n" +
			"  tag explain type/TYPE SKU_ID [--json] (product type tags: tag = \"type/notebook case\" in filters)\n" +
			"  tag delete NAME (refused while another tag or a pool refers to it)",
		summary: "define, list, show, explain, rebuild and delete tags (rule, prototype, propagated, discovered)",
		run:     runTag})
}

func runTag(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usageErr("want one of define, list, show, explain, rebuild, delete")
	}
	switch args[0] {
	case "define":
		return runTagDefine(ctx, env, args[1:])
	case "list":
		return runTagList(ctx, env, args[1:])
	case "show":
		return runTagShow(ctx, env, args[1:])
	case "explain":
		return runTagExplain(ctx, env, args[1:])
	case "rebuild":
		return runTagRebuild(ctx, env, args[1:])
	case "delete":
		return runTagDelete(ctx, env, args[1:])
	}
	return usageErr("unknown tag subcommand %q (define, list, show, explain, rebuild, delete)", args[0])
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, "; ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func parseIDs(s string) ([]int64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int64
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("SKU id %q is not an integer", f)
		}
		out = append(out, id)
	}
	return out, nil
}

func parseOptExpr(s, what string) (*filter.Expr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	e, err := filter.ParseExpr(s)
	if err != nil {
		return nil, usageErr("--%s: %v", what, err)
	}
	return &e, nil
}

// openTagger connects, loads the index (snapshot or skus) and, when vectors are needed, the
// in-memory vector index and the embedder.
func openTagger(ctx context.Context, env *Env, withVectors bool) (*tagger.Tagger, *pgxpool.Pool, error) {
	pool, err := env.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	var vecs tagger.Vectors
	var emb tagger.QueryEmbedder
	if withVectors {
		vi, err := vectorindex.NewIndex(pool, vectorindex.IndexConfig{Logger: env.Log})
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		if err := vi.Load(ctx); err != nil {
			pool.Close()
			return nil, nil, fmt.Errorf("load vectors: %w", err)
		}
		vecs = vi
		e, err := embed.New(ctx, embedConfig(env))
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		emb = e
	}
	// Beside a running service, the replica holding the leader's lease votes on product types;
	// this command applies its votes instead of casting its own.
	leads, err := pg.LeaseHeld(ctx, pool, leaderLease)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	tg, err := tagger.New(pool, vecs, emb, tagger.Config{Logger: env.Log, SaveInterval: -1,
		Referrers: selection.NewPoolStore(pool).ReferringTo, Leader: func() bool { return !leads }})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	how, err := tg.Load(ctx)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	env.Log.Debug("tag index loaded", "from", how, "skus", tg.Index().LiveCount())
	return tg, pool, nil
}

// tagDefineFlags are the flags of tag define; which apply depends on the kind.
type tagDefineFlags struct {
	kind, name, rule, words, examples, scope, seeds, seedIDs, reference, note string
	descs                                                                     stringList
	k, clusters                                                               int
	minVote, balance                                                          float64
}

func runTagDefine(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "tag define")
	var f tagDefineFlags
	fs.StringVar(&f.kind, "kind", "rule", "rule, prototype, propagated or discovered")
	fs.StringVar(&f.name, "name", "", "tag name (for discovered tags: the family name)")
	fs.StringVar(&f.rule, "rule", "", "rule: a filter expression, JSON or text (`brand = Logitech and price < 5000`)")
	fs.StringVar(&f.words, "words", "", "rule: only SKUs whose titles hold one of these words, comma-separated (`gaming,gamer`)")
	fs.Var(&f.descs, "description", "prototype: a plain-language description (repeatable)")
	fs.StringVar(&f.examples, "examples", "", "prototype: example SKU ids, comma-separated")
	fs.StringVar(&f.scope, "scope", "", "prototype/propagated: only SKUs matching this expression may join")
	fs.StringVar(&f.seeds, "seeds", "", "propagated: expression of the SKUs that carry the tag")
	fs.StringVar(&f.seedIDs, "seed-ids", "", "propagated: seed SKU ids, comma-separated")
	fs.StringVar(&f.reference, "reference", "", "propagated: expression of the SKUs that vote (default all)")
	fs.IntVar(&f.k, "k", 0, "propagated: neighbours that vote (default 10)")
	fs.Float64Var(&f.minVote, "min-vote", 0, "propagated: weighted vote share to join (default 0.5)")
	fs.Float64Var(&f.balance, "balance", 0, "propagated: how far a seed's vote is weighed up for the seeds' share of the voters, 0..1 (default 0.2; negative: not at all)")
	fs.IntVar(&f.clusters, "clusters", 0, "discovered: number of clusters (default sqrt(SKUs/2), at most 200)")
	fs.StringVar(&f.note, "note", "", "a description of the tag for people")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %v", fs.Args())
	}
	def, err := f.tagDef()
	if err != nil {
		return err
	}
	tg, pool, err := openTagger(ctx, env, def.Kind != tagger.KindRule)
	if err != nil {
		return err
	}
	defer pool.Close()
	if def.Kind == tagger.KindDiscovered {
		made, err := tg.Discover(ctx, tagger.DiscoverOptions{Family: f.name, Clusters: f.clusters})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TAG\tMEMBERS\tTERMS")
		for _, m := range made {
			n, _ := tg.Index().Count(filter.Tag(m.Name))
			fmt.Fprintf(tw, "%s\t%d\t%s\n", m.Name, n, strings.Join(m.Definition.Terms, ", "))
		}
		return tw.Flush()
	}
	made, err := tg.Define(ctx, def)
	if err != nil {
		return err
	}
	n, err := tg.Index().Count(filter.Tag(made.Name))
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "defined %s tag %q (id %d): %d members\n", made.Kind, made.Name, made.ID, n)
	if made.Kind == tagger.KindPrototype {
		if c, err := tg.Calibration(made.Name); err == nil {
			cs := c.Prototypes
			if len(cs) == 0 {
				cs = []tagger.Calibration{c} // calibrated before each prototype had its own
			}
			for i, pc := range cs {
				fmt.Fprintf(env.Stdout, "prototype %d: threshold %.3f (knee %.3f at rank %d; background mean %.3f, std %.3f, floor %.3f)",
					i+1, pc.Threshold, pc.KneeScore, pc.KneeRank, pc.Mean, pc.Std, pc.ZFloor)
				if len(pc.Types) > 0 {
					fmt.Fprintf(env.Stdout, "; types it names %s join from %.3f", strings.Join(pc.Types, ", "), pc.TypeFloor)
				}
				fmt.Fprintln(env.Stdout)
			}
		}
	}
	return nil
}

// tagDef reads the flags of the tag's kind into its definition and validates it (a discovered
// tag's family is checked by Discover).
func (f *tagDefineFlags) tagDef() (tagger.TagDef, error) {
	k0, err := tagger.ParseKind(f.kind)
	if err != nil {
		return tagger.TagDef{}, usageErr("%v", err)
	}
	if f.name == "" {
		return tagger.TagDef{}, usageErr("--name is required")
	}
	def := tagger.TagDef{Name: f.name, Kind: k0, Description: f.note}
	d := &def.Definition
	switch k0 {
	case tagger.KindRule:
		if d.Rule, err = parseOptExpr(f.rule, "rule"); err != nil {
			return def, err
		}
		for _, w := range strings.Split(f.words, ",") {
			if w = strings.TrimSpace(w); w != "" {
				d.Words = append(d.Words, w)
			}
		}
		if d.Rule == nil && len(d.Words) == 0 {
			return def, usageErr("a rule tag needs --rule or --words")
		}
	case tagger.KindPrototype:
		d.Descriptions = f.descs
		if d.Examples, err = parseIDs(f.examples); err != nil {
			return def, usageErr("--examples: %v", err)
		}
		if d.Scope, err = parseOptExpr(f.scope, "scope"); err != nil {
			return def, err
		}
	case tagger.KindPropagated:
		if d.Seeds, err = parseOptExpr(f.seeds, "seeds"); err != nil {
			return def, err
		}
		if d.SeedIDs, err = parseIDs(f.seedIDs); err != nil {
			return def, usageErr("--seed-ids: %v", err)
		}
		if d.Reference, err = parseOptExpr(f.reference, "reference"); err != nil {
			return def, err
		}
		if d.Scope, err = parseOptExpr(f.scope, "scope"); err != nil {
			return def, err
		}
		d.K, d.MinVote, d.Balance = f.k, f.minVote, f.balance
	}
	if k0 != tagger.KindDiscovered {
		if err := d.Validate(k0); err != nil {
			return def, usageErr("%v", err)
		}
	}
	return def, nil
}

func runTagList(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		return usageErr("tag list takes no arguments")
	}
	tg, pool, err := openTagger(ctx, env, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	tags, err := tg.Store().Tags(ctx)
	if err != nil {
		return err
	}
	counts := map[string]uint64{}
	for _, tc := range tg.Index().Tags() {
		counts[strings.ToLower(tc.Name)] = tc.Members
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tMEMBERS\tDEFINITION")
	for _, t := range tags {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", t.Name, t.Kind, counts[strings.ToLower(t.Name)], summarize(t))
	}
	return tw.Flush()
}

func summarize(t tagger.TagDef) string {
	d := t.Definition
	switch t.Kind {
	case tagger.KindRule:
		s := ""
		if d.Rule != nil {
			s = d.Rule.String()
		}
		if len(d.Words) > 0 {
			w := "title holds " + strings.Join(d.Words, " or ")
			if s == "" {
				return w
			}
			return s + " and " + w
		}
		return s
	case tagger.KindPrototype:
		parts := make([]string, 0, len(d.Descriptions)+1)
		for _, s := range d.Descriptions {
			parts = append(parts, strconv.Quote(s))
		}
		if len(d.Examples) > 0 {
			parts = append(parts, fmt.Sprintf("%d examples", len(d.Examples)))
		}
		return strings.Join(parts, ", ")
	case tagger.KindPropagated:
		s := "from "
		if d.Seeds != nil {
			s += d.Seeds.String()
		}
		if len(d.SeedIDs) > 0 {
			s += fmt.Sprintf(" + %d SKUs", len(d.SeedIDs))
		}
		return s
	case tagger.KindDiscovered:
		return fmt.Sprintf("%s #%d: %s", d.Family, d.Cluster, strings.Join(d.Terms, ", "))
	}
	return ""
}

func runTagDelete(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "tag delete")
	name, rest := splitName(args)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if name == "" || fs.NArg() > 0 {
		return usageErr("tag delete NAME")
	}
	tg, pool, err := openTagger(ctx, env, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := tg.Delete(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "tag %q deleted\n", name)
	return nil
}

func runTagShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "tag show")
	limit := fs.Int("limit", 20, "member SKU ids to print")
	name, rest := splitName(args)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if name == "" {
		return usageErr("tag show NAME")
	}
	tg, pool, err := openTagger(ctx, env, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	t, err := tg.Store().Tag(ctx, name)
	if err != nil {
		return err
	}
	def, _ := json.MarshalIndent(t.Definition, "", "  ")
	n, err := tg.Index().Count(filter.Tag(t.Name))
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "tag %q (id %d, %s): %d members\n", t.Name, t.ID, t.Kind, n)
	if t.Description != "" {
		fmt.Fprintf(env.Stdout, "about: %s\n", t.Description)
	}
	fmt.Fprintf(env.Stdout, "definition: %s\n", def)
	if c, err := tg.Calibration(t.Name); err == nil {
		cj, _ := json.Marshal(c)
		fmt.Fprintf(env.Stdout, "calibration: %s\n", cj)
	}
	ids, err := tg.Index().First(filter.Tag(t.Name), *limit)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "first %d members (arrival order): %v\n", len(ids), ids)
	return nil
}

// splitName takes a leading positional argument before the flags.
func splitName(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func runTagExplain(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "tag explain")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	var pos []string
	rest := args
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") && len(pos) < 2 {
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	pos = append(pos, fs.Args()...)
	if len(pos) != 2 {
		return usageErr("tag explain NAME SKU_ID")
	}
	id, err := strconv.ParseInt(pos[1], 10, 64)
	if err != nil {
		return usageErr("SKU id %q is not an integer", pos[1])
	}
	tg, pool, err := openTagger(ctx, env, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	if pos[0] == "product_type" {
		return explainType(ctx, env, tg, id, *asJSON, "")
	}
	if ty, ok := filter.TypeOfTag(pos[0]); ok {
		return explainType(ctx, env, tg, id, *asJSON, ty)
	}
	ex, err := tg.Explain(ctx, pos[0], id)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ex)
	}
	member := "is not"
	if ex.Member {
		member = "is"
	}
	fmt.Fprintf(env.Stdout, "SKU %d %s a member of %q (%s): %s\n", ex.SKUID, member, ex.Tag, ex.Kind, ex.Why)
	if ex.Member && ex.Confidence < 1 {
		fmt.Fprintf(env.Stdout, "confidence %.2f\n", ex.Confidence)
	}
	for _, p := range ex.Predicates {
		fmt.Fprintf(env.Stdout, "  %-40s value %-20s %v\n", p.Predicate, p.Value, p.Holds)
	}
	for _, n := range ex.Neighbours {
		fmt.Fprintf(env.Stdout, "  neighbour %d similarity %.3f carries=%v\n", n.SKUID, n.Similarity, n.Carries)
	}
	return nil
}

func runTagRebuild(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("tag rebuild", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	tg, pool, err := openTagger(ctx, env, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := tg.Rebuild(ctx, fs.Args()...); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TAG\tKIND\tMEMBERS")
	for _, tc := range tg.Index().Tags() {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", tc.Name, tc.Kind, tc.Members)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	pos := tg.Position()
	fmt.Fprintf(env.Stdout, "saved to tag_bitmaps at sku_events seq %d\n", pos.Seq)
	return nil
}

var _ = errors.New

// explainType prints why a SKU has its learned product type, and what the type is.
// explainType says why a SKU has its product type, and, for a type tag (want, its type), whether
// that makes it a member.
func explainType(ctx context.Context, env *Env, tg *tagger.Tagger, id int64, asJSON bool, want string) error {
	a, err := tg.ExplainType(ctx, id)
	if err != nil {
		return err
	}
	if want != "" && !asJSON {
		member := "is not"
		if strings.EqualFold(a.Type, want) {
			member = "is"
		}
		fmt.Fprintf(env.Stdout, "SKU %d %s a member of %q (product type tag)\n", id, member, filter.TypeTagPrefix+want)
	}
	var ty *prodtype.Type
	if m := tg.TypeModel(); m != nil && a.Type != "" {
		if t, ok := m.Type(a.Type); ok {
			ty = &t
		}
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			SKUID int64 `json:"sku_id,string"`
			prodtype.Assignment
			TypeInfo *prodtype.Type `json:"type_info,omitempty"`
		}{id, a, ty})
	}
	if a.Type == "" {
		fmt.Fprintf(env.Stdout, "SKU %d has no product type: %s\n", id, a.Why)
		return nil
	}
	fmt.Fprintf(env.Stdout, "SKU %d is a %q (from %s): %s\n", id, a.Type, a.Source, a.Why)
	if ty != nil {
		fmt.Fprintf(env.Stdout, "  %q: %s, %d SKUs name it in their title", ty.Name, ty.Kind, ty.Count)
		if ty.AccessoryOf != "" {
			fmt.Fprintf(env.Stdout, "; serves %q: %s", ty.AccessoryOf, ty.Why)
		}
		fmt.Fprintln(env.Stdout)
	}
	return nil
}
