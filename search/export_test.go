package search

// StagesKept is how many searches the Searcher's kept hybrid stages answered.
func StagesKept(e *Searcher) uint64 { return e.firsts.Hits() }
