package filter

import "sort"

// TagsOf returns the names of the tags an ordinal is a member of, sorted.
func (ix *Index) TagsOf(ordinal int64) []string {
	out := []string{}
	if ordinal < 0 {
		return out
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, t := range ix.tags {
		if t.members.Contains(uint64(ordinal)) {
			out = append(out, t.info.Name)
		}
	}
	sort.Strings(out)
	return out
}
