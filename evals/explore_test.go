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

func TestExploreMemberTypes(t *testing.T) {
	if os.Getenv("EXPLORE_TYPES") == "" {
		t.Skip("exploration")
	}
	s := stack(t, search.Config{})
	j, _, err := ReadPoolJudgmentsFile(poolJudgmentsFile)
	require.NoError(t, err)
	ix := s.Tags.Index()
	fmt.Println("weak types:", s.Tags.WeakTypes())
	for _, sc := range j.Scenarios {
		c := map[string]int{}
		for id := range j.Members[sc] {
			o, _ := ix.Ordinal(id)
			c[s.Tags.TypeOf(o)]++
		}
		type kv struct {
			k string
			v int
		}
		var kvs []kv
		for k, v := range c {
			kvs = append(kvs, kv{k, v})
		}
		sort.Slice(kvs, func(a, b int) bool { return kvs[a].v > kvs[b].v })
		var parts []string
		for i, x := range kvs {
			if i < 6 {
				parts = append(parts, fmt.Sprintf("%q %d", x.k, x.v))
			}
		}
		fmt.Printf("%-45s %4d: %s\n", sc, len(j.Members[sc]), strings.Join(parts, ", "))
	}
}

func TestExploreCoherence(t *testing.T) {
	if os.Getenv("EXPLORE_COH") == "" {
		t.Skip("exploration")
	}
	s := stack(t, search.Config{})
	names, cents := s.Tags.TypeCentroids()
	ix := s.Tags.Index()
	type row struct {
		n    string
		size uint64
		coh  float64
	}
	var rows []row
	for i, n := range names {
		bm, _ := ix.Eval(tagger.Attr("product_type", n))
		var sum float64
		k := 0
		it := bm.Iterator()
		for it.HasNext() && k < 300 {
			v, ok := s.Vectors.Vector(int64(it.Next()))
			if !ok {
				continue
			}
			var d float32
			for j := range v {
				d += v[j] * cents[i][j]
			}
			sum += float64(d)
			k++
		}
		rows = append(rows, row{n, bm.GetCardinality(), sum / float64(max(k, 1))})
	}
	sort.Slice(rows, func(a, b int) bool { return rows[a].size > rows[b].size })
	for _, r := range rows[:min(120, len(rows))] {
		fmt.Printf("%-40s %5d %.3f\n", r.n, r.size, r.coh)
	}
}
