package evals

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/internal/icecat"
	"selection/internal/testdb"
	"selection/search"
)

func publicJudgments(t testing.TB) *Judgments {
	t.Helper()
	j, bad, err := ReadJudgmentsFile(filepath.Join("testdata", "icecat", "judgments.csv"))
	require.NoError(t, err)
	require.Empty(t, bad)
	return j
}

// stack loads the Icecat catalogue into a fresh schema and builds the retrieval stack.
func stack(t testing.TB, cfg search.Config) *Stack {
	t.Helper()
	db := testdb.New(t)
	icecat.LoadWith(t, db.Pool, icecat.LoadOptions{DropHNSW: true})
	s, err := NewStack(context.Background(), db.Pool, icecat.Embedder(t), cfg)
	require.NoError(t, err)
	return s
}

func TestRetrievalQuality(t *testing.T) {
	ctx := context.Background()
	j := publicJudgments(t)
	s := stack(t, search.Config{})
	var methods []Method
	for _, m := range search.Methods {
		methods = append(methods, SearchMethod(s.Engine, m))
	}
	rep, err := Evaluate(ctx, j, methods, string(search.Default))
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, rep.WriteTable(&b, os.Getenv("EVALS_PER_QUERY") != ""))
	t.Logf("\n%s", b.String())
}
