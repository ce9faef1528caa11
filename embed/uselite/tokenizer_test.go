package uselite

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTokenizerGolden compares token ids with the reference runtime's
// tokenizer on 1,500 Icecat titles and the edge cases of golden-titles.json.
func TestTokenizerGolden(t *testing.T) {
	m := loadTestModel(t)
	b, err := os.ReadFile(filepath.Join("..", "testdata", "golden-tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Phrases []string  `json:"phrases"`
		IDs     [][]int32 `json:"ids"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, p := range g.Phrases {
		got := m.Tokenizer().EncodeAll(p)
		if !slices.Equal(got, g.IDs[i]) {
			bad++
			if bad < 10 {
				t.Errorf("%.60q:\n got %v\nwant %v", p, got, g.IDs[i])
			}
		}
		capped := m.Tokenizer().Encode(p)
		if len(capped) > MaxTokens || !slices.Equal(capped, got[:len(capped)]) {
			t.Errorf("%.60q: Encode is not the first %d of EncodeAll", p, MaxTokens)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d phrases tokenised differently", bad, len(g.Phrases))
	}
}

func TestTokenizerQuirks(t *testing.T) {
	m := loadTestModel(t)
	tok := m.Tokenizer()
	if got := tok.Encode(""); len(got) != 0 {
		t.Errorf("empty: %v", got)
	}
	// Doubled spaces give stand-alone "▁" pieces (id 30).
	if got := tok.Encode("  double"); len(got) < 2 || got[0] != 30 || got[1] != 30 {
		t.Errorf("leading spaces: %v", got)
	}
	// A run of unknown characters is one id-0 token.
	if got := tok.Encode("\x01\x02\x03"); !slices.Equal(got, []int32{30, 0}) {
		t.Errorf("control chars: %v", got)
	}
	long := strings.Repeat("word ", 2000)
	if got := tok.Encode(long); len(got) != MaxTokens {
		t.Errorf("long text: %d tokens", len(got))
	}
	if got := tok.Encode("\xff\xfe bad utf8"); len(got) == 0 {
		t.Errorf("invalid utf-8 gave no tokens")
	}
}

// TestEncodeLongInput: Encode only segments the first 32 KiB, and that
// gives the same first 128 tokens as segmenting everything.
func TestEncodeLongInput(t *testing.T) {
	m := loadTestModel(t)
	b, err := os.ReadFile(filepath.Join("..", "testdata", "golden-tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Phrases []string `json:"phrases"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	tok := m.Tokenizer()
	for start := 0; start < 40; start++ {
		var sb strings.Builder
		for i := start; sb.Len() < 3*maxEncodeBytes; i++ {
			sb.WriteString(g.Phrases[i%len(g.Phrases)])
			sb.WriteString(" ")
		}
		text := sb.String()
		all := tok.EncodeAll(text)
		got := tok.Encode(text)
		if !slices.Equal(got, all[:MaxTokens]) {
			t.Fatalf("start %d: Encode differs from the first %d of EncodeAll", start, MaxTokens)
		}
	}
	huge := strings.Repeat("日本語 mixed text ", 1<<16) // 1.4 MB
	if got := tok.Encode(huge); len(got) != MaxTokens {
		t.Errorf("huge: %d tokens", len(got))
	}
}

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"", "a", "  double  spaces ", "耳机 wireless", "🎧", "\xff\xfe", "e-mail: foo@bar.com :) :-)", "Ｆｕｌｌ", strings.Repeat("ab ", 100), "\x00\t\n"} {
		f.Add(s)
	}
	m := loadTestModel(f)
	tok := m.Tokenizer()
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		if len(ids) > MaxTokens {
			t.Fatalf("%d ids", len(ids))
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		if s == "" && len(ids) != 0 {
			t.Fatalf("empty input gave %v", ids)
		}
		if utf8.ValidString(s) && len(ids) == 0 && s != "" {
			t.Fatalf("non-empty input %q gave no tokens", s)
		}
	})
}
