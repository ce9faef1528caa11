package vectorindex

import (
	"context"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// SearchBinaryR runs the binary path with r rescored candidates (tests and experiments).
func SearchBinaryR(ix *Index, ctx context.Context, q []float32, k int, filter *roaring64.Bitmap, r1, r2 int) ([]Hit, Path, error) {
	o1, o2 := ix.cfg.Candidates, ix.cfg.Rerank
	ix.cfg.Candidates, ix.cfg.Rerank = r1, r2
	defer func() { ix.cfg.Candidates, ix.cfg.Rerank = o1, o2 }()
	return ix.search(ctx, q, k, filter, PathBinary, -1)
}

// DeletionsFrom is where the next poll reads deletions from (zero: the tail's From).
func DeletionsFrom(ix *Index) time.Time {
	ix.pollMu.Lock()
	defer ix.pollMu.Unlock()
	return ix.delFrom
}
