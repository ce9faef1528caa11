// Package memo keeps the results of recent costly computations over a candidate set for the
// contents they were computed on: an entry answers only at the generation it was kept at (the
// caller's count of its data's changes), for the same key and an equal candidate set.
//
// The lexical index keeps its searches and HoldingAll's whole-index answers in two
// (lexical/memo.go), the hybrid search its stages in another (search/hybrid.go): a refresh
// pass runs thousands of pools' plans over a few hundred (query, candidate set) pairs.
//
// A Scope keeps values for one piece of work instead, whatever the generation: a refresh pass
// (selection.Service.RefreshAll) carries one in its context, and the hybrid search keeps its
// stages there too, so that under a live stream, where the indexes move on every poll and a
// Memo answers almost nothing, the pass's runs still share them (every state of the indexes
// after the pass's position reflects that position).
package memo
