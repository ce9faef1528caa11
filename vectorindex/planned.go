package vectorindex

import (
	"context"
	"errors"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
)

// PlannedVectors is a Planner seen as the vector side of search and the tagger (search.Dense,
// tagger.Vectors): Search takes the planner's path (the in-memory index when it is loaded,
// else pgvector), Vector reads the in-memory index or, without it, the ordinal's row of
// sku_vectors. It is how the service runs when the catalogue's vectors do not fit
// SELECTION_VECTOR_MEMORY.
type PlannedVectors struct {
	p *Planner
}

// Vectors returns the planner as search's and the tagger's vector side.
func (p *Planner) Vectors() *PlannedVectors { return &PlannedVectors{p: p} }

// vectorReadTimeout bounds one Vector read from sku_vectors (Vector takes no context: its
// callers read vectors from memory in between).
const vectorReadTimeout = 5 * time.Second

// Search returns the k vectors most similar to q among filter (nil: all), best first.
func (v *PlannedVectors) Search(ctx context.Context, q []float32, k int, filter *roaring64.Bitmap) ([]Hit, error) {
	res, err := v.p.Search(ctx, q, k, filter)
	return res.Hits, err
}

// Vector returns the (normalised) vector of ordinal o; false when it has none (or, read from
// sku_vectors, the read failed, which is logged).
func (v *PlannedVectors) Vector(o int64) ([]float32, bool) {
	if ix := v.p.index; ix != nil && ix.Loaded() {
		return ix.Vector(o)
	}
	if v.p.pool == nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), vectorReadTimeout)
	defer cancel()
	var vec pgvector.Vector
	err := v.p.pool.QueryRow(ctx, `SELECT embedding FROM sku_vectors WHERE ordinal = $1`, o).Scan(&vec)
	if err != nil {
		if !errors.Is(err, pgx.ErrNoRows) {
			v.p.cfg.Logger.Warn("vectorindex: read a vector from sku_vectors", "ordinal", o, "err", err)
		}
		return nil, false
	}
	out := vec.Slice()
	if !normalize(out, out) {
		return nil, false
	}
	return out, true
}
