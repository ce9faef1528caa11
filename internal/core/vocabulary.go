package core

import (
	"sync"
	"time"

	"selection/filter"
	"selection/selection"
)

// vocabularyOf gives the parser the index's brands and tags, recomputed at most every 30 s.
func vocabularyOf(ix *filter.Index) func() selection.Vocabulary {
	var mu sync.Mutex
	var v selection.StaticVocabulary
	var at time.Time
	return func() selection.Vocabulary {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(at) < 30*time.Second && at.After(time.Time{}) {
			return v
		}
		if fresh, err := selection.IndexVocabulary(ix); err == nil {
			v = fresh
		}
		at = time.Now()
		return v
	}
}
