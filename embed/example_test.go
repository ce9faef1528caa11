package embed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"selection/embed"
)

// The local model: Universal Sentence Encoder Lite in process. (Not run as
// a test because it needs the model files that `make setup` installs.)
func ExampleNew() {
	ctx := context.Background()
	e, err := embed.New(ctx, embed.Config{}) // local, /var/cache/selection/models/use-lite-0.2.0
	if err != nil {
		log.Fatal(err) // names the model dir and `make setup` when the model is missing
	}
	vs, err := e.EmbedDocuments(ctx, []string{"wireless noise cancelling headphones", "bluetooth earbuds"})
	if err != nil {
		log.Fatal(err)
	}
	var dot float32
	for i := range vs[0] {
		dot += vs[0][i] * vs[1][i] // vectors are unit length
	}
	fmt.Printf("%s %d-d, similarity %.2f\n", e.Name(), e.Dimension(), dot)
	// Prints: use-lite-0.2.0 512-d, similarity 0.74
}

// openAICompatible is a tiny OpenAI-compatible /embeddings server that
// returns [len(text), 1, 0] for each input, for the examples below.
func openAICompatible() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		type item struct {
			Embedding []float32 `json:"embedding"`
			Index     int       `json:"index"`
		}
		var data []item
		for i, s := range req.Input {
			data = append(data, item{Embedding: []float32{float32(len(s)), 1, 0}, Index: i})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
	}))
}

// A remote OpenAI-compatible provider, through langchaingo's client.
func ExampleNew_openAI() {
	srv := openAICompatible()
	defer srv.Close()
	ctx := context.Background()
	e, err := embed.New(ctx, embed.Config{
		Provider:  embed.ProviderOpenAI,
		BaseURL:   srv.URL,
		APIKey:    "sk-example",
		Model:     "my-embedder",
		Dimension: 3, // checked on every response
	})
	if err != nil {
		log.Fatal(err)
	}
	v, err := e.EmbedQuery(ctx, "kids winter jacket")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Name(), v)
	// Output: openai:my-embedder [18 1 0]
}

// NewCached embeds only what its cache lacks.
func ExampleNewCached() {
	srv := openAICompatible()
	defer srv.Close()
	ctx := context.Background()
	inner, err := embed.New(ctx, embed.Config{Provider: embed.ProviderOpenAI, BaseURL: srv.URL, APIKey: "k", Model: "m", Dimension: 3})
	if err != nil {
		log.Fatal(err)
	}
	e := embed.NewCached(inner, embed.NewMemoryCache())
	for _, batch := range [][]string{{"pot", "pan", "pot"}, {"pan", "lid"}} {
		if _, err := e.EmbedDocuments(ctx, batch); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%+v\n", e.(*embed.Cached).Stats())
	}
	// Output:
	// {Hits:0 Misses:2}
	// {Hits:1 Misses:3}
}
