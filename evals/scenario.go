package evals

import (
	"context"
	"fmt"
	"math"

	"selection/search"
	"selection/selection"
	"selection/tagger"
)

// Scenario is the real scenario path the service runs: the deterministic planner turns a
// query into a plan (filters, query, ranking), the selection engine filters the tag index into
// a candidate bitmap, and the search engine ranks the candidates.
type Scenario struct {
	Tags   *tagger.Index
	Search *search.Engine
	// Intents, when set, puts the product types a query means into its plan.
	Intents selection.IntentResolver
	vocab   selection.Vocabulary
}

// NewScenario builds the scenario path over a loaded tag index and a search engine. The
// planner's vocabulary is the index's brands and tags, as the service gives it.
func NewScenario(tags *tagger.Index, eng *search.Engine) (*Scenario, error) {
	v, err := selection.IndexVocabulary(tags)
	if err != nil {
		return nil, fmt.Errorf("evals: %w", err)
	}
	return &Scenario{Tags: tags, Search: eng, vocab: v}, nil
}

// Method evaluates the scenario path with the search engine answering by m.
func (s *Scenario) Method(m search.Method) Method {
	eng := &selection.Engine{Index: s.Tags, Retriever: search.Retriever{Engine: s.Search, Method: m}}
	svc := &selection.Service{Engine: eng, Vocabulary: func() selection.Vocabulary { return s.vocab }}
	if s.Intents != nil {
		svc.Intents = s.Intents
	}
	return Method{Name: string(m), Rank: func(ctx context.Context, query string, k int) (Ranked, error) {
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
