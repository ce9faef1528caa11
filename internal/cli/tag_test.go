package cli_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/filter"
	"selection/selection"
)

// The tag commands end to end: define rule tags over loaded SKUs, list, show and explain them,
// and delete them, which is refused while another tag or a pool refers to the tag.
func TestTagCommands(t *testing.T) {
	env, db := ingestEnv(t)
	code, _, stderr := run(t, env, "load", "../../ingest/testdata/skus.csv")
	require.Equal(t, 0, code, stderr)

	code, out, stderr := run(t, env, "tag", "define", "--kind", "rule", "--name", "mice", "--rule", "category = \"Computers > Mice\"")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "mice")
	code, _, stderr = run(t, env, "tag", "define", "--kind", "rule", "--name", "sg-mice", "--rule", "tag = mice and market = SG")
	require.Equal(t, 0, code, stderr)
	code, out, stderr = run(t, env, "tag", "list")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "sg-mice")
	code, out, stderr = run(t, env, "tag", "show", "mice")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, `tag "mice"`)
	code, out, stderr = run(t, env, "tag", "explain", "sg-mice", "601")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "601")
	// Product types are tags too (filter_test has their members); this small catalogue teaches
	// no types, and the explanation says so.
	code, out, stderr = run(t, env, "tag", "explain", "type/mouse", "601")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, `SKU 601 is not a member of "type/mouse"`)
	require.Contains(t, out, "no product type")
	code, _, stderr = run(t, env, "tag", "define", "--kind", "rule", "--name", "type/mice", "--rule", "brand = Logitech")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "product types' tags")

	code, _, stderr = run(t, env, "tag", "delete", "mice")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "in use by tag sg-mice")

	f := filter.Tag("sg-mice")
	p, err := selection.NewPoolStore(db.Pool).Create(context.Background(), selection.PoolInput{Name: "mouse week",
		Plan: selection.Plan{Version: 1, Filter: &f, Ranking: selection.Ranking{By: selection.SortSales}, Limit: 10}})
	require.NoError(t, err)
	code, _, stderr = run(t, env, "tag", "delete", "SG-MICE")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `in use by pool "mouse week"`)
	require.NoError(t, selection.NewPoolStore(db.Pool).Delete(context.Background(), p.ID))

	code, out, stderr = run(t, env, "tag", "delete", "SG-MICE")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "deleted")
	code, _, stderr = run(t, env, "tag", "delete", "mice")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = run(t, env, "tag", "delete", "mice")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "not found")
	code, _, _ = run(t, env, "tag", "delete")
	require.Equal(t, 2, code)
	code, out, _ = run(t, env, "tag", "list")
	require.Equal(t, 0, code)
	require.NotContains(t, out, "mice")
}
