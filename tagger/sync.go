package tagger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"selection/filter"
)

// tagsSignature changes whenever a tag is created, deleted or changed, by any process.
type tagsSignature struct {
	n, idSum int64
	updated  time.Time
}

const tagsSignatureSQL = `SELECT count(*), coalesce(sum(id), 0)::bigint, coalesce(max(updated_at), 'epoch') FROM tags`

// tagSyncInterval is how often Poll compares the tags table with the index; tagRetryInterval
// how often it tries again to build tags it had to leave out.
const (
	tagSyncInterval  = time.Second
	tagRetryInterval = 30 * time.Second
	tagRetryMax      = 10 * time.Minute
)

// syncTagsLocked makes the index hold exactly the tags of the tags table, for changes another
// process made (selection tag define|delete while the service runs, or a second service):
// deleted tags leave the index; new vector tags take the members their defining process saved
// in tag_bitmaps (computing them again would cost a propagation or a clustering pass), or are
// computed here when none were saved; then new rule tags are evaluated (they may use vector
// tags). A tag that cannot be built (a rule naming a tag deleted meanwhile, an embedder down)
// is logged and left out, and the rest go on; it is tried again after 30 s (doubling to 10
// minutes) or as soon as the tags table changes.
// SKUs that changed between the other process's save and this sync keep their old membership
// of a vector tag until they change again. It reports whether the index changed; only a
// database failure is an error.
func (t *Tagger) syncTagsLocked(ctx context.Context) (bool, error) {
	var sig tagsSignature
	if err := t.store.pool.QueryRow(ctx, tagsSignatureSQL).Scan(&sig.n, &sig.idSum, &sig.updated); err != nil {
		return false, fmt.Errorf("tagger: tag definitions: %w", err)
	}
	if sig == t.tagsSig && (t.leftOut == 0 || time.Now().Before(t.retryAt)) {
		return false, nil
	}
	if sig != t.tagsSig {
		t.retryEvery = 0 // the tags changed: what was left out may build now
	}
	tags, err := t.store.Tags(ctx)
	if err != nil {
		return false, err
	}
	have, changed := t.dropStaleTags(tags)
	vectorTags, ruleMissing := missingTags(tags, have)
	if err := t.loadVectorTagMembers(ctx, vectorTags); err != nil {
		return changed, err
	}
	failed := t.buildVectorTags(ctx, vectorTags)
	if ruleMissing && t.addRuleTags(ctx, tags, have) {
		// Vector tags whose seeds or scope named a rule tag new in this sync are built now.
		var again []*TagDef
		for _, d := range vectorTags {
			if errors.Is(failed[d.Name], filter.ErrUnknownTag) {
				again = append(again, d)
			}
		}
		for name, err := range t.buildVectorTags(ctx, again) {
			failed[name] = err
		}
	}
	for _, d := range vectorTags {
		if err, ok := failed[d.Name]; ok && !t.ix.HasTag(d.Name) {
			t.cfg.Logger.Warn("tagger: a tag defined elsewhere cannot be built here; left out", "tag", d.Name, "err", err)
		}
	}
	built := t.countBuiltLocked(tags, have)
	changed = changed || built > 0
	if changed {
		t.dirty = true
	}
	t.tagsSig = sig
	return changed, nil
}

// dropStaleTags drops from the index the tags the tags table no longer holds (or holds under
// another id) and returns the ids of those it keeps, by lower-cased name, and whether it
// dropped any.
func (t *Tagger) dropStaleTags(tags []TagDef) (map[string]int64, bool) {
	byName := make(map[string]*TagDef, len(tags))
	for i := range tags {
		byName[lowerName(tags[i].Name)] = &tags[i]
	}
	have := map[string]int64{}
	for _, tc := range t.ix.Tags() {
		have[lowerName(tc.Name)] = tc.ID
	}
	changed := false
	for name, id := range have {
		if d, ok := byName[name]; !ok || d.ID != id {
			t.ix.DropTag(name)
			delete(have, name)
			changed = true
		}
	}
	return have, changed
}

// missingTags returns the vector tags of the table the index does not hold, and whether a rule
// tag is missing too.
func missingTags(tags []TagDef, have map[string]int64) (vectorTags []*TagDef, ruleMissing bool) {
	for i := range tags {
		if _, ok := have[lowerName(tags[i].Name)]; ok {
			continue
		}
		if tags[i].Kind == KindRule {
			ruleMissing = true
		} else {
			vectorTags = append(vectorTags, &tags[i])
		}
	}
	return vectorTags, ruleMissing
}

// loadVectorTagMembers reads the models (when a prototype or discovered tag brings one this
// process lacks) and the members saved in tag_bitmaps of the given vector tags.
func (t *Tagger) loadVectorTagMembers(ctx context.Context, vectorTags []*TagDef) error {
	if len(vectorTags) == 0 {
		return nil
	}
	for _, d := range vectorTags {
		if _, ok := t.models[d.ID]; !ok && d.Kind != KindPropagated {
			// Prototype and discovered tags made elsewhere bring models (propagated: none).
			var err error
			if t.models, err = t.store.Models(ctx); err != nil {
				return err
			}
			break
		}
	}
	ids := make([]int64, len(vectorTags))
	for i, d := range vectorTags {
		ids[i] = d.ID
	}
	if err := t.snaps.LoadTagMembers(ctx, t.ix, ids); err != nil {
		return fmt.Errorf("tagger: %w", err)
	}
	return nil
}

// addRuleTags evaluates the rule tags the index does not hold, in dependency order; one that
// does not evaluate is logged and left out. It reports whether it added any.
func (t *Tagger) addRuleTags(ctx context.Context, tags []TagDef, have map[string]int64) bool {
	added := false
	for _, d := range orderRules(tags) {
		if _, ok := have[lowerName(d.Name)]; ok {
			continue
		}
		bm, err := t.evalRule(ctx, &d, nil)
		if err != nil {
			t.cfg.Logger.Warn("tagger: a rule tag defined elsewhere does not evaluate; left out", "tag", d.Name, "err", err)
			continue
		}
		t.ix.SetTag(d.Info(), bm, nil)
		added = true
	}
	return added
}

// countBuiltLocked returns how many of the table's tags the index holds now but did not before
// this sync, counts those it still lacks in t.leftOut and, if any, sets when to try again.
func (t *Tagger) countBuiltLocked(tags []TagDef, have map[string]int64) int {
	built := 0
	t.leftOut = 0
	for i := range tags {
		switch _, before := have[lowerName(tags[i].Name)]; {
		case !t.ix.HasTag(tags[i].Name):
			t.leftOut++
		case !before:
			built++
		}
	}
	if t.leftOut > 0 {
		// Tried again then (30 s, doubling to 10 min), or as soon as the tags change.
		t.retryEvery = min(max(2*t.retryEvery, tagRetryInterval), tagRetryMax)
		t.retryAt = time.Now().Add(t.retryEvery)
	}
	return built
}

// buildVectorTags builds the given vector tags the index does not hold yet (one pass for every
// discovered family) and returns the errors of those it could not build, by name.
func (t *Tagger) buildVectorTags(ctx context.Context, tags []*TagDef) map[string]error {
	failed := map[string]error{}
	discovered := false
	for _, d := range tags {
		if t.ix.HasTag(d.Name) {
			continue
		}
		if d.Kind == KindDiscovered {
			if discovered {
				continue // one pass assigns every family's members
			}
			discovered = true
		}
		if err := t.buildVectorTag(ctx, d); err != nil {
			failed[d.Name] = err
		}
	}
	return failed
}

// buildVectorTag computes a vector tag's members here; on failure the tag is not held.
func (t *Tagger) buildVectorTag(ctx context.Context, d *TagDef) error {
	t.ix.EnsureTag(d.Info())
	if err := t.rebuildVectorTag(ctx, d); err != nil {
		t.ix.DropTag(d.Name)
		return err
	}
	return nil
}
