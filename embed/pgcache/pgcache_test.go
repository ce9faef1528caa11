package pgcache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"selection/embed"
	"selection/embed/pgcache"
	"selection/embed/uselite"
	"selection/internal/testdb"
)

func vec(seed, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(seed*1000+i) / 3
	}
	return v
}

func TestPutGet(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	c := pgcache.New(db.Pool)

	const n = 1200
	entries := make([]embed.CacheEntry, n)
	hashes := make([]embed.Hash, 0, n+1)
	for i := range entries {
		entries[i] = embed.CacheEntry{Hash: embed.TextHash(fmt.Sprint("text ", i)), Vector: vec(i, 512)}
		hashes = append(hashes, entries[i].Hash)
	}
	if err := c.Put(ctx, "m1", entries); err != nil {
		t.Fatal(err)
	}
	hashes = append(hashes, embed.TextHash("never stored"))
	got, err := c.Get(ctx, "m1", hashes)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("got %d vectors, want %d", len(got), n)
	}
	for i, e := range entries {
		if !slices.Equal(got[e.Hash], e.Vector) {
			t.Fatalf("entry %d does not round-trip", i)
		}
	}
	// Keys are per model.
	if other, err := c.Get(ctx, "m2", hashes); err != nil || len(other) != 0 {
		t.Fatalf("other model: %d vectors, %v", len(other), err)
	}
	// A second Put of the same key keeps the first vector; duplicates in one
	// call are fine.
	dup := []embed.CacheEntry{{Hash: entries[0].Hash, Vector: vec(99, 512)}, {Hash: entries[0].Hash, Vector: vec(98, 512)}}
	if err := c.Put(ctx, "m1", dup); err != nil {
		t.Fatal(err)
	}
	got, err = c.Get(ctx, "m1", hashes[:1])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[entries[0].Hash], entries[0].Vector) {
		t.Error("existing entry was overwritten")
	}
	if got, err := c.Get(ctx, "m1", nil); err != nil || len(got) != 0 {
		t.Errorf("no keys: %v %v", got, err)
	}
	var rows int
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM embedding_cache").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != n {
		t.Errorf("%d rows, want %d", rows, n)
	}
}

// TestCachedLocal runs the local model through NewCached on Postgres: the
// second pass embeds nothing and returns the same vectors.
func TestCachedLocal(t *testing.T) {
	inner, err := embed.New(context.Background(), embed.Config{ModelDir: os.Getenv("USELITE_MODEL_DIR")})
	if err != nil {
		if errors.Is(err, uselite.ErrModelMissing) && os.Getenv("CI") == "" {
			t.Skipf("local model not installed (run `make setup`): %v", err)
		}
		t.Fatal(err)
	}
	db := testdb.New(t)
	ctx := context.Background()
	e := embed.NewCached(inner, pgcache.New(db.Pool))
	texts := []string{"wireless noise cancelling headphones", "bluetooth earbuds", "kids winter jacket", "bluetooth earbuds"}
	first, err := e.EmbedDocuments(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.EmbedDocuments(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if !slices.Equal(first[i], second[i]) {
			t.Errorf("%q: cached vector differs", texts[i])
		}
	}
	st := e.(*embed.Cached).Stats()
	if st.Misses != 3 || st.Hits != 3 {
		t.Errorf("stats %+v, want 3 misses then 3 hits", st)
	}
	var model string
	if err := db.Pool.QueryRow(ctx, "SELECT DISTINCT model FROM embedding_cache").Scan(&model); err != nil || model != "use-lite-0.2.0" {
		t.Errorf("stored model %q, %v", model, err)
	}
}
