package uselite

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"selection/internal/cpukernel"
)

// testModelDir is the model directory the tests use: $USELITE_MODEL_DIR or
// DefaultModelDir.
func testModelDir() string {
	if d := os.Getenv("USELITE_MODEL_DIR"); d != "" {
		return d
	}
	return DefaultModelDir
}

var (
	testModelOnce sync.Once
	testModel     *Model
	testModelErr  error
)

// loadTestModel loads the model once per test binary. When the model is
// absent the test is skipped, except under CI (env CI set) where `make test`
// runs `make setup` first, so absence is a failure.
func loadTestModel(t testing.TB) *Model {
	t.Helper()
	testModelOnce.Do(func() { testModel, testModelErr = Load(testModelDir()) })
	if testModelErr != nil {
		if errors.Is(testModelErr, ErrModelMissing) && os.Getenv("CI") == "" {
			t.Skipf("model not installed (run `make setup`): %v", testModelErr)
		}
		t.Fatalf("load model: %v", testModelErr)
	}
	return testModel
}

type golden struct {
	Phrases []string    `json:"phrases"`
	Emb     [][]float64 `json:"emb"`
}

func readGolden(t testing.TB, name string) golden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(g.Phrases) != len(g.Emb) || len(g.Phrases) == 0 {
		t.Fatalf("%s: %d phrases, %d vectors", name, len(g.Phrases), len(g.Emb))
	}
	return g
}

func cosine(a []float32, b []float64) (cos, maxDiff float64) {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * b[i]
		na += float64(a[i]) * float64(a[i])
		nb += b[i] * b[i]
		maxDiff = math.Max(maxDiff, math.Abs(float64(a[i])-b[i]))
	}
	return dot / math.Sqrt(na*nb), maxDiff
}

func checkGolden(t *testing.T, enc *Encoder, file string) {
	g := readGolden(t, file)
	got, err := enc.EmbedDocuments(context.Background(), g.Phrases)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range g.Phrases {
		if len(got[i]) != Dim || len(g.Emb[i]) != Dim {
			t.Fatalf("%q: got %d dims, golden %d", p, len(got[i]), len(g.Emb[i]))
		}
		c, d := cosine(got[i], g.Emb[i])
		if c < 0.99999 || math.IsNaN(c) {
			t.Errorf("%s[%d] %.40q: cosine %.7f (max diff %.2g), want >= 0.99999", file, i, p, c, d)
		} else {
			t.Logf("%s[%d] cosine %.8f max diff %.2g", file, i, c, d)
		}
		// Single-text path must agree with the batched one.
		q, err := enc.EmbedQuery(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := cosine(q, g.Emb[i]); c < 0.99999 {
			t.Errorf("%s[%d] EmbedQuery: cosine %.7f", file, i, c)
		}
	}
}

// TestGolden checks the vectors of every kernel path this machine supports against the
// reference runtime's (cosine >= 0.99999); unsupported paths are skipped with the reason.
func TestGolden(t *testing.T) {
	eachKernel(t, func(t *testing.T, p cpukernel.Path) {
		m := loadKernelModel(t, p)
		t.Logf("backend %s, load %v", m.Backend(), m.LoadTime())
		for _, bs := range []int{1, 3, 32} {
			enc := NewEncoder(m, Options{BatchSize: bs})
			for _, f := range []string{"golden-short.json", "golden-edgecases.json", "golden-titles.json"} {
				checkGolden(t, enc, f)
			}
		}
	})
}
