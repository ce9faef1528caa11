package selection

import (
	"bytes"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// versionBodies keeps, per pool, the body of the current version this process last read or
// wrote (its members, ranking, scores and plan), so that a refresh pass reads each pool's
// current version from Postgres without them: a pass over 6,000 pools read about 40 MB of
// version rows (compressed, out of line) and decoded them, every pass, though versions never
// change once written. An entry answers only for the same version number written at the same
// instant (created_at): a version number a crash gave back and another writer reused is
// another version. Callers share the bodies and only read them. Its size is one version per
// pool: about 15 bytes a ranked SKU.
type versionBodies struct {
	mu sync.Mutex
	m  map[int64]versionBody
}

// versionBody is what a version row holds that the pass's read leaves out.
type versionBody struct {
	version int
	created time.Time
	members *roaring64.Bitmap
	ranking IDs
	scores  []float32
	plan    Plan
	// planJSON is the version's Version.planJSON.
	planJSON []byte
}

// put keeps v's body as its pool's (v is a full version, as written or read).
func (b *versionBodies) put(v *Version) {
	if v == nil || v.Members == nil || v.delta != nil || v.CreatedAt.IsZero() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[int64]versionBody{}
	}
	if old, ok := b.m[v.PoolID]; ok && old.version > v.Version {
		return // a newer one is kept
	}
	b.m[v.PoolID] = versionBody{version: v.Version, created: v.CreatedAt, members: v.Members, ranking: v.Ranking,
		scores: v.Scores, plan: v.Plan, planJSON: v.planJSON}
}

// get is the body kept for a pool, whichever version it is.
func (b *versionBodies) get(pool int64) (versionBody, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	body, ok := b.m[pool]
	return body, ok
}

// fill sets v's body from the one kept, when it is v's (same number and creation).
func (b *versionBodies) fill(v *Version) bool {
	body, ok := b.get(v.PoolID)
	if !ok || body.version != v.Version || !body.created.Equal(v.CreatedAt) {
		return false
	}
	v.Members, v.Ranking, v.Scores, v.Plan, v.planJSON = body.members, body.ranking, body.scores, body.plan, body.planJSON
	return true
}

// planOf is the plan of the body kept for pool when text is the text it was read from (see
// Version.planJSON): the same text decodes to the same plan. Callers only read it.
func (b *versionBodies) planOf(pool int64, text []byte) (Plan, bool) {
	body, ok := b.get(pool)
	if !ok || body.planJSON == nil || !bytes.Equal(body.planJSON, text) {
		return Plan{}, false
	}
	return body.plan, true
}

// drop forgets a pool's body (the pool is gone).
func (b *versionBodies) drop(pool int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, pool)
}

// each calls f with every pool it keeps a body for (under its lock: f must not call back).
func (b *versionBodies) each(f func(pool int64)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id := range b.m {
		f(id)
	}
}

// len is how many bodies it keeps.
func (b *versionBodies) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
