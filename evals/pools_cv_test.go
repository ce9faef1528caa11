package evals

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/search"
	"selection/selection"
)

// intentCase is one judged scenario with what intent resolution needs, computed once.
type intentCase struct {
	scenario string
	plan     selection.Plan
	ev       search.Evidence
	members  map[int64]bool
}

// intentBench evaluates intent configurations over judged scenarios, running each distinct
// intent of a scenario once.
type intentBench struct {
	cases []intentCase
	run   func(ctx context.Context, plan selection.Plan) ([]int64, error)
	memo  map[string]PoolScore
}

func newIntentBench(t testing.TB, s *Stack, j *PoolJudgments) *intentBench {
	ctx := context.Background()
	eng := &selection.Executor{Index: s.Tags.Index(), Retriever: search.Retriever{Searcher: s.Searcher}}
	vocab, err := selection.IndexVocabulary(s.Tags.Index())
	require.NoError(t, err)
	svc := &selection.Service{Executor: eng, Vocabulary: func() selection.Vocabulary { return vocab }}
	b := &intentBench{memo: map[string]PoolScore{}, run: func(ctx context.Context, plan selection.Plan) ([]int64, error) {
		res, err := svc.Preview(ctx, plan)
		if err != nil {
			return nil, err
		}
		ids := make([]int64, len(res.Items))
		for i, it := range res.Items {
			ids[i] = it.SKUID
		}
		return ids, nil
	}}
	in := servedIntents(t, s)
	for _, sc := range j.Scenarios {
		pr, err := svc.PlanScenario(ctx, sc, "")
		require.NoError(t, err)
		pr.Plan.Limit = 1000
		text := selection.NewParser(vocab).Parse(sc).ProductText
		ev, err := in.Evidence(ctx, text)
		require.NoError(t, err)
		b.cases = append(b.cases, intentCase{scenario: sc, plan: pr.Plan, ev: ev, members: j.Members[sc]})
	}
	return b
}

// score runs case i with configuration c.
func (b *intentBench) score(t testing.TB, i int, c search.IntentConfig) PoolScore {
	k := b.cases[i]
	it := c.DecideEvidence(k.ev)
	key := fmt.Sprintf("%d|%s", i, strings.Join(it.Names(), "|"))
	if s, ok := b.memo[key]; ok {
		return s
	}
	plan := k.plan
	if len(it.Types) > 0 {
		plan.Intent = &it
	}
	ids, err := b.run(context.Background(), plan)
	require.NoError(t, err)
	s := ScorePool(k.scenario, ids, k.members)
	s.Types = it.Names()
	b.memo[key] = s
	return s
}

func (b *intentBench) meanF1(t testing.TB, idx []int, c search.IntentConfig) float64 {
	var f float64
	for _, i := range idx {
		f += b.score(t, i, c).F1
	}
	return f / float64(max(len(idx), 1))
}

// intentGrid is the grid the cross-validation searches (each with the other defaults).
func intentGrid() []search.IntentConfig {
	var out []search.IntentConfig
	for _, lw := range []float64{1, 2, 3} {
		for _, sw := range []float64{-1, 0.5, 1} {
			for _, keep := range []float64{0.4, 0.6, 0.8} {
				for _, ms := range []float64{0.4, 0.6, 0.8} {
					for _, un := range []float64{0.25, 0.5} {
						for _, kin := range []float64{0.97, -1} {
							for _, ml := range []float64{0.1, 0.2, 0.4} {
								out = append(out, search.IntentConfig{LexicalWeight: lw, SemanticWeight: sw, Keep: keep,
									MinScore: ms, Unnamed: un, KinCos: kin, MinLex: ml}.WithDefaults())
							}
						}
					}
				}
			}
		}
	}
	return out
}

func cfgString(c search.IntentConfig) string {
	return fmt.Sprintf("lex %.2g sem %.2g keep %.2g min %.2g unnamed %.2g kin %.2g min-lex %.2g",
		c.LexicalWeight, c.SemanticWeight, c.Keep, c.MinScore, c.Unnamed, c.KinCos, c.MinLex)
}

// Cross-validation of the intent weights over scenarios: five folds by a hash of the scenario
// text; each fold's configuration is the best on the other four; the held-out folds' F1 is what
// the weights are worth on scenarios they were not fitted to.
func TestIntentCrossValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the Icecat catalogue")
	}
	s := stack(t, search.Config{})
	j, _, err := ReadPoolJudgmentsFile(poolJudgmentsFile)
	require.NoError(t, err)
	b := newIntentBench(t, s, j)
	grid := intentGrid()
	pos := map[string]int{}
	for i, k := range b.cases {
		pos[k.scenario] = i
	}
	folds := Folds(j.Scenarios, 5)
	var rep strings.Builder
	var heldTotal float64
	var heldN int
	for f, fold := range folds {
		test := map[int]bool{}
		var testIdx, trainIdx []int
		for _, sc := range fold {
			test[pos[sc]] = true
			testIdx = append(testIdx, pos[sc])
		}
		for i := range b.cases {
			if !test[i] {
				trainIdx = append(trainIdx, i)
			}
		}
		best, bestF := grid[0], -1.0
		for _, c := range grid {
			if v := b.meanF1(t, trainIdx, c); v > bestF+1e-9 {
				best, bestF = c, v
			}
		}
		held := b.meanF1(t, testIdx, best)
		def := b.meanF1(t, testIdx, search.IntentConfig{}.WithDefaults())
		heldTotal += held * float64(len(testIdx))
		heldN += len(testIdx)
		fmt.Fprintf(&rep, "fold %d (%d scenarios): train F1 %.3f, held-out F1 %.3f (defaults %.3f) with %s\n", f, len(testIdx), bestF, held, def, cfgString(best))
	}
	all := make([]int, len(b.cases))
	for i := range all {
		all[i] = i
	}
	type ranked struct {
		c search.IntentConfig
		f float64
	}
	var rs []ranked
	for _, c := range grid {
		rs = append(rs, ranked{c, b.meanF1(t, all, c)})
	}
	sort.SliceStable(rs, func(a, b int) bool { return rs[a].f > rs[b].f })
	fmt.Fprintf(&rep, "held-out macro F1 over all folds: %.3f\n", heldTotal/float64(heldN))
	fmt.Fprintf(&rep, "defaults on all scenarios: %.3f (%s)\n", b.meanF1(t, all, search.IntentConfig{}.WithDefaults()), cfgString(search.IntentConfig{}.WithDefaults()))
	for _, r := range rs[:5] {
		fmt.Fprintf(&rep, "  best on all: %.3f %s\n", r.f, cfgString(r.c))
	}
	t.Logf("intent cross-validation (%d configurations):\n%s", len(grid), rep.String())
	// Floor from the held-out F1 measured on 2026-12-05 (0.812; 0.773 on 2026-12-04, 0.728 and
	// 0.684 earlier that day); the defaults are among the best configurations on all scenarios.
	require.GreaterOrEqual(t, heldTotal/float64(heldN), 0.79) // measured 0.812
}
