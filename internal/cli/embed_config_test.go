package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/internal/testdb"
)

// The service's embedder comes from the settings: a remote OpenAI-compatible server works when
// its dimension matches sku_vectors, and a mismatch is a clear error at start-up.
func TestEmbedderFromSettings(t *testing.T) {
	db := testdb.New(t)
	for _, dim := range []int{512, 768} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				Input []string `json:"input"`
			}
			_ = json.NewDecoder(r.Body).Decode(&req)
			data := make([]map[string]any, len(req.Input))
			for i := range req.Input {
				v := make([]float32, dim)
				v[i%dim] = 1
				data[i] = map[string]any{"object": "embedding", "index": i, "embedding": v}
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": "m",
				"usage": map[string]any{"prompt_tokens": 1, "total_tokens": 1}})
		}))
		defer srv.Close()
		vars := map[string]string{"DATABASE_URL": db.URL(),
			"SELECTION_EMBED_PROVIDER": "openai", "SELECTION_EMBED_BASE_URL": srv.URL + "/v1",
			"SELECTION_EMBED_MODEL": "test-embed", "SELECTION_EMBED_API_KEY": "k", "SELECTION_EMBED_CACHE": "off"}
		cfg, err := LoadConfig(func(k string) string { return vars[k] })
		require.NoError(t, err)
		env := &Env{Config: cfg, Log: newLogger(&strings.Builder{}, cfg)}
		ctx := context.Background()
		pool, err := env.Connect(ctx)
		require.NoError(t, err)
		e, err := newEmbedder(ctx, env, pool)
		if dim == 512 {
			require.NoError(t, err)
			v, err := e.EmbedQuery(ctx, "gaming mouse")
			require.NoError(t, err)
			require.Len(t, v, 512)
		} else {
			require.Error(t, err)
			require.Contains(t, err.Error(), "768")
			require.Contains(t, err.Error(), "512")
		}
		pool.Close()
	}
}
