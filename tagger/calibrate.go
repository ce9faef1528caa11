package tagger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Calibration is how a prototype tag's threshold was chosen, kept in tag_models.calibration.
type Calibration struct {
	Method string `json:"method"`
	// Background: similarity of the prototypes to a random sample of SKUs.
	SampleSize int     `json:"sample_size"`
	Mean       float64 `json:"background_mean"`
	Std        float64 `json:"background_std"`
	Z          float64 `json:"z"`
	ZFloor     float64 `json:"z_floor"`
	// Knee: where the sorted similarities of the closest SKUs bend.
	Considered int     `json:"considered"`
	KneeRank   int     `json:"knee_rank"`
	KneeScore  float64 `json:"knee_score"`
	Threshold  float64 `json:"threshold"`
	Members    int     `json:"members"`
}

// calibrationZ is the background z-score a member must reach: two standard deviations (about
// 2.3% of random SKUs under a normal background). Measured on Icecat: the USE-Lite similarity
// of a description to the products has a mean of 0.27-0.45 and a standard deviation of
// 0.07-0.11, and the products of the described type sit only 2.3-3 standard deviations up
// (Processor, Desktop Board), so a 3-sd floor left those tags empty; the knee of the score
// curve above the floor then decides (see evals/tagging_test.go).
const calibrationZ = 2.0

// calibrationSample is how many random SKUs estimate the background similarity distribution
// (its mean and standard deviation to within ~2-3%).
const calibrationSample = 2000

// calibrate picks the threshold for scores (the best similarity of every candidate SKU to the
// prototypes) given the background sample: the knee of the sorted top scores (the point
// farthest below the chord from the best score to the score at the edge of the considered
// range, Kneedle), but never below the background mean + 2 standard deviations.
func calibrate(scores []float64, background []float64, nLive int) Calibration {
	c := Calibration{Method: "knee+zfloor", Z: calibrationZ, SampleSize: len(background)}
	var sum, sq float64
	for _, s := range background {
		sum += s
	}
	if len(background) > 0 {
		c.Mean = sum / float64(len(background))
		for _, s := range background {
			sq += (s - c.Mean) * (s - c.Mean)
		}
		c.Std = math.Sqrt(sq / float64(max(1, len(background)-1)))
	}
	c.ZFloor = c.Mean + calibrationZ*c.Std
	sorted := slices.Clone(scores)
	slices.SortFunc(sorted, func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	// Consider the SKUs above the background floor, at most 10% of the catalogue.
	m := 0
	for m < len(sorted) && sorted[m] >= c.ZFloor {
		m++
	}
	if limit := max(10, nLive/10); m > limit {
		m = limit
	}
	c.Considered = m
	c.Threshold = c.ZFloor
	if m >= 3 {
		first, last := sorted[0], sorted[m-1]
		best, at := -1.0, -1
		for i := 0; i < m; i++ {
			// distance below the chord from (0, first) to (m-1, last), in normalised units
			x := float64(i) / float64(m-1)
			chord := first + (last-first)*x
			d := 0.0
			if first > last {
				d = (chord - sorted[i]) / (first - last)
			}
			if d > best {
				best, at = d, i
			}
		}
		if at >= 0 && best > 0 {
			c.KneeRank, c.KneeScore = at, sorted[at]
			if c.KneeScore > c.Threshold {
				c.Threshold = c.KneeScore
			}
		}
	}
	for _, s := range scores {
		if s >= c.Threshold {
			c.Members++
		}
	}
	return c
}

// prototypeVectors embeds the descriptions and takes the examples' vectors.
func (t *Tagger) prototypeVectors(ctx context.Context, d *Definition) ([][]float32, []string, error) {
	var out [][]float32
	var labels []string
	for _, s := range d.Descriptions {
		if t.embedder == nil {
			return nil, nil, errors.New("prototype descriptions need an embedder")
		}
		v, err := t.embedder.EmbedQuery(ctx, s)
		if err != nil {
			return nil, nil, fmt.Errorf("embed %q: %w", s, err)
		}
		out = append(out, normalize(v))
		labels = append(labels, fmt.Sprintf("description %q", s))
	}
	for _, id := range d.Examples {
		o, ok := t.ix.Ordinal(id)
		if !ok {
			return nil, nil, fmt.Errorf("example SKU %d: %w", id, ErrNotFound)
		}
		v, ok := t.vectors.Vector(o)
		if !ok {
			return nil, nil, fmt.Errorf("example SKU %d has no vector yet", id)
		}
		out = append(out, normalize(v))
		labels = append(labels, fmt.Sprintf("example SKU %d", id))
	}
	return out, labels, nil
}

// prototypeMembers calibrates a prototype tag against the catalogue and returns its members.
func (t *Tagger) prototypeMembers(ctx context.Context, tg *TagDef) (*roaring64.Bitmap, Calibration, error) {
	protos, _, err := t.prototypeVectors(ctx, &tg.Definition)
	if err != nil {
		return nil, Calibration{}, err
	}
	live := t.vectorOrdinals()
	scope, err := t.scope(tg.Definition.Scope)
	if err != nil {
		return nil, Calibration{}, err
	}
	// Every SKU's best similarity, and a random background sample.
	ords := live.ToArray()
	scores := make([]float64, 0, len(ords))
	scored := make([]uint64, 0, len(ords))
	for _, o := range ords {
		v, ok := t.vectors.Vector(int64(o))
		if !ok {
			continue
		}
		s, _ := bestSim(v, protos)
		scores = append(scores, s)
		scored = append(scored, o)
	}
	rng := rand.New(rand.NewPCG(uint64(tg.ID), 0x7a66))
	var background []float64
	if len(scores) <= calibrationSample {
		background = scores
	} else {
		for _, i := range rng.Perm(len(scores))[:calibrationSample] {
			background = append(background, scores[i])
		}
	}
	cal := calibrate(scores, background, len(scores))
	members := roaring64.New()
	for i, o := range scored {
		if scores[i] >= cal.Threshold && (scope == nil || scope.Contains(o)) {
			members.Add(o)
		}
	}
	cal.Members = int(members.GetCardinality())
	calJSON, _ := json.Marshal(cal)
	model := Model{TagID: tg.ID, Model: t.embedderName(), Vectors: protos, Threshold: float32(cal.Threshold), Calibration: calJSON}
	if err := t.store.SaveModel(ctx, model); err != nil {
		return nil, cal, err
	}
	if t.models == nil {
		t.models = map[int64]Model{}
	}
	t.models[tg.ID] = model
	return members, cal, nil
}

func (t *Tagger) embedderName() string {
	if t.embedder == nil {
		return ""
	}
	return t.embedder.Name()
}
