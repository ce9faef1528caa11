package uselite

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// Options tunes an Encoder.
type Options struct {
	// Workers is the number of batches encoded at once (default
	// runtime.NumCPU()). Each worker runs single-threaded kernels on its own
	// scratch buffers.
	Workers int
	// BatchSize is the number of texts encoded together (default 32): their
	// tokens are stacked into one matrix for the projections and
	// feed-forward layers, so bigger batches give the kernels more rows.
	BatchSize int
}

// DefaultBatchSize is the number of texts per batch when Options leaves it 0.
const DefaultBatchSize = 32

// Encoder embeds texts with a Model. It has the method set of langchaingo's
// embeddings.Embedder plus Dimension and Name, and is safe for concurrent
// use.
type Encoder struct {
	m       *Model
	workers int
	batch   int
	pool    sync.Pool // *scratch
}

// NewEncoder wraps m.
func NewEncoder(m *Model, opts Options) *Encoder {
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	e := &Encoder{m: m, workers: opts.Workers, batch: opts.BatchSize}
	e.pool.New = func() any { return new(scratch) }
	return e
}

// Model returns the underlying model.
func (e *Encoder) Model() *Model { return e.m }

// Dimension is 512.
func (e *Encoder) Dimension() int { return Dim }

// Name is "use-lite-0.2.0".
func (e *Encoder) Name() string { return ModelName }

// EmbedQuery embeds one text.
func (e *Encoder) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("uselite: embed query: %w", err)
	}
	out := [][]float32{make([]float32, Dim)}
	s := e.pool.Get().(*scratch)
	s.split = runtime.GOMAXPROCS(0) > 1
	e.m.encodeBatch([]string{text}, out, s)
	s.split = false
	e.pool.Put(s)
	return out[0], nil
}

// EmbedDocuments embeds texts in batches spread over the workers. The
// result has one 512-float row per text, in order.
func (e *Encoder) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	return e.embed(ctx, texts)
}

// embed encodes texts batch by batch on up to e.workers goroutines.
func (e *Encoder) embed(ctx context.Context, texts []string) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("uselite: embed documents: %w", err)
	}
	out := make([][]float32, len(texts))
	slab := make([]float32, len(texts)*Dim)
	for i := range out {
		out[i] = slab[i*Dim : (i+1)*Dim : (i+1)*Dim]
	}
	// Small inputs are split so that every worker gets a share.
	batch := max(1, min(e.batch, (len(texts)+e.workers-1)/e.workers))
	nb := (len(texts) + batch - 1) / batch
	workers := min(e.workers, nb)
	if workers <= 1 {
		s := e.pool.Get().(*scratch)
		defer e.pool.Put(s)
		for b := 0; b < nb; b++ {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("uselite: embed documents: %w", err)
			}
			lo, hi := b*batch, min((b+1)*batch, len(texts))
			e.m.encodeBatch(texts[lo:hi], out[lo:hi], s)
		}
		return out, nil
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := e.pool.Get().(*scratch)
			defer e.pool.Put(s)
			for b := range next {
				lo, hi := b*batch, min((b+1)*batch, len(texts))
				e.m.encodeBatch(texts[lo:hi], out[lo:hi], s)
			}
		}()
	}
	var err error
	for b := 0; b < nb; b++ {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- b
	}
	close(next)
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("uselite: embed documents: %w", err)
	}
	return out, nil
}

// CountFLOPs returns the matrix work (see FLOPs) of embedding texts.
func (e *Encoder) CountFLOPs(texts []string) int64 {
	var s tokScratch
	var f int64
	for _, t := range texts {
		f += FLOPs(len(e.m.tok.encode(t, &s)))
	}
	return f
}

// Backend names the matrix kernels in use.
func (e *Encoder) Backend() string { return e.m.Backend() }

// Kernel is the kernel path in use: "avx512", "avx2" or "portable".
func (e *Encoder) Kernel() string { return e.m.Kernel() }
