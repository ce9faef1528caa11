package embed

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"

	"selection/embed/uselite"
)

// Embedder turns texts into vectors. Its first two methods are exactly
// langchaingo's embeddings.Embedder, so any Embedder can be handed to
// langchaingo vector stores.
type Embedder interface {
	// EmbedDocuments returns one vector per text, in order.
	EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error)
	// EmbedQuery returns the vector of one text.
	EmbedQuery(ctx context.Context, text string) ([]float32, error)
	// Dimension is the length of every vector.
	Dimension() int
	// Name identifies the model that made the vectors ("use-lite-0.2.0",
	// "openai:text-embedding-3-small", ...); vectors of different names
	// are not comparable, and caches key on it.
	Name() string
}

// FLOPCounter is implemented by embedders that can say how much matrix
// work (floating-point operations) embedding texts takes; `selection bench embed` uses
// it to report GFLOP/s.
type FLOPCounter interface {
	CountFLOPs(texts []string) int64
}

// Providers.
const (
	ProviderLocal  = "local"  // Universal Sentence Encoder Lite, in process
	ProviderOpenAI = "openai" // OpenAI-compatible /embeddings API
	ProviderOllama = "ollama" // Ollama /api/embed
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultProvider    = ProviderLocal
	DefaultLocalModel  = uselite.ModelName // "use-lite-0.2.0"
	DefaultModelDir    = uselite.DefaultModelDir
	DefaultOpenAIModel = "text-embedding-3-small"
	DefaultOpenAIURL   = "https://api.openai.com/v1"
	DefaultOllamaModel = "nomic-embed-text"
	DefaultOllamaURL   = "http://localhost:11434"
	DefaultLocalBatch  = uselite.DefaultBatchSize // 32 texts
	DefaultOpenAIBatch = 256
	DefaultOllamaBatch = 32
	LocalDimension     = uselite.Dim // 512
)

// knownDimensions are the output sizes of common remote models, used when
// Config.Dimension is 0. For other models New asks the server once.
var knownDimensions = map[string]int{
	"text-embedding-3-small": 1536,
	"text-embedding-3-large": 3072,
	"text-embedding-ada-002": 1536,
	"nomic-embed-text":       768,
	"mxbai-embed-large":      1024,
	"all-minilm":             384,
}

// Config selects and tunes an Embedder. The zero value is the local model
// with defaults.
type Config struct {
	// Provider is "local" (default), "openai" or "ollama".
	Provider string
	// Model is the model name: "use-lite-0.2.0" for local (the only one),
	// default "text-embedding-3-small" for openai, "nomic-embed-text" for
	// ollama.
	Model string
	// BaseURL of a remote provider: default "https://api.openai.com/v1"
	// for openai (any OpenAI-compatible server works), and
	// "http://localhost:11434" for ollama. Unused for local.
	BaseURL string
	// APIKey is the bearer token for openai (required there).
	APIKey string
	// Dimension is the expected vector length; every response is checked
	// against it. Default 512 for local, the known size of common remote
	// models, otherwise 0 = ask the server once in New.
	Dimension int
	// ModelDir holds the local model files; default
	// "/var/cache/selection/models/use-lite-0.2.0" (`make setup` fills it).
	ModelDir string
	// Workers is the number of batches the local model encodes in
	// parallel; default runtime.NumCPU().
	Workers int
	// BatchSize is the number of texts per batch: per forward pass for
	// local (default 32), per request for openai (default 256) and ollama
	// (default 32; langchaingo sends one request per text there).
	BatchSize int
	// Kernel chooses the local model's numeric kernels: "auto" (default) for
	// the fastest this build and CPU support (AVX-512, else AVX2+FMA, else
	// portable), or "avx512", "avx2" or "portable" to force one; New
	// refuses a path the machine lacks. Unused for remote providers.
	Kernel string
}

// WithDefaults returns c with every unset field given its default.
func (c Config) WithDefaults() Config {
	if c.Provider == "" {
		c.Provider = DefaultProvider
	}
	switch c.Provider {
	case ProviderLocal:
		if c.Model == "" {
			c.Model = DefaultLocalModel
		}
		if c.Dimension == 0 {
			c.Dimension = LocalDimension
		}
		if c.BatchSize == 0 {
			c.BatchSize = DefaultLocalBatch
		}
	case ProviderOpenAI:
		if c.Model == "" {
			c.Model = DefaultOpenAIModel
		}
		if c.BaseURL == "" {
			c.BaseURL = DefaultOpenAIURL
		}
		if c.BatchSize == 0 {
			c.BatchSize = DefaultOpenAIBatch
		}
	case ProviderOllama:
		if c.Model == "" {
			c.Model = DefaultOllamaModel
		}
		if c.BaseURL == "" {
			c.BaseURL = DefaultOllamaURL
		}
		if c.BatchSize == 0 {
			c.BatchSize = DefaultOllamaBatch
		}
	}
	if c.Provider != ProviderLocal && c.Dimension == 0 {
		c.Dimension = knownDimensions[c.Model]
	}
	if c.ModelDir == "" {
		c.ModelDir = DefaultModelDir
	}
	if c.Workers == 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.Kernel == "" {
		c.Kernel = "auto"
	}
	return c
}

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid embedding config")

// validate checks a Config that has had its defaults applied.
func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("embed: %w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.Workers < 1 {
		return bad("Workers is %d, want >= 1", c.Workers)
	}
	if c.BatchSize < 1 {
		return bad("BatchSize is %d, want >= 1", c.BatchSize)
	}
	if c.Dimension < 0 {
		return bad("Dimension is %d, want >= 0", c.Dimension)
	}
	switch c.Provider {
	case ProviderLocal:
		if c.Model != DefaultLocalModel {
			return bad("local provider only has model %q, not %q", DefaultLocalModel, c.Model)
		}
		if c.Dimension != LocalDimension {
			return bad("local model gives %d-d vectors, Dimension is %d", LocalDimension, c.Dimension)
		}
		if c.ModelDir == "" {
			return bad("ModelDir is empty")
		}
	case ProviderOpenAI, ProviderOllama:
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("BaseURL %q is not an http(s) URL", c.BaseURL)
		}
		if c.Provider == ProviderOpenAI && c.APIKey == "" {
			return bad("openai provider needs APIKey")
		}
	default:
		return bad("unknown Provider %q (want %q, %q or %q)", c.Provider, ProviderLocal, ProviderOpenAI, ProviderOllama)
	}
	return nil
}

// Kernel names the numeric kernels e runs on ("avx2-archsimd", ...): the
// local model's, also behind a Cached; "" for remote embedders.
func Kernel(e Embedder) string {
	if c, ok := e.(*Cached); ok {
		e = c.inner
	}
	if b, ok := e.(interface{ Backend() string }); ok {
		return b.Backend()
	}
	return ""
}

// New builds the Embedder cfg describes (after WithDefaults). For the
// local provider it loads the model from ModelDir, which takes about
// 150 ms; a missing model gives an error naming the directory and the
// setup command.
func New(ctx context.Context, cfg Config) (Embedder, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embed: new: %w", err)
	}
	switch cfg.Provider {
	case ProviderLocal:
		m, err := uselite.LoadKernel(cfg.ModelDir, cfg.Kernel)
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		return uselite.NewEncoder(m, uselite.Options{Workers: cfg.Workers, BatchSize: cfg.BatchSize}), nil
	default:
		return newRemote(ctx, cfg)
	}
}
