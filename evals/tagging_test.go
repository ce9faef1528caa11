package evals

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/embed"
	"selection/filter"
	"selection/ingest"
	"selection/internal/icecat"
	"selection/internal/testdb"
	"selection/search"
	"selection/tagger"
	"selection/vectorindex"
)

// Floors for the tagging evals, set from the values measured on 2026-11-26 (see the report
// these tests log and evals/README.md): a little below them, so that a regression fails and
// noise does not.
const (
	floorPropagationMacroF1   = 0.82 // measured 0.770, 0.817 with the background-nearness vote, 0.883 with the vote balanced for the seeds' share (18 types, 2026-12-04): issue 19's goal
	floorPropagationHeldOutF1 = 0.85 // the balance chosen on the other folds' types, scored on its own: measured 0.879 over 6 folds of 3 types (every fold but one picks 0.2; no correction 0.817)
	floorPrototypePrecision   = 0.85 // measured 0.762 (8 of 10 tags judged), 0.788 with the types (9 of 10), 0.905 with other kinds kept out and the labels that are no word ("1") left out: issue 19's goal
	floorDiscoveryPurity      = 0.58 // measured 0.639 over the 19 of 99 clusters with >= 5 labelled members (2026-12-04)
	floorDiscoveryCoverage    = 0.60 // measured 0.656 of the 1,532 labelled products
	floorPrototypeRecall      = 0.80 // measured 0.526 with one threshold per tag, 0.796 per prototype with the types it names, 0.806 with "10th gen" no type (2026-12-04): issue 19's goal
)

// hiddenHalf: every other labelled product of each type (by id) is hidden.
func hiddenHalf(ps []ingest.IcecatProduct) map[int64]bool {
	byType := map[string][]int64{}
	for _, p := range ps {
		if p.ProductType != "" {
			byType[p.ProductType] = append(byType[p.ProductType], p.ID)
		}
	}
	hidden := map[int64]bool{}
	for _, ids := range byType {
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for i, id := range ids {
			if i%2 == 1 {
				hidden[id] = true
			}
		}
	}
	return hidden
}

// evalTypes are the product types with at least 10 labelled products whose label is a word
// (one label of the data is the number "1").
func evalTypes(ps []ingest.IcecatProduct) []string {
	n := map[string]int{}
	for _, p := range ps {
		n[p.ProductType]++
	}
	var out []string
	for t, c := range n {
		if t == "" || c < 10 || !strings.ContainsFunc(t, unicode.IsLetter) {
			continue
		}
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// untypedVectors embeds the labelled products without their product type (the text the model
// sees when the label is unknown), cached on disk beside the fixture's vectors.
func untypedVectors(t *testing.T, e embed.Embedder, ps []ingest.IcecatProduct) map[int64][]float32 {
	var ids []int64
	var texts []string
	h := sha256.New()
	for _, p := range ps {
		if p.ProductType == "" {
			continue
		}
		text := catalog.EmbedText(p.Title, p.Supplier, "", p.ShortDescription)
		ids, texts = append(ids, p.ID), append(texts, text)
		fmt.Fprintf(h, "%d\x00%s\x00", p.ID, text)
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, "selection", fmt.Sprintf("icecat-untyped-%s-%s.bin", e.Name(), hex.EncodeToString(h.Sum(nil))[:16]))
	dim := e.Dimension()
	if b, err := os.ReadFile(path); err == nil && len(b) == len(ids)*dim*4 {
		out := map[int64][]float32{}
		for i, id := range ids {
			v := make([]float32, dim)
			for j := range v {
				v[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[(i*dim+j)*4:]))
			}
			out[id] = v
		}
		return out
	}
	vecs, err := e.EmbedDocuments(context.Background(), texts)
	require.NoError(t, err)
	buf := make([]byte, 0, len(ids)*dim*4)
	out := map[int64][]float32{}
	for i, id := range ids {
		out[id] = vecs[i]
		for _, x := range vecs[i] {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, buf, 0o644))
	require.NoError(t, os.Rename(tmp, path))
	return out
}

type taggingFixture struct {
	tg     *tagger.Tagger
	ps     []ingest.IcecatProduct
	hidden map[int64]bool
	truth  map[int64]string
}

// newTaggingFixture loads Icecat into a test schema with the hidden half's product type
// blanked (and marked by category "eval-hidden"), and every vector into an in-memory index:
// labelled products embedded without their type, the rest from the fixture's cache.
func newTaggingFixture(t *testing.T) *taggingFixture {
	if testing.Short() {
		t.Skip("tagging evals load the Icecat catalogue")
	}
	ctx := context.Background()
	db := testdb.New(t)
	e := icecat.Embedder(t)
	icecat.LoadWith(t, db.Pool, icecat.LoadOptions{NoVectors: true})
	ps := icecat.Products(t)
	hidden := hiddenHalf(ps)
	var hiddenIDs []int64
	truth := map[int64]string{}
	for _, p := range ps {
		// A label is a word: 145 processors carry "1" (and one "16"), a count that landed in
		// the type attribute; prodtype ignores such values too.
		if strings.ContainsFunc(p.ProductType, unicode.IsLetter) {
			truth[p.ID] = p.ProductType
		}
		if hidden[p.ID] {
			hiddenIDs = append(hiddenIDs, p.ID)
		}
	}
	_, err := db.Pool.Exec(ctx, `UPDATE skus SET product_type = '', category = 'eval-hidden' WHERE id = ANY($1)`, hiddenIDs)
	require.NoError(t, err)
	// The index's product_type is the type learned from titles (package prodtype); the feed's
	// labels the evals seed from travel in category instead.
	_, err = db.Pool.Exec(ctx, `UPDATE skus SET category = 'eval:' || product_type WHERE product_type <> ''`)
	require.NoError(t, err)

	all := icecat.Vectors(t, e)
	untyped := untypedVectors(t, e, ps)
	vi, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Exact: true})
	require.NoError(t, err)
	tg, err := tagger.New(db.Pool, vi, e, tagger.Config{SaveInterval: -1})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	for _, p := range ps {
		o, ok := tg.Index().Ordinal(p.ID)
		require.True(t, ok)
		v := all[p.ID]
		if u, ok := untyped[p.ID]; ok {
			v = u
		}
		require.NoError(t, vi.Put(o, p.ID, v))
	}
	return &taggingFixture{tg: tg, ps: ps, hidden: hidden, truth: truth}
}

type prf struct{ p, r, f float64 }

func score(tp, fp, fn int) prf {
	var s prf
	if tp+fp > 0 {
		s.p = float64(tp) / float64(tp+fp)
	}
	if tp+fn > 0 {
		s.r = float64(tp) / float64(tp+fn)
	}
	if s.p+s.r > 0 {
		s.f = 2 * s.p * s.r / (s.p + s.r)
	}
	return s
}

// Propagation: for every product type with >= 10 labelled products, a propagated tag seeded
// with the visible half of that type, voting among the visible labelled products, reaches the
// hidden half. Precision, recall and F1 per type over the hidden labelled products, at the
// default balance; the balance itself is checked by cross-validation over the types (each fold
// picks the balance best on the other folds' types and is scored on its own).
func TestTaggingPropagation(t *testing.T) {
	f := newTaggingFixture(t)
	ctx := context.Background()
	types := evalTypes(f.ps)
	labelled := filter.And(filter.Not(filter.Attr("category", "")), filter.Not(filter.Attr("category", "eval-hidden")))
	scope := filter.Attr("category", "eval-hidden")
	// run propagates type i's tag at a balance and scores it on the hidden products (the tags
	// at the default balance are named prop-i).
	runs := 0
	run := func(i int, balance float64) (prf, int, int) {
		typ := types[i]
		seeds := filter.Attr("category", "eval:"+typ)
		name := fmt.Sprintf("prop-%d", i)
		if balance != 0 {
			runs++
			name = fmt.Sprintf("prop-%d-try-%d", i, runs)
		}
		def := tagger.TagDef{Name: name, Kind: tagger.KindPropagated,
			Definition: tagger.Definition{Seeds: &seeds, Reference: &labelled, Scope: &scope, Balance: balance}}
		_, err := f.tg.Define(ctx, def)
		require.NoError(t, err)
		members, err := f.tg.Index().Eval(filter.Tag(def.Name))
		require.NoError(t, err)
		tp, fp, fn, hiddenN := 0, 0, 0, 0
		for _, p := range f.ps {
			if !f.hidden[p.ID] {
				continue
			}
			o, _ := f.tg.Index().Ordinal(p.ID)
			pred := members.Contains(uint64(o))
			want := f.truth[p.ID] == typ
			if want {
				hiddenN++
			}
			switch {
			case pred && want:
				tp++
			case pred && !want:
				fp++
			case !pred && want:
				fn++
			}
		}
		return score(tp, fp, fn), hiddenN, tp + fp
	}

	// The balances tried, no correction first; F1 per balance and type.
	grid := []float64{-1, 0.1, 0.2, 0.3, 0.4, 0.5}
	f1 := make([][]float64, len(grid))
	for g, b := range grid {
		f1[g] = make([]float64, len(types))
		for i := range types {
			s, _, _ := run(i, b)
			f1[g][i] = s.f
		}
	}
	const folds = 6
	var cv strings.Builder
	var heldOut float64
	for k := 0; k < folds; k++ {
		bestG, bestTrain := 0, -1.0
		for g := range grid {
			var sum float64
			n := 0
			for i := range types {
				if i%folds != k {
					sum += f1[g][i]
					n++
				}
			}
			if m := sum / float64(n); m > bestTrain+1e-9 {
				bestG, bestTrain = g, m
			}
		}
		var sum float64
		n := 0
		for i := range types {
			if i%folds == k {
				sum += f1[bestG][i]
				n++
			}
		}
		heldOut += sum
		fmt.Fprintf(&cv, "fold %d (%d types): balance %.1f, train macro-F1 %.3f, held-out %.3f\n", k, n, grid[bestG], bestTrain, sum/float64(n))
	}
	heldOut /= float64(len(types))
	none := 0.0
	for i := range types {
		none += f1[0][i]
	}
	none /= float64(len(types))
	fmt.Fprintf(&cv, "held-out macro-F1 over the folds %.3f (no correction %.3f)", heldOut, none)

	var report strings.Builder
	fmt.Fprintf(&report, "%-28s %6s %6s %6s %6s %6s\n", "product type", "hidden", "pred", "P", "R", "F1")
	var macro float64
	var totTP, totPred, totHidden int
	for i, typ := range types {
		s, hiddenN, pred := run(i, 0)
		macro += s.f
		tp := int(math.Round(s.r * float64(hiddenN)))
		totTP, totPred, totHidden = totTP+tp, totPred+pred, totHidden+hiddenN
		fmt.Fprintf(&report, "%-28s %6d %6d %6.2f %6.2f %6.2f\n", typ, hiddenN, pred, s.p, s.r, s.f)
	}
	macro /= float64(len(types))
	micro := score(totTP, totPred-totTP, totHidden-totTP)
	fmt.Fprintf(&report, "macro-F1 %.3f over %d types; micro P %.3f R %.3f F1 %.3f", macro, len(types), micro.p, micro.r, micro.f)
	t.Logf("propagation (k=%d, weighted majority vote, balance %.1f) from the visible half:\n%s\nbalance by cross-validation over the types:\n%s",
		tagger.DefaultK, tagger.DefaultBalance, report.String(), cv.String())
	require.GreaterOrEqual(t, heldOut, floorPropagationHeldOutF1, "held-out macro-F1 fell below its floor")

	// An explanation names the neighbours and their votes.
	for _, p := range f.ps {
		if f.hidden[p.ID] && f.truth[p.ID] == types[0] {
			ex, err := f.tg.Explain(ctx, "prop-0", p.ID)
			require.NoError(t, err)
			require.Len(t, ex.Neighbours, tagger.DefaultK)
			require.NotEmpty(t, ex.Why)
			break
		}
	}
	require.GreaterOrEqual(t, macro, floorPropagationMacroF1, "macro-F1 fell below its floor")
}

// minJudged: a prototype tag with fewer members of known product type is not scored (its
// precision would rest on a handful of products). Notebook and PC are the usual cases: their
// members are mostly HP "Notebook PC" / "Microtower PC" products, which carry no label.
const minJudged = 5

// Prototype tags for ten product types described in plain words: precision of their members
// among the members whose product type is known (the others cannot be judged).
func TestTaggingPrototypes(t *testing.T) {
	f := newTaggingFixture(t)
	ctx := context.Background()
	descs := []struct{ typ, desc string }{
		{"Processor", "a CPU processor chip for a desktop or server computer"},
		{"Notebook", "a laptop notebook computer"},
		{"Headphones", "headphones for listening to music"},
		{"Desktop Board", "a motherboard for a desktop PC"},
		{"PC", "a desktop tower PC computer"},
		{"Headset", "a headset with a microphone for calls"},
		{"Network Interface Card", "a network interface card, an ethernet adapter for a server"},
		{"Battery", "a rechargeable battery pack"},
		{"Chromebook", "a Chromebook laptop running Chrome OS"},
		{"Drip coffee maker", "a drip coffee maker machine for the kitchen"},
	}
	labelled := map[string]int{}
	for _, typ := range f.truth {
		labelled[typ]++
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%-24s %8s %8s %8s %8s %9s %7s %7s  %s\n", "product type", "members", "labelled", "judged", "correct", "precision", "recall", "thresh", "judged members of other types")
	var sum, sumRecall float64
	scored := 0
	keptOut := map[string]int{} // per tag: SKUs above the threshold kept out as other kinds
	for i, d := range descs {
		name := fmt.Sprintf("proto-%d", i)
		_, err := f.tg.Define(ctx, tagger.TagDef{Name: name, Kind: tagger.KindPrototype,
			Definition: tagger.Definition{Descriptions: []string{d.desc}}})
		require.NoError(t, err)
		members, err := f.tg.Index().Eval(filter.Tag(name))
		require.NoError(t, err)
		judged, correct := 0, 0
		wrong := map[string]int{}
		for _, id := range f.tg.Index().SKUIDs(members, 0) {
			if typ, ok := f.truth[id]; ok {
				judged++
				if typ == d.typ {
					correct++
				} else {
					wrong[typ]++
				}
			}
		}
		prec := 0.0
		if judged > 0 {
			prec = float64(correct) / float64(judged)
		}
		c, err := f.tg.Calibration(name)
		require.NoError(t, err)
		// A SKU of another kind than the types the description names stays out however near
		// it lies, and its explanation says so.
		if len(c.Prototypes) == 1 && c.Prototypes[0].KindsOnly && judged > correct {
			kept := 0
			for id := range f.truth {
				o, ok := f.tg.Index().Ordinal(id)
				if !ok || members.Contains(uint64(o)) {
					continue
				}
				ex, err := f.tg.Explain(ctx, name, id)
				require.NoError(t, err)
				if strings.Contains(ex.Why, "another kind") {
					require.GreaterOrEqual(t, ex.Similarity, ex.Threshold)
					kept++
				}
			}
			keptOut[d.typ] = kept
		}
		// Recall: the share of the products labelled with the type that the tag holds.
		recall := float64(correct) / float64(max(1, labelled[d.typ]))
		sumRecall += recall
		shown := fmt.Sprintf("%9.2f", prec)
		if judged < minJudged {
			shown = "      n/a"
		} else {
			sum += prec
			scored++
		}
		fmt.Fprintf(&report, "%-24s %8d %8d %8d %8d %s %7.2f %7.3f  %s\n", d.typ, members.GetCardinality(), labelled[d.typ], judged, correct, shown, recall, c.Threshold, topWrong(wrong, 3))
	}
	mean := sum / float64(max(1, scored))
	meanRecall := sumRecall / float64(len(descs))
	fmt.Fprintf(&report, "mean precision %.3f over the %d tags with >= %d judged members; macro recall %.3f over all %d (of the products the feed labels with the type)", mean, scored, minJudged, meanRecall, len(descs))
	t.Logf("prototype tags (per prototype: knee threshold; the types it names join at the type floor; other kinds only when their SKUs lie as near as those of the types named):\n%s\nSKUs above the threshold kept out as other kinds: %v", report.String(), keptOut)
	require.GreaterOrEqual(t, scored, 6, "too few prototype tags have judged members")
	require.NotEmpty(t, keptOut, "no prototype named a type")
	total := 0
	for _, n := range keptOut {
		total += n
	}
	require.Positive(t, total, "no SKU of another kind was kept out")
	require.GreaterOrEqual(t, mean, floorPrototypePrecision, "prototype precision fell below its floor")
	require.GreaterOrEqual(t, meanRecall, floorPrototypeRecall, "prototype recall fell below its floor")
}

// Discovery: spherical k-means over the whole catalogue (the default k); each cluster's purity
// is the share of its labelled members that carry its majority label, and coverage the share
// of all labelled products that sit in a cluster whose majority label is their own.
func TestTaggingDiscovery(t *testing.T) {
	f := newTaggingFixture(t)
	ctx := context.Background()
	made, err := f.tg.Discover(ctx, tagger.DiscoverOptions{Family: "eval"})
	require.NoError(t, err)
	require.NotEmpty(t, made)
	var purity float64
	judged, covered, labelled := 0, 0, len(f.truth)
	for _, d := range made {
		members, err := f.tg.Index().Eval(filter.Tag(d.Name))
		require.NoError(t, err)
		count := map[string]int{}
		n := 0
		for _, id := range f.tg.Index().SKUIDs(members, 0) {
			if typ, ok := f.truth[id]; ok {
				count[typ]++
				n++
			}
		}
		if n < minJudged {
			continue
		}
		best := 0
		for _, c := range count {
			best = max(best, c)
		}
		purity += float64(best) / float64(n)
		judged++
		covered += best
	}
	meanPurity := purity / float64(max(1, judged))
	coverage := float64(covered) / float64(max(1, labelled))
	t.Logf("discovered clusters: %d; %d with >= %d labelled members, mean purity %.3f; coverage %.3f of the %d labelled products (in a cluster whose majority label is theirs)",
		len(made), judged, minJudged, meanPurity, coverage, labelled)
	require.GreaterOrEqual(t, meanPurity, floorDiscoveryPurity)
	require.GreaterOrEqual(t, coverage, floorDiscoveryCoverage)
}

// topWrong lists the n commonest other types among a tag's judged members, with their counts.
func topWrong(wrong map[string]int, n int) string {
	types := make([]string, 0, len(wrong))
	for t := range wrong {
		types = append(types, t)
	}
	sort.Slice(types, func(a, b int) bool {
		if wrong[types[a]] != wrong[types[b]] {
			return wrong[types[a]] > wrong[types[b]]
		}
		return types[a] < types[b]
	})
	var parts []string
	for _, t := range types[:min(n, len(types))] {
		parts = append(parts, fmt.Sprintf("%s %d", t, wrong[t]))
	}
	return strings.Join(parts, ", ")
}

// demoTagRules labels the demo's title-based tags (prototype tags and gaming) by their products' titles.
var demoTagRules = filepath.Join("testdata", "tags", "demo_tags.json")

// Floors for the demo's title-based tags (macro over the five), set a little below the values
// measured on 2026-12-04: precision 0.577 (gaming 0.01: the "gaming mouse" prototype's
// threshold admits every mouse, keyboard and headset), recall 0.802; then 0.802 / 0.852 with
// gaming a rule tag over its titles' words and networking and storage described anew; on
// 2026-12-05 0.810 / 0.843, after the product-type changes of that day (a title's first
// segment, device types, head-word kinds) and no description naming a weak type (the
// "ethernet adapter" prototype had taken the whole "adapter" type, video adapters too: 0.755).
const (
	floorDemoTagPrecision = 0.77
	floorDemoTagRecall    = 0.82
)

// The demo's prototype tags (tagger.DemoTags) hold what their names say: precision and recall
// of their members against title labels (testdata/tags/demo_tags.json), over the whole
// catalogue with the types the tagger learns. Logged per tag, with samples of each side's
// disagreements when EVALS_PER_QUERY is set.
func TestDemoTagsPrecisionRecall(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the Icecat catalogue")
	}
	ctx := context.Background()
	s := stack(t, search.Config{})
	rules, err := ReadScenarioRules(demoTagRules)
	require.NoError(t, err)
	ps := icecat.Products(t)
	docs := make([]LabelDoc, len(ps))
	title := map[int64]string{}
	for i, p := range ps {
		docs[i] = LabelDoc{ID: p.ID, Title: p.Title, Description: p.ShortDescription}
		title[p.ID] = p.Title
	}
	labels, err := Label(rules, docs, nil)
	require.NoError(t, err)
	defs := map[string]tagger.TagDef{}
	for _, d := range tagger.DemoTags() {
		defs[d.Name] = d
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%-18s %8s %8s %8s %9s %7s\n", "tag", "members", "labelled", "correct", "precision", "recall")
	var sumP, sumR float64
	for _, name := range labels.Scenarios {
		d, ok := defs[name]
		require.True(t, ok, "no demo tag %q", name)
		_, err := s.Tags.Define(ctx, d)
		require.NoError(t, err)
		bm, err := s.Tags.Index().Eval(filter.Tag(name))
		require.NoError(t, err)
		ids := s.Tags.Index().SKUIDs(bm, 0)
		sc := ScorePool(name, ids, labels.Members[name])
		sumP, sumR = sumP+sc.Precision, sumR+sc.Recall
		fmt.Fprintf(&report, "%-18s %8d %8d %8d %9.2f %7.2f\n", name, sc.Pool, sc.Members, sc.Hits, sc.Precision, sc.Recall)
		if os.Getenv("EVALS_PER_QUERY") != "" {
			in := map[int64]bool{}
			n := 0
			for _, id := range ids {
				in[id] = true
				if !labels.Members[name][id] && n < 15 {
					fmt.Fprintf(&report, "    member, not labelled: %s\n", title[id])
					n++
				}
			}
			n = 0
			for id := range labels.Members[name] {
				if !in[id] && n < 15 {
					fmt.Fprintf(&report, "    labelled, not member: %s\n", title[id])
					n++
				}
			}
		}
	}
	n := float64(len(labels.Scenarios))
	fmt.Fprintf(&report, "macro precision %.3f, recall %.3f over %d tags", sumP/n, sumR/n, len(labels.Scenarios))
	t.Logf("demo prototype tags against title labels:\n%s", report.String())
	require.GreaterOrEqual(t, sumP/n, floorDemoTagPrecision)
	require.GreaterOrEqual(t, sumR/n, floorDemoTagRecall)
}
