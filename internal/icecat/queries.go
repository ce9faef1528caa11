package icecat

import (
	"encoding/csv"
	"os"
	"sort"
	"testing"
)

// Queries returns the distinct query texts of the public judgments (judgments.csv), sorted.
func Queries(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open(JudgmentsFile(tb))
	if err != nil {
		tb.Fatalf("icecat: %v", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatalf("icecat: judgments: %v", err)
	}
	seen := map[string]bool{}
	var out []string
	for i, r := range recs {
		if i == 0 || len(r) == 0 || seen[r[0]] {
			continue
		}
		seen[r[0]] = true
		out = append(out, r[0])
	}
	sort.Strings(out)
	return out
}
