package evals

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/filter"
	"selection/internal/icecat"
	"selection/search"
	"selection/selection"
)

var update = flag.Bool("update", false, "rewrite testdata/scenarios/judgments.csv from scenarios.json")

var (
	scenarioRulesFile = filepath.Join("testdata", "scenarios", "scenarios.json")
	poolJudgmentsFile = filepath.Join("testdata", "scenarios", "judgments.csv")
)

// labelScenarios applies the scenario rules to the loaded catalogue.
func labelScenarios(t testing.TB, s *Stack) *PoolJudgments {
	t.Helper()
	rules, err := ReadScenarioRules(scenarioRulesFile)
	require.NoError(t, err)
	ps := icecat.Products(t)
	docs := make([]LabelDoc, len(ps))
	for i, p := range ps {
		docs[i] = LabelDoc{ID: p.ID, Title: p.Title, Description: p.ShortDescription}
	}
	ix := s.Tags.Index()
	j, err := Label(rules, docs, func(f string) (map[int64]bool, error) {
		e, err := filter.ParseExpr(f)
		if err != nil {
			return nil, err
		}
		bm, err := ix.Eval(e)
		if err != nil {
			return nil, err
		}
		return idsOf(bm, ix.SKUID), nil
	})
	require.NoError(t, err)
	return j
}

// The committed judgments are what the rules give (run with -update after changing a rule),
// and every scenario has members.
func TestScenarioLabels(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the Icecat catalogue")
	}
	s := stack(t, search.Config{})
	j := labelScenarios(t, s)
	var b bytes.Buffer
	require.NoError(t, WritePoolJudgments(&b, j))
	if *update {
		require.NoError(t, os.WriteFile(poolJudgmentsFile, b.Bytes(), 0o644))
	}
	got, err := os.ReadFile(poolJudgmentsFile)
	require.NoError(t, err)
	require.Equal(t, b.String(), string(got), "judgments.csv is stale: go test ./evals -run TestScenarioLabels -update")
	for _, sc := range j.Scenarios {
		require.GreaterOrEqual(t, len(j.Members[sc]), 3, sc)
	}
}

func TestReadPoolJudgments(t *testing.T) {
	j, bad, err := ReadPoolJudgments(strings.NewReader("scenario,sku_id\nlaptop bags,12\nlaptop bags,x\nlaptop bags,13\nmice,12\n,4\n"))
	require.NoError(t, err)
	require.Len(t, bad, 2)
	require.Equal(t, []string{"laptop bags", "mice"}, j.Scenarios)
	require.Len(t, j.Members["laptop bags"], 2)
	_, _, err = ReadPoolJudgments(strings.NewReader("query,docid,rating\n"))
	require.ErrorContains(t, err, "want scenario,sku_id")

	s := ScorePool("x", []int64{1, 2, 3, 4}, map[int64]bool{1: true, 2: true, 9: true})
	require.InDelta(t, 0.5, s.Precision, 1e-9)
	require.InDelta(t, 2.0/3, s.Recall, 1e-9)
	require.InDelta(t, 4.0/7, s.F1, 1e-9)
	require.True(t, ScorePool("y", nil, map[int64]bool{1: true}).EmptyWhileMembers)
}

// servedIntents is the resolver as the service runs it: with the aliases learned from the
// public keyword judgments (the demo's SELECTION_JUDGED_QUERIES), which are other data than
// the scenarios' labels.
func servedIntents(t testing.TB, s *Stack) *search.Intents {
	return s.Intents.WithAliases(search.NewAliases(publicJudgments(t).Exact()))
}

// poolRunner runs a scenario through the planner (with intents when in is set) and the engine.
func poolRunner(s *Stack, in selection.IntentResolver) PoolRunner {
	sc := *s.Scenario
	sc.Intents = in
	return sc.Pools()
}

func TestScenarioPools(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the Icecat catalogue")
	}
	ctx := context.Background()
	s := stack(t, search.Config{})
	j, bad, err := ReadPoolJudgmentsFile(poolJudgmentsFile)
	require.NoError(t, err)
	require.Empty(t, bad)

	before, err := EvaluatePools(ctx, j, poolRunner(s, nil), 1000)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, WritePoolTable(&b, before))
	t.Logf("without intents:\n%s", b.String())

	after, err := EvaluatePools(ctx, j, poolRunner(s, servedIntents(t, s)), 1000)
	require.NoError(t, err)
	b.Reset()
	require.NoError(t, WritePoolTable(&b, after))
	t.Logf("with intents (default config):\n%s", b.String())

	// Floors from the values measured on 2026-12-04 (evals/README.md), a little below them.
	bs, as := SummarizePools(before), SummarizePools(after)
	require.GreaterOrEqual(t, bs.F1, floorPoolF1NoIntent, "search alone")
	require.GreaterOrEqual(t, as.F1, floorPoolF1Intent, "with intents")
	require.Greater(t, as.F1, bs.F1+0.2, "intents must make much better pools than search alone")
	require.LessOrEqual(t, as.Empty, 1, "empty pools although members exist")

	// A class word ("accessories", whose types lie far apart) is not a kind: "laptop
	// accessories" are the accessories of notebooks (prodtype's relation, "laptop" by the
	// judged queries' aliases), not every "* accessory" type.
	in := servedIntents(t, s)
	it, err := in.Resolve(ctx, "laptop accessories")
	require.NoError(t, err)
	require.Contains(t, it.Names(), "notebook case")
	require.Contains(t, it.Names(), "notebook stand")
	require.NotContains(t, it.Names(), "rack accessory")
	it, err = in.Resolve(ctx, "camera accessories")
	require.NoError(t, err)
	require.Contains(t, it.Names(), "camera case")
	require.NotContains(t, it.Names(), "rack accessory")
	// The "gaming accessories under $50 ...": no type is clear, and the scenario is
	// searched as "gaming" (it gave 4 SKUs, rack accessories first), not "gaming accessories".
	svc := &selection.Service{Executor: &selection.Executor{Index: s.Tags.Index(), Retriever: search.Retriever{Searcher: s.Searcher}},
		Vocabulary: func() selection.Vocabulary { v, _ := selection.IndexVocabulary(s.Tags.Index()); return v }, Intents: in}
	pr, err := svc.PlanScenario(ctx, "gaming accessories under $50 in stock, no refurbished, best sellers", "")
	require.NoError(t, err)
	require.Nil(t, pr.Plan.Intent)
	require.Equal(t, "gaming", pr.Plan.Query)
	pr.Plan.Limit = 1000
	res, err := svc.Preview(ctx, pr.Plan)
	require.NoError(t, err)
	require.Greater(t, len(res.Items), 10)
	mice := 0
	for _, item := range res.Items {
		if ty := s.Tags.TypeOfSKU(item.SKUID); ty == "mouse" || ty == "mouse pad" {
			mice++
		}
		require.NotEqual(t, "rack accessory", s.Tags.TypeOfSKU(item.SKUID))
	}
	require.Greater(t, mice, 1)

	// A type broader than the phrase that names it keeps only its SKUs that say the phrase's
	// kind words: "fibre optic patch cables" holds the patch cables that say fibre (or fiber)
	// or optic, not the copper ones.
	it, err = in.Resolve(ctx, "fibre optic patch cables")
	require.NoError(t, err)
	var patch *selection.IntentType
	for i := range it.Types {
		if it.Types[i].Name == "patch cable" {
			patch = &it.Types[i]
		}
	}
	require.NotNil(t, patch, "types %v", it.Names())
	require.ElementsMatch(t, []string{"fibre", "optic"}, patch.Mentions)
	res, err = svc.Preview(ctx, selection.Plan{Version: selection.PlanVersion, Query: "fibre optic patch cables",
		Intent: &selection.Intent{Types: []selection.IntentType{*patch}}, Ranking: selection.Ranking{By: selection.SortSales}, Limit: 1000})
	require.NoError(t, err)
	says := search.Retriever{Searcher: s.Searcher}.Mentioning([]string{"fiber", "optic"})
	require.Greater(t, len(res.Items), 50)
	require.Less(t, len(res.Items), s.Tags.TypeSize("patch cable")/2)
	for _, item := range res.Items {
		require.True(t, says.Contains(uint64(item.Ordinal)), "SKU %d says neither fiber nor optic", item.SKUID)
	}

	// Each phrase of two words or more widens by itself: a mouse pad typed "wrist rest" holds
	// "mouse pad", not "mouse pad mat"; a one-word phrase names too little.
	it, err = in.Resolve(ctx, "mouse pads, mats")
	require.NoError(t, err)
	require.Equal(t, []string{"mouse pads"}, it.Phrases)

	// The feed's "Desktop Board"s are what their titles call them, motherboards: the planner's
	// word names them as a kind of motherboard, whatever the weight of unnamed types.
	it, err = in.WithConfig(search.IntentConfig{Unnamed: 0.25}).Resolve(ctx, "motherboards for pc builders")
	require.NoError(t, err)
	require.Contains(t, it.Names(), "desktop board")
	require.Contains(t, it.Names(), "motherboard")
	// Tablets are typed by the supplier's device type (their titles name none), and the
	// Tripp Lite UPSes by the acronym in their titles' first segment, not by "LCD Display"
	// after a comma.
	require.Equal(t, "full-size tablet", s.Tags.TypeOfSKU(79039940))
	require.Equal(t, "uninterruptible power supply", s.Tags.TypeOfSKU(1667811))

	// A planner's acronym names the type whose name it abbreviates, when the type's own SKUs
	// use it: "UPS" is an uninterruptible power supply (no judged query says so).
	it, err = in.Resolve(ctx, "UPS")
	require.NoError(t, err)
	require.Contains(t, it.Names(), "uninterruptible power supply")
	require.Contains(t, it.Types[0].Why, `"ups" is the acronym of`)
}

const (
	floorPoolF1NoIntent = 0.30 // measured 0.370 (the held-out set outside the project: 0.36)
	floorPoolF1Intent   = 0.79 // measured 0.813 on 2026-12-05 (0.789 the day before; with the aliases the public keyword judgments teach)
)
