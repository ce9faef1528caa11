package vectorindex

import (
	"context"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// SearchBinaryR runs the binary path with r rescored candidates (tests and experiments).
func SearchBinaryR(ix *Index, ctx context.Context, q []float32, k int, filter *roaring64.Bitmap, r1, r2 int) ([]Hit, Path, error) {
	o1, o2 := ix.cfg.Candidates, ix.cfg.Rerank
	ix.cfg.Candidates, ix.cfg.Rerank = r1, r2
	defer func() { ix.cfg.Candidates, ix.cfg.Rerank = o1, o2 }()
	return ix.search(ctx, q, k, filter, PathBinary, -1)
}
