// Package lexical is the BM25 retriever: an in-memory inverted index over the SKU catalogue's
// text, addressed by ordinal, kept fresh SKU by SKU, that ranks the products matching a query's
// words and can be restricted to a candidate bitmap of ordinals.
//
// A search ranks the documents holding any of the query's words, best first, each with its
// coverage of the query; a candidate bitmap restricts it:
//
//	ix, _ := lexical.New(lexical.Config{})
//	d := lexical.Document{SKUID: 101, Ordinal: 1}
//	d.Fields[lexical.FieldTitle] = "Razer gaming mouse"
//	_ = ix.Upsert(d)
//	res, err := ix.Search(ctx, "gaming mice", 10, nil)     // res.Terms: [game mous]
//	res, err = ix.Search(ctx, "gaming mouse", 10, within) // only ordinals in within
//	for _, h := range res.Hits {
//		fmt.Println(h.SKUID, h.Score, h.Coverage) // Coverage 1: every query word
//	}
//
// # Why our own BM25
//
// Postgres full-text search was measured first (evals.PostgresTSRank): ts_rank has no inverse
// document frequency, so "usb" counts as much as "calculator" (ANDing the lexemes instead loses
// every multi-word query whose words never occur together). This package matches bleve's BM25
// on the same fields with the same analysis, and unlike an embedded bleve index it addresses
// documents by the ordinals every bitmap in the system uses, so a candidate bitmap from the tag
// index restricts a search without translating ids, and a SKU is re-indexed in microseconds
// when its text changes. The figures are in evals/README.md.
//
// # How it works
//
// Analysis (Analyze): NFKC, runs of letters and digits (a '.' or ',' between digits stays in the
// number: "3.5", "802.11g"), lowercase, English possessive removed, Lucene's 33 English stop
// words dropped, Snowball English (Porter2) stemming (github.com/blevesearch/snowballstem, the
// stemmer bleve ships); tokens with digits ("ps4", "2060") are not stemmed.
//
// Scoring is BM25F (Robertson, Zaragoza and Taylor 2004): each field's term frequency is
// normalised by that field's length (b = 0.75) and weighted, the weighted frequencies are
// summed and saturated once (k1 = 1.2), times Lucene's IDF ln(1 + (N - df + 0.5)/(df + 0.5)).
// Fields: title, brand, product type, category, description, all weighted 1. Heavier title and
// product-type weights, adjacent word pairs as terms and exact surface forms next to stems were
// measured and dropped (evals/README.md): equal weights keep recall, which the fusion in package
// search needs (it re-ranks the lexical candidates and cannot recover what BM25 never found).
//
// Every hit also carries its coverage: the share of the query's IDF mass the document matches
// (a word the catalogue has never seen counts as missing, with the highest possible IDF). It is
// the coordination signal the fusion and the confidence of package search are built on.
//
// # Freshness
//
// Store.Load reads every live SKU from skus in pages of 10,000. A Follower (Start/Stop) then
// polls skus every 500 ms for rows whose updated_at is newer than the newest it has seen minus
// a 5 s overlap (updated_at is the writing transaction's start, so a transaction committing late
// would otherwise be skipped), compares content hashes so that price, stock and metrics updates
// cost a hash comparison and no re-indexing, re-indexes changed text with Upsert and drops
// deleted SKUs with Delete. A text change is searchable within about a second.
//
// # Data structures and costs
//
// Postings per term are sorted by ordinal and hold a per-field frequency (uint8); a forward
// index per document (term ids with frequencies) makes Upsert and Delete exact and lets a small
// candidate set be scored document by document. Search accumulates scores in a dense array by
// ordinal (pooled between queries) and keeps the best k in a heap. With a candidate bitmap it
// takes the cheaper of two paths: when the candidates times 8 are fewer than the postings to
// walk, it scores each candidate through the forward index; otherwise it walks the postings
// and tests bitmap membership. Statistics (N, df, average field lengths) stay those of the whole
// index, so a document scores the same whatever the candidate set.
//
// BenchmarkSearch and BenchmarkUpsert measure the two paths and the cost of indexing; their
// figures are in the README's figures table.
package lexical
