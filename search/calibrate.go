package search

import (
	"context"
	"fmt"
	"math"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Calibration: how far above an ordinary product a similarity is, which the semantic and
// hybrid methods use for their confidence and to keep or drop a match.

// calibration is a query's similarity to ordinary products: mean and standard deviation over a
// fixed sample of the catalogue, and the z a best match reaches by chance among n products.
type calibration struct {
	mean, sd float64
	chance   float64 // sqrt(2 ln n): the expected maximum z of n standard normal draws
}

// z is how many standard deviations cos lies above an ordinary product.
func (c calibration) z(cos float32) float64 {
	if c.sd <= 0 {
		return 0
	}
	return (float64(cos) - c.mean) / c.sd
}

// calibrate measures q against the calibration sample, drawn from the lexical index's live
// documents and redrawn when the catalogue has grown or shrunk by more than 10%.
func (e *Searcher) calibrate(ctx context.Context, text string, q []float32) (calibration, error) {
	n := e.lex.Len()
	e.calMu.Lock()
	if e.calSample == nil || math.Abs(float64(n-e.calSize)) > 0.1*float64(max(e.calSize, 1)) {
		e.calSample = e.lex.Sample(e.cfg.CalibrationSample)
		e.calSize = n
		e.calCache = map[string]calibration{}
	}
	sample := e.calSample
	if c, ok := e.calCache[text]; ok {
		e.calMu.Unlock()
		c.chance = math.Sqrt(2 * math.Log(math.Max(float64(n), 2)))
		return c, nil
	}
	e.calMu.Unlock()
	cal, err := e.measureCalibration(ctx, q, n, sample)
	if err == nil {
		e.calMu.Lock()
		if e.calSample == sample {
			if len(e.calCache) >= 4096 {
				clear(e.calCache)
			}
			e.calCache[text] = cal
		}
		e.calMu.Unlock()
	}
	return cal, err
}

// measureCalibration computes q's mean and standard deviation over the sample.
func (e *Searcher) measureCalibration(ctx context.Context, q []float32, n int, sample *roaring64.Bitmap) (calibration, error) {
	cal := calibration{chance: math.Sqrt(2 * math.Log(math.Max(float64(n), 2)))}
	hits, err := e.dense.Search(ctx, q, int(sample.GetCardinality()), sample)
	if err != nil {
		return cal, fmt.Errorf("search: calibrate: %w", err)
	}
	if len(hits) < 2 {
		return cal, nil
	}
	var s, ss float64
	for _, h := range hits {
		s += float64(h.Score)
	}
	cal.mean = s / float64(len(hits))
	for _, h := range hits {
		d := float64(h.Score) - cal.mean
		ss += d * d
	}
	cal.sd = math.Sqrt(ss / float64(len(hits)-1))
	return cal, nil
}
