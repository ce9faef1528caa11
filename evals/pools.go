package evals

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Pool judgments: for each campaign scenario, the SKUs that belong in its pool. The file is
// CSV with the header scenario,sku_id, one row per member (testdata/scenarios/judgments.csv is
// written from scenarios.json by `go test ./evals -run TestScenarioLabels -update`).
type PoolJudgments struct {
	// Scenarios in the order they first appear.
	Scenarios []string
	Members   map[string]map[int64]bool
}

// ReadPoolJudgments reads scenario,sku_id rows. A bad row is reported and skipped; a bad
// header stops the read.
func ReadPoolJudgments(r io.Reader) (*PoolJudgments, []RowError, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("pool judgments: read header: %w", err)
	}
	if len(head) != 2 || strings.TrimSpace(strings.TrimPrefix(head[0], "\ufeff")) != "scenario" || strings.TrimSpace(head[1]) != "sku_id" {
		return nil, nil, fmt.Errorf("pool judgments: header %q: want scenario,sku_id", strings.Join(head, ","))
	}
	j := &PoolJudgments{Members: map[string]map[int64]bool{}}
	var bad []RowError
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bad = append(bad, RowError{Line: line, Err: err})
			continue
		}
		if len(rec) != 2 {
			bad = append(bad, RowError{Line: line, Err: fmt.Errorf("want 2 fields, got %d", len(rec))})
			continue
		}
		sc := strings.TrimSpace(rec[0])
		id, err := strconv.ParseInt(strings.TrimSpace(rec[1]), 10, 64)
		if sc == "" || err != nil {
			bad = append(bad, RowError{Line: line, Err: fmt.Errorf("want a scenario and an integer sku_id, got %q, %q", clip(rec[0]), clip(rec[1]))})
			continue
		}
		if j.Members[sc] == nil {
			j.Members[sc] = map[int64]bool{}
			j.Scenarios = append(j.Scenarios, sc)
		}
		j.Members[sc][id] = true
	}
	return j, bad, nil
}

// ReadPoolJudgmentsFile reads a pool judgments file.
func ReadPoolJudgmentsFile(path string) (*PoolJudgments, []RowError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return ReadPoolJudgments(f)
}

// WritePoolJudgments writes j as scenario,sku_id rows, members in id order.
func WritePoolJudgments(w io.Writer, j *PoolJudgments) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"scenario", "sku_id"}); err != nil {
		return err
	}
	for _, sc := range j.Scenarios {
		ids := make([]int64, 0, len(j.Members[sc]))
		for id := range j.Members[sc] {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
		for _, id := range ids {
			if err := cw.Write([]string{sc, strconv.FormatInt(id, 10)}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// ScenarioRule labels one campaign scenario: the SKUs whose title (or, with field "text",
// title and description) matches Include and not Exclude (case-insensitive RE2), and that pass
// Filter (the tag index's text filter language; the generated market, stock, sales and list
// prices are deterministic per SKU, so the labels are stable).
type ScenarioRule struct {
	ID       string `json:"id"`
	Scenario string `json:"scenario"`
	Include  string `json:"include"`
	Exclude  string `json:"exclude,omitempty"`
	Field    string `json:"field,omitempty"`
	Filter   string `json:"filter,omitempty"`
	Note     string `json:"note"`
}

// ReadScenarioRules reads a JSON array of rules.
func ReadScenarioRules(path string) ([]ScenarioRule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rules []ScenarioRule
	if err := json.Unmarshal(b, &rules); err != nil {
		return nil, fmt.Errorf("scenario rules %s: %w", path, err)
	}
	for _, r := range rules {
		if r.Scenario == "" || r.Include == "" {
			return nil, fmt.Errorf("scenario rules %s: %q needs a scenario and an include pattern", path, r.ID)
		}
	}
	return rules, nil
}

// LabelDoc is what a rule reads of a product.
type LabelDoc struct {
	ID                 int64
	Title, Description string
}

// Label applies rules to docs; pass returns the SKU ids that pass a rule's filter.
func Label(rules []ScenarioRule, docs []LabelDoc, pass func(filter string) (map[int64]bool, error)) (*PoolJudgments, error) {
	j := &PoolJudgments{Members: map[string]map[int64]bool{}}
	for _, r := range rules {
		inc, err := regexp.Compile("(?i)" + r.Include)
		if err != nil {
			return nil, fmt.Errorf("%s: include: %w", r.ID, err)
		}
		var exc *regexp.Regexp
		if r.Exclude != "" {
			if exc, err = regexp.Compile("(?i)" + r.Exclude); err != nil {
				return nil, fmt.Errorf("%s: exclude: %w", r.ID, err)
			}
		}
		var ok map[int64]bool
		if r.Filter != "" {
			if ok, err = pass(r.Filter); err != nil {
				return nil, fmt.Errorf("%s: filter: %w", r.ID, err)
			}
		}
		m := map[int64]bool{}
		for _, d := range docs {
			text := d.Title
			if r.Field == "text" {
				text += " || " + d.Description
			}
			if inc.MatchString(text) && (exc == nil || !exc.MatchString(text)) && (ok == nil || ok[d.ID]) {
				m[d.ID] = true
			}
		}
		j.Scenarios = append(j.Scenarios, r.Scenario)
		j.Members[r.Scenario] = m
	}
	return j, nil
}

// PoolScore is one scenario's pool against its judged members.
type PoolScore struct {
	Scenario              string
	Pool, Members, Hits   int
	Precision, Recall, F1 float64
	EmptyWhileMembers     bool
	Types                 []string // the intent's types, for the report
}

// ScorePool compares a pool (SKU ids) with the members.
func ScorePool(scenario string, pool []int64, members map[int64]bool) PoolScore {
	s := PoolScore{Scenario: scenario, Pool: len(pool), Members: len(members)}
	seen := map[int64]bool{}
	for _, id := range pool {
		if members[id] && !seen[id] {
			s.Hits++
		}
		seen[id] = true
	}
	if s.Pool > 0 {
		s.Precision = float64(s.Hits) / float64(s.Pool)
	}
	if s.Members > 0 {
		s.Recall = float64(s.Hits) / float64(s.Members)
	}
	if s.Precision+s.Recall > 0 {
		s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
	}
	s.EmptyWhileMembers = s.Pool == 0 && s.Members > 0
	return s
}

// PoolSummary is the macro average over scenarios.
type PoolSummary struct {
	Scenarios             int
	Precision, Recall, F1 float64
	Empty                 int // scenarios with an empty pool although members exist
}

// SummarizePools macro-averages scores.
func SummarizePools(ss []PoolScore) PoolSummary {
	var out PoolSummary
	for _, s := range ss {
		out.Precision += s.Precision
		out.Recall += s.Recall
		out.F1 += s.F1
		if s.EmptyWhileMembers {
			out.Empty++
		}
	}
	if n := float64(len(ss)); n > 0 {
		out.Scenarios = len(ss)
		out.Precision, out.Recall, out.F1 = out.Precision/n, out.Recall/n, out.F1/n
	}
	return out
}

// PoolRunner builds a scenario's pool: the SKU ids, best first, and the intent's types.
type PoolRunner func(ctx context.Context, scenario string, limit int) (ids []int64, types []string, err error)

// EvaluatePools runs every judged scenario through run with the given limit.
func EvaluatePools(ctx context.Context, j *PoolJudgments, run PoolRunner, limit int) ([]PoolScore, error) {
	out := make([]PoolScore, 0, len(j.Scenarios))
	for _, sc := range j.Scenarios {
		ids, types, err := run(ctx, sc, limit)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc, err)
		}
		s := ScorePool(sc, ids, j.Members[sc])
		s.Types = types
		out = append(out, s)
	}
	return out, nil
}

// WritePoolTable writes one row per scenario and the macro average.
func WritePoolTable(w io.Writer, ss []PoolScore) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-58s %7s %7s %6s %6s %6s  %s\n", "scenario", "members", "pool", "P", "R", "F1", "types")
	for _, s := range ss {
		fmt.Fprintf(&b, "%-58s %7d %7d %6.2f %6.2f %6.2f  %s\n", clipTo(s.Scenario, 58), s.Members, s.Pool, s.Precision, s.Recall, s.F1, strings.Join(s.Types, ", "))
	}
	m := SummarizePools(ss)
	fmt.Fprintf(&b, "macro over %d scenarios: P %.3f R %.3f F1 %.3f; empty pools with members: %d\n", m.Scenarios, m.Precision, m.Recall, m.F1, m.Empty)
	_, err := io.WriteString(w, b.String())
	return err
}

func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// idsOf lists a bitmap's SKU ids through toID.
func idsOf(bm *roaring64.Bitmap, toID func(int64) (int64, bool)) map[int64]bool {
	out := map[int64]bool{}
	it := bm.Iterator()
	for it.HasNext() {
		if id, ok := toID(int64(it.Next())); ok {
			out[id] = true
		}
	}
	return out
}
