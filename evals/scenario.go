package evals

import (
	"context"
	"fmt"
	"math"

	"selection/filter"
	"selection/search"
	"selection/selection"
)

// Scenario is the real scenario path the service runs: the deterministic planner turns a
// query into a plan (filters, query, ranking), the selection engine filters the tag index into
// a candidate bitmap, and the search engine ranks the candidates.
type Scenario struct {
	Tags   *filter.Index
	Search *search.Searcher
	// Intents, when set, puts the product types a query means into its plan.
	Intents selection.IntentResolver
	vocab   selection.Vocabulary
}

// NewScenario builds the scenario path over a loaded tag index and a search engine. The
// planner's vocabulary is the index's brands and tags, as the service gives it.
func NewScenario(tags *filter.Index, eng *search.Searcher) (*Scenario, error) {
	v, err := selection.IndexVocabulary(tags)
	if err != nil {
		return nil, fmt.Errorf("evals: %w", err)
	}
	return &Scenario{Tags: tags, Search: eng, vocab: v}, nil
}

// Method evaluates the scenario path with the search engine answering by m.
func (s *Scenario) Method(m search.Method) Method {
	eng := &selection.Executor{Index: s.Tags, Retriever: search.Retriever{Searcher: s.Search, Method: m}}
	svc := &selection.Service{Executor: eng, Vocabulary: func() selection.Vocabulary { return s.vocab }}
	if s.Intents != nil {
		svc.Intents = s.Intents
	}
	return Method{Name: string(m), Rank: func(ctx context.Context, query string, k int) (Ranked, error) {
		ctx = search.WithQueryMemo(ctx)
		pr, err := svc.PlanScenario(ctx, query, selection.PlannerDeterministic)
		if err != nil {
			return Ranked{}, err
		}
		plan := pr.Plan
		plan.Limit = k
		res, err := svc.Preview(ctx, plan)
		if err != nil {
			return Ranked{}, err
		}
		r := Ranked{IDs: make([]int64, len(res.Items)), Confidence: float64(res.Confidence)}
		if plan.Query == "" {
			r.Confidence = math.NaN() // ranked by a field, not by relevance
		}
		for i, it := range res.Items {
			r.IDs[i] = it.SKUID
		}
		return r, nil
	}}
}

// Pools runs scenarios through the same path into pools: the planner (with the intents), the
// filter and the ranking, up to limit SKUs.
func (s *Scenario) Pools() PoolRunner {
	eng := &selection.Executor{Index: s.Tags, Retriever: search.Retriever{Searcher: s.Search}}
	svc := &selection.Service{Executor: eng, Vocabulary: func() selection.Vocabulary { return s.vocab }}
	if s.Intents != nil {
		svc.Intents = s.Intents
	}
	return func(ctx context.Context, scenario string, limit int) ([]int64, []string, error) {
		ctx = search.WithQueryMemo(ctx)
		pr, err := svc.PlanScenario(ctx, scenario, selection.PlannerDeterministic)
		if err != nil {
			return nil, nil, err
		}
		pr.Plan.Limit = limit
		res, err := svc.Preview(ctx, pr.Plan)
		if err != nil {
			return nil, nil, err
		}
		ids := make([]int64, len(res.Items))
		for i, it := range res.Items {
			ids[i] = it.SKUID
		}
		return ids, pr.Plan.Intent.Names(), nil
	}
}

// AsJudgments lists the members as judgments rated 1 (to find the products a file refers to).
func (j *PoolJudgments) AsJudgments() *Judgments {
	out := &Judgments{Queries: j.Scenarios, Ratings: map[string]map[int64]int{}}
	for sc, m := range j.Members {
		r := map[int64]int{}
		for id := range m {
			r[id] = 1
		}
		out.Ratings[sc] = r
	}
	return out
}
