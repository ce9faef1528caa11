package uselite

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxTokens is the number of tokens the model looks at; the graph drops
// every token at position >= 128 (ClipToMaxLength).
const MaxTokens = 128

// reservedSymbols is the number of vocabulary entries at the start of
// vocab.json that never enter the trie ("�", "<s>", "</s>", extra ids).
const reservedSymbols = 6

// wordBoundary is SentencePiece's word-start marker, U+2581.
const wordBoundary = '\u2581'

// Tokenizer is the SentencePiece-style tokenizer of the reference runtime
// (@energetic-ai/embeddings, itself a copy of the TF.js USE tokenizer),
// reproduced quirk for quirk:
//
//   - the input is NFKC-normalised (no lowercasing); a non-empty result gets
//     a leading "▁" and every U+0020 space becomes "▁" (other whitespace is
//     kept as is);
//   - a trie over the vocabulary (entries 6..7999, a later duplicate piece
//     replacing an earlier one) gives, at each code point, the pieces that
//     start there; where none does, the single code point is a candidate
//     with id 0 and score 0;
//   - Viterbi over those candidates by summed score, visiting candidates for
//     an end position in increasing start order, replacing the best when the
//     best is still exactly 0 or the new score is >= it (so ties go to the
//     shorter last piece);
//   - the backward pass steps back by the UTF-16 length of the chosen
//     vocabulary piece (for id 0 that is the 1-unit "�");
//   - consecutive id-0 (unknown) tokens merge into one.
//
// A Tokenizer is immutable after construction and safe for concurrent use.
type Tokenizer struct {
	pieceLen []int32    // UTF-16 length of each vocabulary piece
	nodes    []trieNode // node 0 is the root
	edges    map[uint64]int32
	vocab    int
}

type trieNode struct {
	id    int32 // vocabulary id ending here, or -1
	depth int32 // code points from the root
	score float64
}

func edgeKey(node int32, r rune) uint64 { return uint64(uint32(node))<<32 | uint64(uint32(r)) }

func newTokenizer(vocab []vocabEntry) (*Tokenizer, error) {
	if len(vocab) <= reservedSymbols {
		return nil, fmt.Errorf("vocabulary has %d entries, want more than %d", len(vocab), reservedSymbols)
	}
	t := &Tokenizer{
		pieceLen: make([]int32, len(vocab)),
		nodes:    []trieNode{{id: -1}},
		edges:    make(map[uint64]int32, 4*len(vocab)),
		vocab:    len(vocab),
	}
	for i, v := range vocab {
		t.pieceLen[i] = int32(len(utf16.Encode([]rune(v.piece))))
	}
	if t.pieceLen[0] != 1 {
		return nil, fmt.Errorf("vocabulary entry 0 is %q, want the 1-unit unknown piece", vocab[0].piece)
	}
	for i := reservedSymbols; i < len(vocab); i++ {
		if vocab[i].piece == "" {
			continue
		}
		node := int32(0)
		for _, r := range vocab[i].piece {
			k := edgeKey(node, r)
			next, ok := t.edges[k]
			if !ok {
				next = int32(len(t.nodes))
				t.nodes = append(t.nodes, trieNode{id: -1, depth: t.nodes[node].depth + 1})
				t.edges[k] = next
			}
			node = next
		}
		t.nodes[node].id = int32(i)
		t.nodes[node].score = vocab[i].score
	}
	return t, nil
}

// VocabSize is the number of vocabulary entries; every id is below it.
func (t *Tokenizer) VocabSize() int { return t.vocab }

// prepare normalises text the way the reference runtime does before
// segmentation and returns its code points.
func prepare(text string, dst []rune) []rune {
	if !utf8.ValidString(text) {
		// JavaScript strings cannot hold invalid UTF-8; decoding bytes to a
		// string there turns each bad sequence into U+FFFD.
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	s := norm.NFKC.String(text)
	dst = dst[:0]
	if s == "" {
		return dst
	}
	dst = append(dst, wordBoundary)
	for _, r := range s {
		if r == ' ' {
			r = wordBoundary
		}
		dst = append(dst, r)
	}
	return dst
}

// tokScratch holds the per-call buffers of Encode.
type tokScratch struct {
	syms  []rune
	best  []float64
	words []int32
	out   []int32
}

// Encode returns the token ids of text, at most MaxTokens of them.
func (t *Tokenizer) Encode(text string) []int32 {
	var s tokScratch
	ids := t.encode(text, &s)
	return append([]int32(nil), ids...)
}

// EncodeAll returns every token id of text, without the MaxTokens cap.
func (t *Tokenizer) EncodeAll(text string) []int32 {
	var s tokScratch
	ids := t.encodeAll(text, &s)
	return append([]int32(nil), ids...)
}

// maxEncodeBytes bounds the text Encode segments. The first 128 tokens
// span at most 128 x 16 code points (8 KiB of UTF-8); the Viterbi path
// from a cut-off end rejoins the full text's path long before reaching
// them, so the result is the same while a multi-megabyte input costs no
// more than 32 KiB of work.
const maxEncodeBytes = 32 << 10

func (t *Tokenizer) encode(text string, s *tokScratch) []int32 {
	if len(text) > maxEncodeBytes {
		cut := maxEncodeBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	ids := t.encodeAll(text, s)
	if len(ids) > MaxTokens {
		ids = ids[:MaxTokens]
	}
	return ids
}

// encodeAll segments text; the returned slice aliases s.out.
func (t *Tokenizer) encodeAll(text string, s *tokScratch) []int32 {
	s.syms = prepare(text, s.syms)
	syms := s.syms
	n := len(syms)
	if cap(s.best) < n+1 {
		s.best = make([]float64, n+1)
		s.words = make([]int32, n+1)
	}
	best := s.best[:n+1]
	words := s.words[:n+1]
	clear(best)
	clear(words)
	// Visiting start positions in increasing order applies the candidates
	// of every end position in increasing start order, as the reference's
	// lattice walk does, and best[start] is final when it is read.
	for i := 0; i < n; i++ {
		base := best[i]
		node := int32(0)
		matched := false
		for j := i; j < n; j++ {
			next, ok := t.edges[edgeKey(node, syms[j])]
			if !ok {
				break
			}
			node = next
			nd := &t.nodes[node]
			if nd.id < 0 {
				continue
			}
			matched = true
			end := j + 1
			score := nd.score + base
			if best[end] == 0 || score >= best[end] {
				best[end] = score
				words[end] = nd.id
			}
		}
		if !matched {
			end := i + 1
			score := base
			if best[end] == 0 || score >= best[end] {
				best[end] = score
				words[end] = 0
			}
		}
	}
	out := s.out[:0]
	for iter := n; iter > 0; {
		id := words[iter]
		out = append(out, id)
		iter -= int(t.pieceLen[id])
	}
	// Merge runs of unknowns (in backward order, as the reference does),
	// then reverse.
	merged := out[:0]
	prevUnk := false
	for _, id := range out {
		if !(prevUnk && id == 0) {
			merged = append(merged, id)
		}
		prevUnk = id == 0
	}
	for i, j := 0, len(merged)-1; i < j; i, j = i+1, j-1 {
		merged[i], merged[j] = merged[j], merged[i]
	}
	s.out = out
	return merged
}
