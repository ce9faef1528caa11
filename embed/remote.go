package embed

import (
	"context"
	"errors"
	"fmt"

	"github.com/tmc/langchaingo/embeddings"
	"github.com/tmc/langchaingo/llms/ollama"
	"github.com/tmc/langchaingo/llms/openai"
)

// ErrDimension is wrapped when a provider returns vectors of the wrong size
// or count.
var ErrDimension = errors.New("embedding dimension mismatch")

// remote is an Embedder backed by a langchaingo client.
type remote struct {
	name  string
	dim   int
	inner embeddings.Embedder
}

func newRemote(ctx context.Context, cfg Config) (Embedder, error) {
	var client embeddings.EmbedderClient
	switch cfg.Provider {
	case ProviderOpenAI:
		llm, err := openai.New(
			openai.WithBaseURL(cfg.BaseURL),
			openai.WithToken(cfg.APIKey),
			openai.WithEmbeddingModel(cfg.Model),
			openai.WithModel(cfg.Model),
		)
		if err != nil {
			return nil, fmt.Errorf("embed: openai client: %w", err)
		}
		client = llm
	case ProviderOllama:
		llm, err := ollama.New(ollama.WithServerURL(cfg.BaseURL), ollama.WithModel(cfg.Model))
		if err != nil {
			return nil, fmt.Errorf("embed: ollama client: %w", err)
		}
		client = llm
	}
	// langchaingo's default newline stripping rewrites the caller's slice
	// in place; current embedding models do not need it.
	inner, err := embeddings.NewEmbedder(client, embeddings.WithBatchSize(cfg.BatchSize), embeddings.WithStripNewLines(false))
	if err != nil {
		return nil, fmt.Errorf("embed: %s embedder: %w", cfg.Provider, err)
	}
	r := &remote{name: cfg.Provider + ":" + cfg.Model, dim: cfg.Dimension, inner: inner}
	if r.dim == 0 {
		// Unknown model: learn its size from one request.
		v, err := inner.EmbedQuery(ctx, "dimension probe")
		if err != nil {
			return nil, fmt.Errorf("embed: %s: probing the dimension of %s at %s: %w", cfg.Provider, cfg.Model, cfg.BaseURL, err)
		}
		if len(v) == 0 {
			return nil, fmt.Errorf("embed: %s: %s returned an empty vector: %w", cfg.Provider, cfg.Model, ErrDimension)
		}
		r.dim = len(v)
	}
	return r, nil
}

func (r *remote) Name() string   { return r.name }
func (r *remote) Dimension() int { return r.dim }

func (r *remote) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	vs, err := r.inner.EmbedDocuments(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("embed: %s: %w", r.name, err)
	}
	if len(vs) != len(texts) {
		return nil, fmt.Errorf("embed: %s: %d vectors for %d texts: %w", r.name, len(vs), len(texts), ErrDimension)
	}
	for i, v := range vs {
		if len(v) != r.dim {
			return nil, fmt.Errorf("embed: %s: vector %d has %d dimensions, want %d: %w", r.name, i, len(v), r.dim, ErrDimension)
		}
	}
	return vs, nil
}

func (r *remote) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	vs, err := r.EmbedDocuments(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}
