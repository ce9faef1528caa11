package evals

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
)

// Cut-offs of the reported metrics.
const (
	NDCGDepth   = 10 // nDCG@10 and condensed nDCG@10
	RecallDepth = 50 // recall@50
	PageSize    = 10 // a "page" for the no-answer metrics
)

// Ranked is what a method returned for one query: SKU ids, best first, and the confidence the
// method gives the list (0..1; NaN when the method has none).
type Ranked struct {
	IDs        []int64
	Confidence float64
}

// Method is one retrieval method under evaluation.
type Method struct {
	Name string
	// Rank returns at most k products for the query.
	Rank func(ctx context.Context, query string, k int) (Ranked, error)
}

// QueryResult is one query's metrics under one method.
type QueryResult struct {
	Query      string  `json:"query"`
	Answerable bool    `json:"answerable"` // some judged product has rating >= 1
	NDCG       float64 `json:"ndcg_at10"`
	Condensed  float64 `json:"condensed_ndcg_at10"`
	Recall     float64 `json:"recall_at50"`
	RR         float64 `json:"rr"`
	Returned   int     `json:"returned"` // results returned (of RecallDepth asked)
	Confidence float64 `json:"confidence"`
}

// Summary averages a method's query results.
type Summary struct {
	// Means over the answerable queries (nDCG) or over queries with a product rated >= 2
	// (recall, MRR).
	NDCG      float64 `json:"ndcg_at10"`
	Condensed float64 `json:"condensed_ndcg_at10"`
	Recall    float64 `json:"recall_at50"`
	MRR       float64 `json:"mrr"`
	// Answerable and Unanswerable count the queries in each group.
	Answerable   int `json:"answerable_queries"`
	Unanswerable int `json:"unanswerable_queries"`
	// NoAnswerMeanPage is the mean number of results on the first page (of PageSize) for the
	// unanswerable queries; NoAnswerFullPage is the share of them that still fill the page.
	NoAnswerMeanPage float64 `json:"no_answer_mean_page"`
	NoAnswerFullPage float64 `json:"no_answer_full_page_rate"`
	// ShortPageRate is the share of answerable queries whose first page is not full: the price
	// paid for cutting low-confidence results.
	ShortPageRate float64 `json:"answerable_short_page_rate"`
}

// MethodReport is one method's summary and per-query rows.
type MethodReport struct {
	Name    string        `json:"-"`
	Summary Summary       `json:"summary"`
	Queries []QueryResult `json:"queries,omitempty"`
}

// Report is an evaluation of several methods on one judgments file.
type Report struct {
	Default string
	Methods []MethodReport
}

// Method returns the named method's report, or nil.
func (r *Report) Method(name string) *MethodReport {
	for i := range r.Methods {
		if r.Methods[i].Name == name {
			return &r.Methods[i]
		}
	}
	return nil
}

// Evaluate runs every query of j through every method, asking for RecallDepth results.
func Evaluate(ctx context.Context, j *Judgments, methods []Method, defaultMethod string) (*Report, error) {
	rep := &Report{Default: defaultMethod}
	for _, m := range methods {
		mr := MethodReport{Name: m.Name}
		for _, q := range j.Queries {
			r, err := m.Rank(ctx, q, RecallDepth)
			if err != nil {
				return nil, fmt.Errorf("%s: query %q: %w", m.Name, q, err)
			}
			mr.Queries = append(mr.Queries, Score(j, q, r))
		}
		mr.Summary = Summarize(mr.Queries)
		rep.Methods = append(rep.Methods, mr)
	}
	return rep, nil
}

// Score computes one query's metrics.
func Score(j *Judgments, q string, r Ranked) QueryResult {
	ratings := j.Ratings[q]
	return QueryResult{
		Query:      q,
		Answerable: j.Answerable(q),
		NDCG:       NDCG(r.IDs, ratings, NDCGDepth),
		Condensed:  CondensedNDCG(r.IDs, ratings, NDCGDepth),
		Recall:     Recall(r.IDs, ratings, RecallDepth),
		RR:         ReciprocalRank(r.IDs, ratings),
		Returned:   len(r.IDs),
		Confidence: r.Confidence,
	}
}

// Summarize averages query results.
func Summarize(qs []QueryResult) Summary {
	var s Summary
	var nd, cn, rc, rr, page, full, short []float64
	for _, q := range qs {
		p := float64(min(q.Returned, PageSize))
		if q.Answerable {
			s.Answerable++
			nd = append(nd, q.NDCG)
			cn = append(cn, q.Condensed)
			short = append(short, b2f(q.Returned < PageSize))
		} else {
			s.Unanswerable++
			page = append(page, p)
			full = append(full, b2f(q.Returned >= PageSize))
		}
		rc = append(rc, q.Recall)
		rr = append(rr, q.RR)
	}
	s.NDCG, s.Condensed, s.Recall, s.MRR = mean(nd), mean(cn), mean(rc), mean(rr)
	s.NoAnswerMeanPage, s.NoAnswerFullPage, s.ShortPageRate = mean(page), mean(full), mean(short)
	return s
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WriteTable prints the summary table, and with perQuery a row per query and method.
func (r *Report) WriteTable(w io.Writer, perQuery bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tnDCG@10\tcondensed nDCG@10\trecall@50\tMRR\tno-answer page\tno-answer full pages\tshort pages\t")
	for _, m := range r.Methods {
		s := m.Summary
		name := m.Name
		if name == r.Default {
			name += " (default)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, f3(s.NDCG), f3(s.Condensed), f3(s.Recall), f3(s.MRR),
			f1(s.NoAnswerMeanPage), pct(s.NoAnswerFullPage), pct(s.ShortPageRate))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Methods) > 0 {
		s := r.Methods[0].Summary
		fmt.Fprintf(w, "\n%d answerable queries (nDCG over these); %d without any relevant product (reported in the no-answer columns)\n",
			s.Answerable, s.Unanswerable)
	}
	if !perQuery {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "query\tmethod\tnDCG@10\tcondensed\trecall@50\tRR\treturned\tconfidence\t")
	byQuery := map[string][]int{}
	var order []string
	for mi, m := range r.Methods {
		for qi, q := range m.Queries {
			if mi == 0 {
				order = append(order, q.Query)
			}
			byQuery[q.Query] = append(byQuery[q.Query], qi)
		}
	}
	for _, q := range order {
		for mi, m := range r.Methods {
			row := m.Queries[byQuery[q][mi]]
			label := q
			if !row.Answerable {
				label += " (no relevant)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", label, m.Name, f3(row.NDCG), f3(row.Condensed), f3(row.Recall),
				f3(row.RR), row.Returned, f3(row.Confidence))
		}
	}
	return tw.Flush()
}

// JSON is the machine-readable report: {"default": ..., "methods": {name: metrics}}.
type JSON struct {
	Default string                `json:"default"`
	Methods map[string]JSONMethod `json:"methods"`
}

// JSONMethod is one method in the JSON report.
type JSONMethod struct {
	NDCG             float64       `json:"ndcg_at10"`
	Condensed        float64       `json:"condensed_ndcg_at10"`
	Recall           float64       `json:"recall_at50"`
	MRR              float64       `json:"mrr"`
	NoAnswerMeanPage float64       `json:"no_answer_mean_page"`
	NoAnswerFullPage float64       `json:"no_answer_full_page_rate"`
	ShortPageRate    float64       `json:"answerable_short_page_rate"`
	Queries          []QueryResult `json:"queries,omitempty"`
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer, perQuery bool) error {
	out := JSON{Default: r.Default, Methods: map[string]JSONMethod{}}
	for _, m := range r.Methods {
		s := m.Summary
		jm := JSONMethod{NDCG: clean(s.NDCG), Condensed: clean(s.Condensed), Recall: clean(s.Recall), MRR: clean(s.MRR),
			NoAnswerMeanPage: clean(s.NoAnswerMeanPage), NoAnswerFullPage: clean(s.NoAnswerFullPage), ShortPageRate: clean(s.ShortPageRate)}
		if perQuery {
			for _, q := range m.Queries {
				q.NDCG, q.Condensed, q.Recall, q.RR, q.Confidence = clean(q.NDCG), clean(q.Condensed), clean(q.Recall), clean(q.RR), clean(q.Confidence)
				jm.Queries = append(jm.Queries, q)
			}
		}
		out.Methods[m.Name] = jm
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// clean rounds to 4 decimals and turns NaN (undefined) into -1, since JSON has no NaN.
func clean(x float64) float64 {
	if math.IsNaN(x) {
		return -1
	}
	return math.Round(x*1e4) / 1e4
}

func f3(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.3f", x)
}

func f1(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.1f", x)
}

func pct(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*x)
}

// Folds splits the queries into n folds by a stable hash of the query text (not by position,
// so a file's ordering does not decide the folds).
func Folds(queries []string, n int) [][]string {
	out := make([][]string, n)
	sorted := append([]string(nil), queries...)
	sort.Slice(sorted, func(a, b int) bool {
		ha, hb := fnv(sorted[a]), fnv(sorted[b])
		if ha != hb {
			return ha < hb
		}
		return sorted[a] < sorted[b]
	})
	for i, q := range sorted {
		out[i%n] = append(out[i%n], q)
	}
	return out
}

func fnv(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
