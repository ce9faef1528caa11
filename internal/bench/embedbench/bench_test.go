package embedbench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"selection/embed"
	"selection/internal/icecat"
)

var benchLine = regexp.MustCompile(`^embed titles_per_sec=[0-9]+(\.[0-9]+)? gflops=[0-9]+(\.[0-9]+)? query_p50_ms=[0-9]+(\.[0-9]+)? cores=[0-9]+ kernel=(avx512|avx2|portable|remote) peak_pct=[0-9]+$`)

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestRunRemote(t *testing.T) {
	srv := newOllamaServer(t, 32)
	e, err := embed.New(context.Background(), embed.Config{Provider: embed.ProviderOllama, BaseURL: srv.URL, Model: "m", Dimension: 32})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := Run(context.Background(), &out, e, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if !benchLine.MatchString(lastLine(out.String())) {
		t.Errorf("last line %q", lastLine(out.String()))
	}
	if res.Texts != 3 || res.Queries != 3 || res.GFLOPS != 0 || res.TitlesPerSec <= 0 {
		t.Errorf("result %+v", res)
	}
	if _, err := Run(context.Background(), &out, e, nil); err == nil {
		t.Error("no texts should be an error")
	}
}

func TestRunLocal(t *testing.T) {
	e := icecat.Embedder(t)
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = []string{"HP LaserJet Pro toner cartridge black", "Lenovo ThinkPad T14 notebook 35.6 cm (14\") Full HD Intel Core i5 16 GB DDR4-SDRAM 512 GB SSD Windows 11 Pro", "USB-C cable 1 m"}[i%3]
	}
	var out bytes.Buffer
	res, err := Run(context.Background(), &out, e, texts)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if !benchLine.MatchString(lastLine(out.String())) {
		t.Errorf("last line %q", lastLine(out.String()))
	}
	if res.GFLOPS <= 0 || res.FLOPs <= 0 || res.QueryP50 <= 0 || res.Kernel == "" || res.PeakFrac <= 0 {
		t.Errorf("result %+v", res)
	}
}

// newOllamaServer answers Ollama's /api/embed with a vector of dim ones.
func newOllamaServer(t testing.TB, dim int) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string `json:"model"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		v := make([]float32, dim)
		for i := range v {
			v[i] = 1
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "embeddings": [][]float32{v}})
	}))
	t.Cleanup(s.Close)
	return s
}
