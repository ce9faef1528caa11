package tagger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
)

// MaxWords bounds the words of one rule tag (Definition.Words).
const MaxWords = 32

// wordTerms are a rule tag's words as titleTerms reads them, one list per word or phrase
// ("Games" -> [game]; "video game" -> [video game]); entries without a term are left out.
func wordTerms(words []string) [][]string {
	var out [][]string
	for _, w := range words {
		if ts := titleTerms(w); len(ts) > 0 {
			out = append(out, ts)
		}
	}
	return out
}

// titleTerms are a text's words for rule tags' words: lower case, letters and digits, a plural
// made singular ("Games" -> game), and no other stemming, so that "gaming" is not "game" (a
// board game is no gaming gear) as it is to the search analyser.
func titleTerms(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		out = append(out, foldPlural(w))
	}
	return out
}

// foldPlural makes a regular English plural singular: "batteries" battery, "boxes" box,
// "glasses" glass, "watches" watch, "cases" case, "games" game; "glass" and "gaming" stay.
func foldPlural(w string) string {
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses") || strings.HasSuffix(w, "xes") || strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "shes"):
		return w[:len(w)-2]
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us"):
		return w[:len(w)-1]
	}
	return w
}

// titleWords keeps, for the terms some rule tag's words use, the live SKUs whose titles hold
// each. Every row the store scans updates the terms tracked so far (scanRow); a term asked for
// the first time is filled from the titles in skus (Store.ensureWords). Titles are not kept.
type titleWords struct {
	mu    sync.Mutex
	terms map[string]*roaring64.Bitmap
}

// note updates the tracked terms for one scanned row.
func (w *titleWords) note(o int64, live bool, title string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.terms) == 0 {
		return
	}
	has := map[string]bool{}
	if live {
		for _, s := range titleTerms(title) {
			has[s] = true
		}
	}
	for term, bm := range w.terms {
		if has[term] {
			bm.Add(uint64(o))
		} else {
			bm.Remove(uint64(o))
		}
	}
}

// ensure tracks the terms, reading every live title once when one of them is new. The caller
// holds the tagger's lock, so no poll applies rows meanwhile.
func (s *Store) ensureWords(ctx context.Context, entries [][]string) error {
	w := &s.words
	w.mu.Lock()
	var fresh []string
	for _, ts := range entries {
		for _, term := range ts {
			if _, ok := w.terms[term]; !ok && !slices.Contains(fresh, term) {
				fresh = append(fresh, term)
			}
		}
	}
	w.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	got := make(map[string]*roaring64.Bitmap, len(fresh))
	for _, term := range fresh {
		got[term] = roaring64.New()
	}
	rows, err := s.pool.Query(ctx, `SELECT ordinal, title FROM skus WHERE live`)
	if err != nil {
		return fmt.Errorf("read titles: %w", err)
	}
	var o int64
	var title string
	_, err = pgx.ForEachRow(rows, []any{&o, &title}, func() error {
		for _, term := range titleTerms(title) {
			if bm := got[term]; bm != nil {
				bm.Add(uint64(o))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read titles: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.terms == nil {
		w.terms = map[string]*roaring64.Bitmap{}
	}
	for term, bm := range got {
		if _, ok := w.terms[term]; !ok {
			w.terms[term] = bm
		}
	}
	return nil
}

// holding returns the live SKUs whose titles hold one of the entries (each entry: all its
// terms), within a set when within is not nil. The terms must be tracked (ensureWords).
func (s *Store) holding(entries [][]string, within *roaring64.Bitmap) *roaring64.Bitmap {
	w := &s.words
	w.mu.Lock()
	defer w.mu.Unlock()
	out := roaring64.New()
	for _, ts := range entries {
		var one *roaring64.Bitmap
		for _, term := range ts {
			bm := w.terms[term]
			if bm == nil {
				one = roaring64.New()
				break
			}
			if one == nil {
				one = bm.Clone()
				if within != nil {
					one.And(within)
				}
			} else {
				one.And(bm)
			}
		}
		if one != nil {
			out.Or(one)
		}
	}
	return out
}

// evalRule evaluates a rule tag (within a set when within is not nil): its rule, and when it
// has words, only the SKUs whose titles hold one of them.
func (t *Tagger) evalRule(ctx context.Context, d *TagDef, within *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	rule := d.Definition.ruleExpr()
	var bm *roaring64.Bitmap
	var err error
	if within != nil {
		bm, err = t.ix.EvalWithin(rule, within)
	} else {
		bm, err = t.ix.Eval(rule)
	}
	if err != nil || len(d.Definition.Words) == 0 {
		return bm, err
	}
	entries := wordTerms(d.Definition.Words)
	if err := t.store.ensureWords(ctx, entries); err != nil {
		return nil, err
	}
	bm.And(t.store.holding(entries, within))
	return bm, nil
}

// wordsText is how a rule tag's words read in an explanation.
func wordsText(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = fmt.Sprintf("%q", w)
	}
	return "title holds " + strings.Join(q, " or ")
}
