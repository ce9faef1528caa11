package embed

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeVector is the deterministic vector the test servers return for text.
func fakeVector(text string, dim int) []float32 {
	h := fnv.New32a()
	h.Write([]byte(text))
	seed := h.Sum32()
	v := make([]float32, dim)
	for i := range v {
		seed = seed*1664525 + 1013904223
		v[i] = float32(seed>>8)/float32(1<<24) - 0.5
	}
	return v
}

// openAIServer speaks the OpenAI POST /embeddings API and records the
// inputs of each request.
type openAIServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests [][]string
	dim      int
}

func newOpenAIServer(t testing.TB, dim int) *openAIServer {
	s := &openAIServer{dim: dim}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
			http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != "Bearer test-key" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"message":"bad key"}}`))
			return
		}
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.requests = append(s.requests, req.Input)
		s.mu.Unlock()
		type item struct {
			Object    string    `json:"object"`
			Embedding []float32 `json:"embedding"`
			Index     int       `json:"index"`
		}
		resp := struct {
			Object string `json:"object"`
			Data   []item `json:"data"`
			Model  string `json:"model"`
		}{Object: "list", Model: req.Model}
		for i, in := range req.Input {
			resp.Data = append(resp.Data, item{Object: "embedding", Embedding: fakeVector(req.Model+"|"+in, s.dim), Index: i})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *openAIServer) inputs() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.requests...)
}

// ollamaServer speaks Ollama's POST /api/embed.
func newOllamaServer(t testing.TB, dim int) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/embed" {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		var req struct {
			Model string `json:"model"`
			Input string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"model":      req.Model,
			"embeddings": [][]float32{fakeVector(req.Model+"|"+req.Input, dim)},
		})
	}))
	t.Cleanup(s.Close)
	return s
}

func TestOpenAIProvider(t *testing.T) {
	srv := newOpenAIServer(t, 1536)
	ctx := context.Background()
	e, err := New(ctx, Config{Provider: ProviderOpenAI, BaseURL: srv.URL + "/v1", APIKey: "test-key", BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != "openai:text-embedding-3-small" || e.Dimension() != 1536 {
		t.Fatalf("name %q dim %d", e.Name(), e.Dimension())
	}
	texts := []string{"a", "b\nwith newline", "c", "d", "e"}
	vs, err := e.EmbedDocuments(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, tx := range texts {
		if !slices.Equal(vs[i], fakeVector("text-embedding-3-small|"+tx, 1536)) {
			t.Errorf("vector %d does not match the server's", i)
		}
	}
	if texts[1] != "b\nwith newline" {
		t.Errorf("caller's slice was modified: %q", texts[1])
	}
	if got := srv.inputs(); len(got) != 3 || len(got[0]) != 2 || len(got[2]) != 1 {
		t.Errorf("requests %v, want batches of 2,2,1", got)
	}
	q, err := e.EmbedQuery(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q, vs[2]) {
		t.Error("EmbedQuery differs from EmbedDocuments")
	}
	if vs, err := e.EmbedDocuments(ctx, nil); err != nil || len(vs) != 0 {
		t.Errorf("empty input: %v %v", vs, err)
	}
}

func TestOpenAIDimensionMismatch(t *testing.T) {
	srv := newOpenAIServer(t, 8)
	ctx := context.Background()
	e, err := New(ctx, Config{Provider: ProviderOpenAI, BaseURL: srv.URL + "/v1", APIKey: "test-key", Model: "text-embedding-3-small"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.EmbedQuery(ctx, "x"); !errors.Is(err, ErrDimension) {
		t.Fatalf("got %v, want ErrDimension", err)
	}
	// An unknown model has its dimension probed once.
	e, err = New(ctx, Config{Provider: ProviderOpenAI, BaseURL: srv.URL + "/v1", APIKey: "test-key", Model: "my-embedder"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Dimension() != 8 {
		t.Fatalf("probed dimension %d, want 8", e.Dimension())
	}
	// A wrong key surfaces the server's error at the probe.
	_, err = New(ctx, Config{Provider: ProviderOpenAI, BaseURL: srv.URL + "/v1", APIKey: "wrong", Model: "my-embedder"})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("got %v, want a 401 error", err)
	}
}

func TestOllamaProvider(t *testing.T) {
	srv := newOllamaServer(t, 768)
	ctx := context.Background()
	e, err := New(ctx, Config{Provider: ProviderOllama, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != "ollama:nomic-embed-text" || e.Dimension() != 768 {
		t.Fatalf("name %q dim %d", e.Name(), e.Dimension())
	}
	texts := []string{"kids winter jacket", "children's snow coat", "耳机"}
	vs, err := e.EmbedDocuments(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, tx := range texts {
		if !slices.Equal(vs[i], fakeVector("nomic-embed-text|"+tx, 768)) {
			t.Errorf("vector %d does not match the server's", i)
		}
	}
	e, err = New(ctx, Config{Provider: ProviderOllama, BaseURL: srv.URL, Dimension: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.EmbedQuery(ctx, "x"); !errors.Is(err, ErrDimension) {
		t.Fatalf("got %v, want ErrDimension", err)
	}
}
