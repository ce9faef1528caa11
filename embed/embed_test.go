package embed

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"selection/embed/uselite"
)

// newLocal builds the local embedder; without the model it skips, except
// under CI (env CI set), where `make test` installs the model first.
func newLocal(t testing.TB) Embedder {
	t.Helper()
	dir := os.Getenv("USELITE_MODEL_DIR")
	e, err := New(context.Background(), Config{ModelDir: dir})
	if err != nil {
		if errors.Is(err, uselite.ErrModelMissing) && os.Getenv("CI") == "" {
			t.Skipf("local model not installed (run `make setup`): %v", err)
		}
		t.Fatal(err)
	}
	return e
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.Provider != "local" || c.Model != "use-lite-0.2.0" || c.Dimension != 512 ||
		c.ModelDir != "/var/cache/selection/models/use-lite-0.2.0" || c.Workers != runtime.NumCPU() || c.BatchSize != 32 {
		t.Errorf("local defaults: %+v", c)
	}
	if err := c.validate(); err != nil {
		t.Error(err)
	}
	o := Config{Provider: "openai", APIKey: "k"}.WithDefaults()
	if o.Model != "text-embedding-3-small" || o.BaseURL != "https://api.openai.com/v1" || o.Dimension != 1536 || o.BatchSize != 256 {
		t.Errorf("openai defaults: %+v", o)
	}
	l := Config{Provider: "ollama"}.WithDefaults()
	if l.Model != "nomic-embed-text" || l.BaseURL != "http://localhost:11434" || l.Dimension != 768 {
		t.Errorf("ollama defaults: %+v", l)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"unknown provider":  {Provider: "cohere"},
		"local other model": {Model: "bert"},
		"local wrong dim":   {Dimension: 768},
		"negative workers":  {Workers: -1},
		"negative batch":    {BatchSize: -2},
		"openai no key":     {Provider: "openai"},
		"openai bad url":    {Provider: "openai", APIKey: "k", BaseURL: "ftp://x"},
		"ollama bad url":    {Provider: "ollama", BaseURL: "::not a url"},
	} {
		_, err := New(context.Background(), c)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: got %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestNewMissingModel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := New(context.Background(), Config{ModelDir: dir})
	if err == nil || !errors.Is(err, uselite.ErrModelMissing) {
		t.Fatalf("got %v, want ErrModelMissing", err)
	}
	if !strings.Contains(err.Error(), "make setup") || !strings.Contains(err.Error(), dir) {
		t.Errorf("error does not name the setup command and dir: %v", err)
	}
	// A corrupt directory: model.json present but truncated shards.
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "model.json"), []byte(`{"modelTopology":{"node":[{"name":"x","op":"Const"}]},"weightsManifest":[{"paths":["s1"],"weights":[{"name":"x","shape":[4],"dtype":"float32"}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "s1"), []byte{1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), Config{ModelDir: bad})
	if err == nil || !strings.Contains(err.Error(), "make setup") || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt dir: %v", err)
	}
}

func cos(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

// TestLocalGolden checks embed.New's local embedder against the reference
// runtime's vectors (the uselite package tests them in more depth).
func TestLocalGolden(t *testing.T) {
	e := newLocal(t)
	if e.Name() != "use-lite-0.2.0" || e.Dimension() != 512 {
		t.Fatalf("name %q dim %d", e.Name(), e.Dimension())
	}
	for _, f := range []string{"golden-short.json", "golden-edgecases.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		var g struct {
			Phrases []string    `json:"phrases"`
			Emb     [][]float32 `json:"emb"`
		}
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		vs, err := e.EmbedDocuments(context.Background(), g.Phrases)
		if err != nil {
			t.Fatal(err)
		}
		for i := range g.Phrases {
			if c := cos(vs[i], g.Emb[i]); c < 0.99999 {
				t.Errorf("%s %q: cosine %.7f", f, g.Phrases[i], c)
			}
		}
	}
}

// TestLocalAnyInput: every kind of input embeds to a unit 512-d vector.
func TestLocalAnyInput(t *testing.T) {
	e := newLocal(t)
	inputs := []string{
		"", " ", "a", strings.Repeat("long text with many words ", 400)[:10000],
		"\xff\xfe\xfd invalid utf-8 \xc3", "\x00\x01\x02\x1b[31m ctrl \t\r\n", "🎧🎉👍🏽 emoji",
		"耳机 wireless 日本語 한국어 mixed", strings.Repeat("中", 300), "Ｆｕｌｌｗｉｄｔｈ",
	}
	vs, err := e.EmbedDocuments(context.Background(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if len(v) != 512 {
			t.Fatalf("%d: %d dims", i, len(v))
		}
		var n float64
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("%.20q: non-finite value", inputs[i])
			}
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-4 {
			t.Errorf("%.20q: norm² %v", inputs[i], n)
		}
		if !utf8.ValidString(inputs[i]) {
			continue
		}
		q, err := e.EmbedQuery(context.Background(), inputs[i])
		if err != nil {
			t.Fatal(err)
		}
		if c := cos(q, v); c < 0.99999 {
			t.Errorf("%.20q: query vs batch cosine %v", inputs[i], c)
		}
	}
}

func TestLocalCancelled(t *testing.T) {
	e := newLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.EmbedDocuments(ctx, []string{"a", "b"}); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}
