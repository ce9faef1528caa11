package tagger

import (
	"context"
	"sort"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// lowerName is how tag names are keyed: they are compared without case.
func lowerName(s string) string { return strings.ToLower(s) }

// orderRules returns the rule tags so that a tag comes after the rule tags it refers to; tags
// in a reference cycle are left out (Define refuses to create one).
func orderRules(tags []TagDef) []TagDef {
	byName := map[string]*TagDef{}
	for i := range tags {
		if tags[i].Kind == KindRule && (tags[i].Definition.Rule != nil || len(tags[i].Definition.Words) > 0) {
			byName[lowerName(tags[i].Name)] = &tags[i]
		}
	}
	state := map[string]int{} // 1 visiting, 2 done, 3 cyclic
	var out []TagDef
	var visit func(n string) bool
	visit = func(n string) bool {
		switch state[n] {
		case 1, 3:
			state[n] = 3
			return false
		case 2:
			return true
		}
		state[n] = 1
		ok := true
		for _, dep := range byName[n].Definition.TagRefs() {
			if _, isRule := byName[lowerName(dep)]; isRule && !visit(lowerName(dep)) {
				ok = false
			}
		}
		if !ok {
			state[n] = 3
			return false
		}
		state[n] = 2
		out = append(out, *byName[n])
		return true
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		visit(n)
	}
	return out
}

// retagRules re-evaluates every rule tag over the changed ordinals.
func (t *Tagger) retagRules(ctx context.Context, changed *roaring64.Bitmap) error {
	tags, err := t.store.Tags(ctx)
	if err != nil {
		return err
	}
	for _, tg := range orderRules(tags) {
		if !t.ix.HasTag(tg.Name) {
			continue // defined elsewhere and not synced yet: syncTagsLocked evaluates it whole
		}
		match, err := t.evalRule(ctx, &tg, changed)
		if err != nil {
			t.cfg.Logger.Warn("tagger: rule tag does not evaluate", "tag", tg.Name, "err", err)
			continue
		}
		drop := roaring64.AndNot(changed, match)
		if err := t.ix.SetTagBits(tg.Name, match.ToArray(), drop.ToArray(), nil); err != nil {
			return err
		}
	}
	return nil
}
