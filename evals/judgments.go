package evals

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// MaxRating is the highest grade a judgment may carry (0 irrelevant .. 3 exact).
const MaxRating = 3

// RelevantRating is the lowest grade counted as relevant by recall and MRR.
const RelevantRating = 2

// Judgments are graded relevance judgments: for each query, the rating of each judged product.
type Judgments struct {
	// Queries in the order they first appear in the file.
	Queries []string
	// Ratings maps query -> SKU id -> rating (0..MaxRating).
	Ratings map[string]map[int64]int
}

// Len is the number of judgments.
func (j *Judgments) Len() int {
	n := 0
	for _, r := range j.Ratings {
		n += len(r)
	}
	return n
}

// Answerable reports whether the query has at least one product with a positive gain
// (rating >= 1). nDCG is only defined for such queries; the others are reported apart.
func (j *Judgments) Answerable(q string) bool {
	for _, r := range j.Ratings[q] {
		if r >= 1 {
			return true
		}
	}
	return false
}

// Relevant is the set of products rated RelevantRating or higher for q.
func (j *Judgments) Relevant(q string) map[int64]bool {
	out := map[int64]bool{}
	for id, r := range j.Ratings[q] {
		if r >= RelevantRating {
			out[id] = true
		}
	}
	return out
}

// Exact returns, per query, the SKUs judged an exact answer (MaxRating), in id order.
func (j *Judgments) Exact() map[string][]int64 {
	out := map[string][]int64{}
	for q, rs := range j.Ratings {
		for id, r := range rs {
			if r == MaxRating {
				out[q] = append(out[q], id)
			}
		}
		slices.Sort(out[q])
	}
	return out
}

// Subset returns the judgments of the given queries only (for cross-validation folds).
func (j *Judgments) Subset(queries []string) *Judgments {
	out := &Judgments{Ratings: map[string]map[int64]int{}}
	for _, q := range queries {
		if r, ok := j.Ratings[q]; ok {
			out.Queries = append(out.Queries, q)
			out.Ratings[q] = r
		}
	}
	return out
}

// RowError is one line of a judgments file that was rejected; the other lines are kept.
type RowError struct {
	Line int // 1-based
	Err  error
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// ErrHeader is wrapped by the error for a judgments file whose first line is not
// "query,docid,rating".
var ErrHeader = errors.New(`judgments header must be "query,docid,rating"`)

// ReadJudgmentsFile reads a judgments file; see ReadJudgments.
func ReadJudgmentsFile(path string) (*Judgments, []RowError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open judgments: %w", err)
	}
	defer f.Close()
	j, bad, err := ReadJudgments(f)
	if err != nil {
		return nil, bad, fmt.Errorf("%s: %w", path, err)
	}
	return j, bad, nil
}

// ReadJudgments parses a CSV file with the header "query,docid,rating" (the Chorus / Quepid
// export format). A row that cannot be used (wrong number of fields, empty query, docid not a
// 64-bit integer, rating not an integer in 0..3, or a second, different rating for the same
// query and product) is returned as a RowError and skipped; every other row is kept. A missing
// or wrong header, or an I/O error, fails the whole read. Query text is trimmed of surrounding
// space; blank lines are ignored.
func ReadJudgments(r io.Reader) (*Judgments, []RowError, error) {
	br := bufio.NewReader(r)
	j := &Judgments{Ratings: map[string]map[int64]int{}}
	var bad []RowError
	line := 0
	for {
		text, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, bad, fmt.Errorf("read judgments: %w", err)
		}
		if text == "" && err == io.EOF {
			break
		}
		line++
		text = strings.TrimRight(text, "\r\n")
		if line == 1 {
			h := strings.TrimPrefix(text, "\ufeff")
			if !validHeader(h) {
				return nil, nil, fmt.Errorf("line 1: %w, got %q", ErrHeader, clip(h))
			}
		} else if strings.TrimSpace(text) != "" {
			if e := j.addRow(text); e != nil {
				bad = append(bad, RowError{Line: line, Err: e})
			}
		}
		if err == io.EOF {
			break
		}
	}
	if line == 0 {
		return nil, nil, fmt.Errorf("empty file: %w", ErrHeader)
	}
	return j, bad, nil
}

func validHeader(h string) bool {
	f, err := splitCSV(h)
	if err != nil || len(f) != 3 {
		return false
	}
	want := []string{"query", "docid", "rating"}
	for i := range f {
		if !strings.EqualFold(strings.TrimSpace(f[i]), want[i]) {
			return false
		}
	}
	return true
}

func splitCSV(line string) ([]string, error) {
	cr := csv.NewReader(strings.NewReader(line))
	cr.FieldsPerRecord = -1
	rec, err := cr.Read()
	if err != nil {
		return nil, err
	}
	if _, err := cr.Read(); err != io.EOF {
		return nil, errors.New("a quoted field spans lines")
	}
	return rec, nil
}

func (j *Judgments) addRow(line string) error {
	f, err := splitCSV(line)
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("not a CSV row: %w", err)
	}
	if len(f) != 3 {
		return fmt.Errorf("want 3 fields (query,docid,rating), got %d", len(f))
	}
	q := strings.TrimSpace(f[0])
	if q == "" {
		return errors.New("empty query")
	}
	id, err := strconv.ParseInt(strings.TrimSpace(f[1]), 10, 64)
	if err != nil {
		return fmt.Errorf("docid %q is not a 64-bit integer", clip(f[1]))
	}
	rating, err := strconv.Atoi(strings.TrimSpace(f[2]))
	if err != nil || rating < 0 || rating > MaxRating {
		return fmt.Errorf("rating %q is not an integer in 0..%d", clip(f[2]), MaxRating)
	}
	m, ok := j.Ratings[q]
	if !ok {
		m = map[int64]int{}
		j.Ratings[q] = m
		j.Queries = append(j.Queries, q)
	}
	if old, dup := m[id]; dup {
		if old != rating {
			return fmt.Errorf("query %q, docid %d: rated %d earlier, now %d (kept %d)", q, id, old, rating, old)
		}
		return nil
	}
	m[id] = rating
	return nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
