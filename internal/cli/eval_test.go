package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/internal/icecat"
	"selection/internal/testdb"
)

func TestEvalCommand(t *testing.T) {
	db := testdb.New(t)
	icecat.LoadWith(t, db.Pool, icecat.LoadOptions{DropHNSW: true})
	env := map[string]string{"DATABASE_URL": db.URL()}

	// A small judgments file in the public format, with one bad row that is reported and skipped.
	dir := t.TempDir()
	file := filepath.Join(dir, "j.csv")
	require.NoError(t, os.WriteFile(file, []byte("query,docid,rating\n"+
		"usb stick,1426432,3\nusb stick,128125,1\n"+
		"netflix,77383738,0\n"+
		"laptop bag,abc,2\n"), 0o644))

	code, out, stderr := run(t, env, "eval", "--judgments", file)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "line 5: docid \"abc\" is not a 64-bit integer (row skipped)")
	require.Contains(t, stderr, "catalogue holds all 3 judged products")
	for _, m := range []string{"hybrid (default)", "lexical", "semantic"} {
		require.Contains(t, out, m)
	}
	require.Contains(t, out, "1 answerable queries")

	code, out, stderr = run(t, env, "eval", "--judgments", file, "--json", "--per-query")
	require.Equal(t, 0, code, stderr)
	var rep struct {
		Default string `json:"default"`
		Methods map[string]struct {
			NDCG    float64 `json:"ndcg_at10"`
			Cond    float64 `json:"condensed_ndcg_at10"`
			Recall  float64 `json:"recall_at50"`
			MRR     float64 `json:"mrr"`
			Queries []struct {
				Query    string `json:"query"`
				Returned int    `json:"returned"`
			} `json:"queries"`
		} `json:"methods"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Equal(t, "hybrid", rep.Default)
	require.Len(t, rep.Methods, 3)
	require.Len(t, rep.Methods["hybrid"].Queries, 2)
	for _, q := range rep.Methods["hybrid"].Queries {
		if q.Query == "netflix" {
			require.Zero(t, q.Returned, "no word of the query is in the catalogue")
		}
	}

	// Bad input: a clear error, exit 1 (bad file) or 2 (bad command line).
	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("q,id,grade\nx,1,1\n"), 0o644))
	code, _, stderr = run(t, env, "eval", "--judgments", bad)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `judgments header must be "query,docid,rating"`)
	code, _, stderr = run(t, env, "eval")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--judgments or --scenarios is required")

	// Scenario judgments: pool membership per scenario and macro-averaged.
	sc := filepath.Join(dir, "s.csv")
	require.NoError(t, os.WriteFile(sc, []byte("scenario,sku_id\n"+
		"usb flash drives,1426432\nusb flash drives,128125\nmouse pads,oops\n"), 0o644))
	code, out, stderr = run(t, env, "eval", "--scenarios", sc, "--limit", "50", "--json")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "row skipped")
	var pools struct {
		Macro struct {
			Scenarios int
			Recall    float64
		} `json:"macro"`
		Scenarios []struct {
			Scenario string
			Pool     int
			Types    []string
		} `json:"scenarios"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &pools), out)
	require.Equal(t, 1, pools.Macro.Scenarios)
	require.Equal(t, "usb flash drives", pools.Scenarios[0].Scenario)
	require.NotEmpty(t, pools.Scenarios[0].Types, "the scenario names a product type")
	require.LessOrEqual(t, pools.Scenarios[0].Pool, 50)
	code, _, stderr = run(t, env, "eval", "--scenarios", sc, "--judgments", file)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "not both")
}
