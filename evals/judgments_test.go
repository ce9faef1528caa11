package evals

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadJudgmentsKeepsGoodRowsAndReportsBadOnes(t *testing.T) {
	in := "\ufeffQuery,DocID,Rating\r\n" +
		"usb stick,101,3\r\n" +
		"usb stick,102,x\n" + // bad rating
		"\n" +
		"\"laptop, gaming\",201,2\n" + // quoted comma
		"laptop bag,abc,1\n" + // bad docid
		"laptop bag,301,4\n" + // out of range
		",302,1\n" + // empty query
		"laptop bag,303\n" + // too few fields
		"usb stick,101,3\n" + // duplicate, same rating: fine
		"usb stick,101,1\n" + // conflicting duplicate
		"laptop bag,\"bad\"quote,1\n" +
		" usb stick ,103,0" // no final newline, spaces trimmed
	j, bad, err := ReadJudgments(strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, []string{"usb stick", "laptop, gaming"}, j.Queries)
	require.Equal(t, map[int64]int{101: 3, 103: 0}, j.Ratings["usb stick"])
	require.Equal(t, map[int64]int{201: 2}, j.Ratings["laptop, gaming"])
	require.Equal(t, 3, j.Len())
	lines := []int{}
	for _, b := range bad {
		lines = append(lines, b.Line)
	}
	require.Equal(t, []int{3, 6, 7, 8, 9, 11, 12}, lines)
	require.Contains(t, bad[0].Error(), `line 3: rating "x" is not an integer in 0..3`)
	require.Contains(t, bad[5].Error(), "rated 3 earlier, now 1")
	require.True(t, j.Answerable("usb stick"))
	require.Equal(t, map[int64]bool{101: true}, j.Relevant("usb stick"))
}

func TestReadJudgmentsHeader(t *testing.T) {
	for _, in := range []string{"", "q,d,r\nx,1,1\n", "query,docid\n", "query,docid,rating,extra\n"} {
		_, _, err := ReadJudgments(strings.NewReader(in))
		require.Error(t, err, in)
		require.True(t, errors.Is(err, ErrHeader), in)
	}
	j, bad, err := ReadJudgments(strings.NewReader("query,docid,rating\n"))
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Empty(t, j.Queries)
}

func TestPublicJudgmentsParseCleanly(t *testing.T) {
	j, bad, err := ReadJudgmentsFile(filepath.Join("testdata", "icecat", "judgments.csv"))
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Len(t, j.Queries, 96)
	require.Equal(t, 2605, j.Len())
	unanswerable := 0
	for _, q := range j.Queries {
		if !j.Answerable(q) {
			unanswerable++
		}
	}
	require.Equal(t, 14, unanswerable)
}

func FuzzReadJudgments(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "icecat", "judgments.csv")); err == nil {
		f.Add(string(b[:2000]))
	}
	f.Add("query,docid,rating\nusb stick,1,3\n")
	f.Add("query,docid,rating\n\"a,b\",2,0\r\n\"unterminated,3,1\n")
	f.Add("query,docid,rating\nx,-9223372036854775808,2\nx,9223372036854775808,2\n")
	f.Add("\ufeffquery,docid,rating\n,,\n")
	f.Fuzz(func(t *testing.T, in string) {
		j, bad, err := ReadJudgments(strings.NewReader(in))
		if err != nil {
			require.Nil(t, j)
			return
		}
		n := 0
		for _, q := range j.Queries {
			require.NotEmpty(t, q)
			require.Equal(t, strings.TrimSpace(q), q)
			for _, r := range j.Ratings[q] {
				require.True(t, r >= 0 && r <= MaxRating)
				n++
			}
		}
		require.Equal(t, len(j.Ratings), len(j.Queries))
		require.Equal(t, n, j.Len())
		lines := strings.Count(in, "\n") + 1
		for _, b := range bad {
			require.True(t, b.Line >= 2 && b.Line <= lines, "line %d of %d", b.Line, lines)
		}
		// Every data line is either kept, a duplicate, blank, or reported.
		require.LessOrEqual(t, n+len(bad), lines-1)
	})
}
