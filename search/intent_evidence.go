package search

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/lexical"
	"selection/prodtype"
	"selection/vectorindex"
)

// lexicalShares adds to each type the weight of its SKUs among the query's best lexical
// matches (normalised by Evidence) and returns the total weight.
func (in *Intents) lexicalShares(ctx context.Context, ev *evidence, flat string) (float64, error) {
	lr, err := in.eng.lex.Search(ctx, flat, in.cfg.Depth, in.sample())
	if err == nil && len(lr.Hits) < in.cfg.Depth/4 && in.cfg.SampleSize > 0 && in.eng.lex.Len() > 4*in.cfg.SampleSize {
		lr, err = in.eng.lex.Search(ctx, flat, in.cfg.Depth, nil) // rare words: all of them
	}
	if err != nil {
		return 0, err
	}
	var total float64
	for _, h := range lr.Hits {
		ty := in.types.TypeOf(h.Ordinal)
		w := float64(h.Score) * float64(h.Coverage) * float64(h.Coverage)
		total += w
		if ty != "" {
			ev.get(ty).Lex += w
		}
	}
	return total, nil
}

// nearness sets, for the types the query's embedding is more than 2 standard deviations
// nearer than the others' centroids, how many it is.
func (in *Intents) nearness(ctx context.Context, ev *evidence, flat string, names []string, cents [][]float32) error {
	if len(cents) > 1 && in.eng.emb != nil {
		qv, err := in.eng.embedQuery(ctx, flat)
		if err != nil {
			return fmt.Errorf("search: embed query: %w", err)
		}
		cos := make([]float64, len(cents))
		var s, ss float64
		for i, c := range cents {
			cos[i] = float64(vectorindex.Dot(c, qv))
			s += cos[i]
		}
		mean := s / float64(len(cos))
		for _, c := range cos {
			ss += (c - mean) * (c - mean)
		}
		sd := math.Sqrt(ss / float64(len(cos)-1))
		for i, c := range cos {
			if sd > 0 {
				if z := (c - mean) / sd; z > 2 {
					ev.get(names[i]).SemZ = z
				}
			}
		}
	}
	return nil
}

// sample is the fixed lexical sample for large catalogues (nil: search them whole), drawn
// again when the catalogue has grown or shrunk by more than a tenth.
func (in *Intents) sample() *roaring64.Bitmap {
	n := in.eng.lex.Len()
	if in.cfg.SampleSize <= 0 || n <= 4*in.cfg.SampleSize {
		return nil
	}
	in.kin.mu.Lock()
	defer in.kin.mu.Unlock()
	if in.kin.sample == nil || math.Abs(float64(n-in.kin.sampleOf)) > 0.1*float64(in.kin.sampleOf) {
		in.kin.sample, in.kin.sampleOf = in.eng.lex.Sample(in.cfg.SampleSize), n
	}
	return in.kin.sample
}

// kinOf returns each type's kin and the class words for a centroid set, computed once per set.
func (in *Intents) kinOf(m *prodtype.Model, tab *typeTable, names []string, cents [][]float32) (map[string][]Kin, map[string]bool) {
	if len(cents) == 0 {
		return nil, nil
	}
	in.kin.mu.Lock()
	defer in.kin.mu.Unlock()
	if in.kin.n == len(cents) && len(in.kin.first) > 0 && &in.kin.first[0] == &cents[0][0] && in.kin.classOf == m {
		return in.kin.kin, in.kin.class
	}
	byWord := map[string][]int{}
	for i, n := range names {
		for _, w := range lexical.Analyze(n) {
			byWord[w] = append(byWord[w], i)
		}
	}
	kin := map[string][]Kin{}
	done := map[[2]int]bool{}
	for _, idx := range byWord {
		for a := 0; a < len(idx); a++ {
			for b := a + 1; b < len(idx); b++ {
				i, j := idx[a], idx[b]
				if done[[2]int{i, j}] {
					continue
				}
				done[[2]int{i, j}] = true
				var d float32
				for k := range cents[i] {
					d += cents[i][k] * cents[j][k]
				}
				kin[names[i]] = append(kin[names[i]], Kin{Name: names[j], Cos: float64(d)})
				kin[names[j]] = append(kin[names[j]], Kin{Name: names[i], Cos: float64(d)})
			}
		}
	}
	for _, ks := range kin {
		sort.Slice(ks, func(a, b int) bool { return ks[a].Name < ks[b].Name })
	}
	in.kin.first, in.kin.n, in.kin.kin = cents[0], len(cents), kin
	in.kin.class, in.kin.classOf = classWords(tab, names, cents), m
	return kin, in.kin.class
}

// classPriceCap is how many times the median price of a class's types an unnamed type of a
// class phrase may cost.
const classPriceCap = 3

// classWords are the heads that name a class of things rather than a kind: shared by three
// types or more whose centroids lie farther apart than those of other shared heads (their mean
// pairwise cosine more than one MAD below the median over such heads). On the Icecat catalogue:
// accessory, kit, part, set, adapter, machine, supplies, ... but not cable, printer or monitor.
func classWords(tab *typeTable, names []string, cents [][]float32) map[string]bool {
	idx := make(map[string]int, len(names))
	for i, n := range names {
		idx[n] = i
	}
	groups := map[string][]int{} // the centroids of the types sharing each head
	for h, tis := range tab.byHead {
		for _, ti := range tis {
			if i, ok := idx[ti.name]; ok {
				groups[h] = append(groups[h], i)
			}
		}
	}
	spread := map[string]float64{}
	var all []float64
	for h, g := range groups {
		if len(g) < 3 {
			continue
		}
		var sum float64
		n := 0
		for a := 0; a < len(g); a++ {
			for b := a + 1; b < len(g); b++ {
				sum += float64(vectorindex.Dot(cents[g[a]], cents[g[b]]))
				n++
			}
		}
		spread[h] = sum / float64(n)
		all = append(all, spread[h])
	}
	if len(all) < 5 {
		return nil
	}
	med := median(all)
	dev := make([]float64, len(all))
	for i, v := range all {
		dev[i] = math.Abs(v - med)
	}
	cut := med - median(dev)
	out := map[string]bool{}
	for h, v := range spread {
		if v < cut {
			out[h] = true
		}
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
