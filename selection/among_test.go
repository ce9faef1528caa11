package selection

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A change set's answers are computed once per key among every changed SKU, whoever asks
// first; each asker gets its own subset's share, to change as it likes; a failed computation
// is not kept, and a pool waiting on it computes the answer itself.
func TestAmongChangedComputesOncePerKey(t *testing.T) {
	ctx := context.Background()
	cs := &changeSet{all: roaring64.BitmapOf(1, 2, 3, 4, 5, 6, 7, 8)}
	var calls atomic.Int64
	even := func(_ context.Context, all *roaring64.Bitmap) (*roaring64.Bitmap, error) {
		calls.Add(1)
		assert.True(t, all.Equals(cs.all), "computed among every changed SKU")
		out := roaring64.New()
		for _, o := range all.ToArray() {
			if o%2 == 0 {
				out.Add(o)
			}
		}
		return out, nil
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			set := roaring64.BitmapOf(uint64(i%8+1), 4)
			got, err := cs.among(ctx, "even", set, even)
			assert.NoError(t, err)
			want := roaring64.BitmapOf(4)
			if (i%8+1)%2 == 0 {
				want.Add(uint64(i%8 + 1))
			}
			assert.True(t, want.Equals(got), "asker %d: %v", i, got.ToArray())
			got.Add(100) // its own bitmap
		})
	}
	wg.Wait()
	require.Equal(t, int64(1), calls.Load())
	all, err := cs.among(ctx, "even", nil, even)
	require.NoError(t, err)
	require.Equal(t, []uint64{2, 4, 6, 8}, all.ToArray(), "nil asks for every changed SKU; no asker's change shows")

	// The first asker fails (its budget ran out): a waiter computes the answer under its own.
	started, release := make(chan struct{}), make(chan struct{})
	failing := func(context.Context, *roaring64.Bitmap) (*roaring64.Bitmap, error) {
		close(started)
		<-release
		return nil, context.DeadlineExceeded
	}
	errc := make(chan error, 1)
	go func() {
		_, err := cs.among(ctx, "odd", nil, failing)
		errc <- err
	}()
	<-started
	got := make(chan *roaring64.Bitmap, 1)
	go func() {
		bm, err := cs.among(ctx, "odd", roaring64.BitmapOf(1, 2, 3), func(context.Context, *roaring64.Bitmap) (*roaring64.Bitmap, error) {
			return roaring64.BitmapOf(1, 3, 5, 7), nil
		})
		assert.NoError(t, err)
		got <- bm
	}()
	close(release)
	require.True(t, errors.Is(<-errc, context.DeadlineExceeded))
	require.Equal(t, []uint64{1, 3}, (<-got).ToArray())

	// A waiter whose own context ends stops waiting.
	block := make(chan struct{})
	blocked := make(chan struct{})
	go func() {
		_, _ = cs.among(ctx, "slow", nil, func(context.Context, *roaring64.Bitmap) (*roaring64.Bitmap, error) {
			close(blocked)
			<-block
			return roaring64.New(), nil
		})
	}()
	<-blocked
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = cs.among(cctx, "slow", nil, even)
	require.ErrorIs(t, err, context.Canceled)
	close(block)
}
