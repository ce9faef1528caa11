package evals

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/search"
	"selection/selection"
	"selection/tagger"
)

func TestExploreIntents(t *testing.T) {
	qs := os.Getenv("EXPLORE_INTENTS")
	if qs == "" {
		t.Skip("exploration")
	}
	ctx := context.Background()
	s := stack(t, search.Config{})
	eng := &selection.Engine{Index: s.Tags.Index(), Retriever: search.Retriever{Engine: s.Engine}}
	v, _ := selection.IndexVocabulary(s.Tags.Index())
	svc := &selection.Service{Engine: eng, Intents: s.Intents.WithConfig(search.IntentConfig{NamedOnly: os.Getenv("ANY") == ""}), Vocabulary: func() selection.Vocabulary { return v }}
	for _, q := range strings.Split(qs, ";") {
		ev, _, err := s.Intents.Evidence(ctx, q)
		require.NoError(t, err)
		sort.Slice(ev, func(a, b int) bool {
			return ev[a].NameMatch+ev[a].Lex+ev[a].SemZ/8 > ev[b].NameMatch+ev[b].Lex+ev[b].SemZ/8
		})
		for i, e := range ev {
			if i < 6 {
				n, _ := s.Tags.Index().Count(tagger.Attr("product_type", e.Name))
				fmt.Printf("   ev %-30s n=%-4d name %.2f lex %.2f semz %.1f %s %s\n", e.Name, n, e.NameMatch, e.Lex, e.SemZ, e.Kind, e.AccessoryOf)
			}
		}
		pr, err := svc.PlanScenario(ctx, q, "")
		require.NoError(t, err)
		pr.Plan.Limit = 1000
		res, err := svc.Preview(ctx, pr.Plan)
		require.NoError(t, err)
		fmt.Printf("\n== %s\n query %q intent %+v\n matched %d items %d stop: %s\n", q, pr.Plan.Query, pr.Plan.Intent, res.Matched, len(res.Items), res.Stop)
		for i, it := range res.Items {
			if i >= 8 {
				break
			}
			r, _ := s.Tags.Index().Row(it.Ordinal)
			_ = r
			fmt.Printf("  %d %s | %s\n", it.SKUID, s.Tags.TypeOf(it.Ordinal), it.Why[:min(60, len(it.Why))])
		}
	}
}
