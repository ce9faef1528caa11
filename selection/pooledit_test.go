package selection_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/internal/testdb"
	"selection/selection"
)

// Finding 6, in the store: an edit applies only on top of a revision it names, or, naming none,
// on top of the editor's own last write; the check runs under the pool's row lock, so of edits
// racing from one revision exactly one applies.
func TestFinding6UpdateChecksRevisionUnderLock(t *testing.T) {
	ctx := context.Background()
	store := selection.NewPoolStore(testdb.New(t).Pool)
	plan := selection.Plan{Version: 1, Ranking: selection.Ranking{By: "sales"}, Limit: 3}
	p, err := store.Create(ctx, selection.PoolInput{Name: "p", Plan: plan, CreatedBy: "alice"})
	require.NoError(t, err)
	require.Equal(t, 1, p.Revision)
	require.Equal(t, "alice", p.UpdatedBy)
	in := func(name string) selection.PoolInput { return selection.PoolInput{Name: name, Plan: plan} }

	_, err = store.Update(ctx, p.ID, in("bob's"), selection.Edit{Editor: "bob"})
	require.ErrorIs(t, err, selection.ErrRevisionRequired)
	_, err = store.Update(ctx, p.ID, in("anon"), selection.Edit{IfMatch: nil})
	require.ErrorIs(t, err, selection.ErrRevisionRequired, "an edit without a key is always on a shared pool")
	got, err := store.Update(ctx, p.ID, in("bob's"), selection.Edit{Editor: "bob", IfMatch: []int{1}})
	require.NoError(t, err)
	require.Equal(t, 2, got.Revision)
	require.Equal(t, "bob", got.UpdatedBy)
	_, err = store.Update(ctx, p.ID, in("alice's"), selection.Edit{Editor: "alice", IfMatch: []int{1}})
	require.ErrorIs(t, err, selection.ErrStale)
	_, err = store.Update(ctx, 1<<40, in("none"), selection.Edit{Any: true})
	require.ErrorIs(t, err, selection.ErrNotFound)

	const n = 6
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := store.Update(ctx, p.ID, in(fmt.Sprintf("race %d", i)), selection.Edit{Editor: "carol", IfMatch: []int{2}})
			errs <- err
		}()
	}
	var ok, stale int
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, selection.ErrStale):
			stale++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	require.Equal(t, [2]int{1, n - 1}, [2]int{ok, stale})
	got, err = store.Get(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, 3, got.Revision)
	require.Equal(t, "carol", got.UpdatedBy)
}
