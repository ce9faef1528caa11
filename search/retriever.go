package search

import (
	"context"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/selection"
)

// Retriever adapts a Searcher to the selection engine's selection.Retriever, answering with a
// fixed method (Default when empty).
type Retriever struct {
	Searcher *Searcher
	Method   Method
}

var (
	_ selection.Retriever         = Retriever{}
	_ selection.CompleteRetriever = Retriever{}
	_ selection.MentionRetriever  = Retriever{}
	_ selection.CoverRetriever    = Retriever{}
)

// Retrieve runs the search for a plan's query within its candidate bitmap.
func (r Retriever) Retrieve(ctx context.Context, text string, candidates *roaring64.Bitmap, k int) (selection.Retrieved, error) {
	return r.retrieve(ctx, Request{Text: text, Candidates: candidates, K: k, Method: r.Method})
}

// RetrieveDense is Retrieve with the semantic-only recall expansion restricted to dense
// (selection.DenseScopedRetriever).
func (r Retriever) RetrieveDense(ctx context.Context, text string, candidates, dense *roaring64.Bitmap, k int) (selection.Retrieved, error) {
	return r.retrieve(ctx, Request{Text: text, Candidates: candidates, Dense: dense, K: k, Method: r.Method})
}

// RetrieveLexicalLed is Retrieve without the semantic-only recall expansion when some lexical
// match was kept (selection.LexicalLedRetriever).
func (r Retriever) RetrieveLexicalLed(ctx context.Context, text string, candidates *roaring64.Bitmap, k int) (selection.Retrieved, error) {
	return r.retrieve(ctx, Request{Text: text, Candidates: candidates, K: k, Method: r.Method, NoExpansion: true})
}

func (r Retriever) retrieve(ctx context.Context, req Request) (selection.Retrieved, error) {
	res, err := r.Searcher.Search(ctx, req)
	if err != nil {
		return selection.Retrieved{}, err
	}
	out := selection.Retrieved{Hits: make([]selection.Hit, len(res.Hits)), Confidence: res.Confidence, Method: string(res.Method)}
	for i, h := range res.Hits {
		out.Hits[i] = selection.Hit{Ordinal: h.Ordinal, Score: h.Score, Why: h.Why, Complete: h.Coverage >= completeCoverage}
	}
	return out, nil
}

// HoldingAll returns the SKUs of within (nil: all) whose text holds every word of the query
// (selection.CompleteRetriever): the hits a search would mark Complete.
func (r Retriever) HoldingAll(text string, within *roaring64.Bitmap) *roaring64.Bitmap {
	return r.Searcher.lex.HoldingAll(text, within)
}

// CompleteAmong returns the SKUs of within (a few) that a search for text would mark Complete
// (selection.CoverRetriever): their coverage of its IDF mass, as the lexical search reports
// it, reaches completeCoverage.
func (r Retriever) CompleteAmong(text string, within *roaring64.Bitmap) *roaring64.Bitmap {
	return r.Searcher.lex.CompleteAmong(text, within, completeCoverage)
}

// MentioningAmong is Mentioning within a set, read from the few SKUs' own terms.
func (r Retriever) MentioningAmong(words []string, within *roaring64.Bitmap) *roaring64.Bitmap {
	return r.Searcher.lex.MentioningAmong(within, words...)
}

// Mentioning returns the ordinals of products whose text holds any of the words (as the
// lexical analyser sees them, so "refurbished" also catches "Refurbished" and "refurbish").
func (r Retriever) Mentioning(words []string) *roaring64.Bitmap {
	return r.Searcher.lex.Mentioning(words...)
}
