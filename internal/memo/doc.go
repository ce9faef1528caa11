// Package memo keeps the results of recent costly computations over a candidate set for the
// contents they were computed on: an entry answers only at the generation it was kept at (the
// caller's count of its data's changes), for the same key and an equal candidate set.
//
// The lexical index keeps its searches in one (lexical/search.go), the hybrid search its first
// stage in another (search/hybrid.go): a refresh pass runs thousands of pools' plans over a
// few hundred (query, candidate set) pairs.
package memo
