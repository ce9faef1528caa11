package tagger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// tagsSignature changes whenever a tag is created, deleted or changed, by any process.
type tagsSignature struct {
	n, idSum int64
	updated  time.Time
}

const tagsSignatureSQL = `SELECT count(*), coalesce(sum(id), 0)::bigint, coalesce(max(updated_at), 'epoch') FROM tags`

// tagSyncInterval is how often Poll compares the tags table with the index.
const tagSyncInterval = time.Second

// syncTagsLocked makes the index hold exactly the tags of the tags table, for changes another
// process made (selection tag define|delete while the service runs, or a second service):
// deleted tags leave the index; a new rule tag is evaluated here; a new vector tag takes the
// members its defining process saved in tag_bitmaps (computing them again would cost a
// propagation or a clustering pass), or is computed here when none were saved. SKUs that
// changed between the other process's save and this sync keep their old membership of such a
// tag until they change again. It reports whether the index changed.
func (t *Tagger) syncTagsLocked(ctx context.Context) (bool, error) {
	var sig tagsSignature
	if err := t.store.pool.QueryRow(ctx, tagsSignatureSQL).Scan(&sig.n, &sig.idSum, &sig.updated); err != nil {
		return false, fmt.Errorf("tagger: tag definitions: %w", err)
	}
	if sig == t.tagsSig {
		return false, nil
	}
	tags, err := t.store.Tags(ctx)
	if err != nil {
		return false, err
	}
	byName := make(map[string]*TagDef, len(tags))
	for i := range tags {
		byName[lowerName(tags[i].Name)] = &tags[i]
	}
	have := map[string]int64{}
	t.ix.mu.RLock()
	for name, st := range t.ix.tags {
		have[name] = st.info.ID
	}
	t.ix.mu.RUnlock()

	changed := false
	for name, id := range have {
		if d, ok := byName[name]; !ok || d.ID != id {
			t.ix.DropTag(name)
			delete(have, name)
			changed = true
		}
	}
	var missing []*TagDef
	var vectorIDs []int64
	for i := range tags {
		if _, ok := have[lowerName(tags[i].Name)]; ok {
			continue
		}
		missing = append(missing, &tags[i])
		if tags[i].Kind != KindRule {
			vectorIDs = append(vectorIDs, tags[i].ID)
		}
	}
	if len(vectorIDs) > 0 {
		if err := t.loadSavedMembers(ctx, vectorIDs); err != nil {
			return changed, err
		}
	}
	if len(missing) > 0 {
		changed = true
		for _, d := range orderRules(tags) {
			if _, ok := have[lowerName(d.Name)]; ok {
				continue
			}
			bm, err := t.ix.Eval(*d.Definition.Rule)
			if err != nil {
				return changed, fmt.Errorf("tag %q: %w", d.Name, err)
			}
			t.ix.SetTag(d.Info(), bm, nil)
		}
		if t.models, err = t.store.Models(ctx); err != nil {
			return changed, err
		}
		for _, d := range missing {
			if d.Kind == KindRule || t.ix.HasTag(d.Name) {
				continue
			}
			if err := t.ensureTag(d.Info()); err != nil {
				return changed, err
			}
			if err := t.rebuildVectorTag(ctx, d); err != nil {
				return changed, fmt.Errorf("tag %q: %w", d.Name, err)
			}
		}
	}
	if changed {
		t.dirty = true
	}
	t.tagsSig = sig
	return changed, nil
}

// loadSavedMembers installs the saved members (tag:<id>, tagconf:<id>) of the given tags.
func (t *Tagger) loadSavedMembers(ctx context.Context, ids []int64) error {
	rows, err := t.store.pool.Query(ctx, `SELECT b.key, b.bitmap, t.id, t.name, t.kind
		FROM tag_bitmaps b JOIN tags t ON t.id = b.tag_id WHERE b.tag_id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("tagger: saved tag members: %w", err)
	}
	var key, kind string
	var raw []byte
	var info TagInfo
	names := map[string]bool{}
	t.ix.mu.Lock()
	defer t.ix.mu.Unlock()
	_, err = pgx.ForEachRow(rows, []any{&key, &raw, &info.ID, &info.Name, &kind}, func() error {
		info.Kind = Kind(kind)
		names[lowerName(info.Name)] = true
		return t.ix.loadEntry(key, raw, map[int64]TagInfo{info.ID: info})
	})
	if err != nil {
		return fmt.Errorf("tagger: saved tag members: %w", err)
	}
	for name := range names {
		if st := t.ix.tags[name]; st != nil {
			st.members.And(t.ix.live) // SKUs deleted since the save
		}
	}
	t.ix.version++
	return nil
}
