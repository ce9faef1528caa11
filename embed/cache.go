package embed

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
)

// Hash is the SHA-256 of a text, the text half of a cache key.
type Hash = [sha256.Size]byte

// TextHash returns the cache key of text.
func TextHash(text string) Hash { return sha256.Sum256([]byte(text)) }

// CacheEntry is one stored vector.
type CacheEntry struct {
	Hash   Hash
	Vector []float32
}

// Cache stores vectors by (model name, SHA-256 of the text). Implementations
// answer many keys per call so a remote store needs one round trip per
// batch; embed/pgcache is the Postgres one.
type Cache interface {
	// Get returns the vectors stored for hashes under model; misses are
	// simply absent from the map.
	Get(ctx context.Context, model string, hashes []Hash) (map[Hash][]float32, error)
	// Put stores entries under model; a key already present keeps its
	// vector.
	Put(ctx context.Context, model string, entries []CacheEntry) error
}

// CacheStats counts what a cached embedder did.
type CacheStats struct {
	Hits, Misses int64
}

// Cached is an Embedder that asks a Cache first and embeds only the misses
// (each distinct text once), storing them for next time.
type Cached struct {
	inner  Embedder
	cache  Cache
	hits   atomic.Int64
	misses atomic.Int64
}

// NewCached wraps inner with cache. The cache key's model part is
// inner.Name().
func NewCached(inner Embedder, cache Cache) Embedder {
	return &Cached{inner: inner, cache: cache}
}

// Name is the inner embedder's name.
func (c *Cached) Name() string { return c.inner.Name() }

// Dimension is the inner embedder's dimension.
func (c *Cached) Dimension() int { return c.inner.Dimension() }

// Stats returns the hit and miss counts so far (per text, duplicates
// within one call counted once).
func (c *Cached) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// EmbedQuery embeds one text through the cache.
func (c *Cached) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	vs, err := c.EmbedDocuments(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// EmbedDocuments returns one vector per text, embedding only texts the
// cache does not have.
func (c *Cached) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	model := c.inner.Name()
	hashes := make([]Hash, len(texts))
	first := make(map[Hash]int, len(texts)) // hash -> index of its first text
	uniq := make([]Hash, 0, len(texts))
	for i, t := range texts {
		h := TextHash(t)
		hashes[i] = h
		if _, ok := first[h]; !ok {
			first[h] = i
			uniq = append(uniq, h)
		}
	}
	found, err := c.cache.Get(ctx, model, uniq)
	if err != nil {
		return nil, fmt.Errorf("embed: cache get: %w", err)
	}
	var missText []string
	var missHash []Hash
	for _, h := range uniq {
		if v, ok := found[h]; ok && len(v) == c.inner.Dimension() {
			continue
		}
		missText = append(missText, texts[first[h]])
		missHash = append(missHash, h)
	}
	c.hits.Add(int64(len(uniq) - len(missHash)))
	c.misses.Add(int64(len(missHash)))
	if len(missText) > 0 {
		vs, err := c.inner.EmbedDocuments(ctx, missText)
		if err != nil {
			return nil, err
		}
		if len(vs) != len(missText) {
			return nil, fmt.Errorf("embed: %s returned %d vectors for %d texts: %w", model, len(vs), len(missText), ErrDimension)
		}
		entries := make([]CacheEntry, len(vs))
		if found == nil {
			found = make(map[Hash][]float32, len(vs))
		}
		for i, v := range vs {
			entries[i] = CacheEntry{Hash: missHash[i], Vector: v}
			found[missHash[i]] = v
		}
		if err := c.cache.Put(ctx, model, entries); err != nil {
			return nil, fmt.Errorf("embed: cache put: %w", err)
		}
	}
	out := make([][]float32, len(texts))
	for i, h := range hashes {
		v := found[h]
		if first[h] != i {
			v = append([]float32(nil), v...) // duplicates get their own copy
		}
		out[i] = v
	}
	return out, nil
}

// MemoryCache is an in-process Cache, safe for concurrent use. It keeps
// every vector until the process ends.
type MemoryCache struct {
	mu sync.RWMutex
	m  map[string]map[Hash][]float32
}

// NewMemoryCache returns an empty MemoryCache.
func NewMemoryCache() *MemoryCache { return &MemoryCache{m: map[string]map[Hash][]float32{}} }

// Get implements Cache.
func (mc *MemoryCache) Get(ctx context.Context, model string, hashes []Hash) (map[Hash][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	out := make(map[Hash][]float32)
	byHash := mc.m[model]
	for _, h := range hashes {
		if v, ok := byHash[h]; ok {
			out[h] = append([]float32(nil), v...)
		}
	}
	return out, nil
}

// Put implements Cache.
func (mc *MemoryCache) Put(ctx context.Context, model string, entries []CacheEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mc.mu.Lock()
	defer mc.mu.Unlock()
	byHash := mc.m[model]
	if byHash == nil {
		byHash = map[Hash][]float32{}
		mc.m[model] = byHash
	}
	for _, e := range entries {
		if _, ok := byHash[e.Hash]; !ok {
			byHash[e.Hash] = append([]float32(nil), e.Vector...)
		}
	}
	return nil
}

// Len is the number of stored vectors over all models.
func (mc *MemoryCache) Len() int {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	n := 0
	for _, m := range mc.m {
		n += len(m)
	}
	return n
}
