package scenariobench

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"selection/filter"
	"selection/selection"
	"selection/tagger"
)

// Scenario is one campaign brief the bench plans, runs and writes as a pool version, and what
// the deterministic parser must make of it (checked by the package's tests against the Icecat
// brand vocabulary, so the bench measures the plans it claims to).
type Scenario struct {
	Name string
	Text string
	Want Want
}

// Want is what a scenario's plan must hold.
type Want struct {
	Query  string   // the semantic query left after the parser took the filters out
	Fields []string // filter fields and tags used, sorted ("tag:deal" for a tag)
	Sort   string   // ranking
	Limit  int      // pool size
}

// Scenarios is the fixed list the bench runs: product queries with and without filters,
// pure filters, very selective and very broad ones. The tags it names ("deal", "big-ticket") are
// the rule tags the bench defines (BenchTags).
var Scenarios = []Scenario{
	{"gaming mouse", "gaming mouse under $50 in stock, best sellers",
		Want{"gaming mouse", []string{"in_stock", "price"}, selection.SortSales, 100}},
	{"hp toner", "toner cartridge by HP",
		Want{"toner cartridge", []string{"brand"}, selection.SortRelevance, 100}},
	{"usb drive sg", "usb flash drive at least 20% off in Singapore",
		Want{"usb flash drive", []string{"discount", "market"}, selection.SortRelevance, 100}},
	{"laptop bag", "laptop bag under $40, top 20",
		Want{"laptop bag", []string{"price"}, selection.SortRelevance, 20}},
	{"headphones 4+", "wireless headphones rated 4+ stars",
		Want{"wireless headphones", []string{"rating"}, selection.SortRelevance, 100}},
	{"external hdd", "external hard drive between $50 and $150",
		Want{"external hard drive", []string{"price"}, selection.SortRelevance, 100}},
	{"hdmi cable my", "cheapest hdmi cable in stock in MY",
		Want{"hdmi cable", []string{"in_stock", "market"}, selection.SortPriceAsc, 100}},
	{"printer paper", "printer paper",
		Want{"printer paper", nil, selection.SortRelevance, 100}},
	{"ergonomic keyboard", "ergonomic keyboard, newest",
		Want{"ergonomic keyboard", nil, selection.SortNewest, 100}},
	{"vn best sellers", "best sellers in VN, top 100",
		Want{"", []string{"market"}, selection.SortSales, 100}},
	{"canon/epson ink", "ink cartridges by Canon or Epson in stock, top 50",
		Want{"ink cartridges", []string{"brand", "in_stock"}, selection.SortRelevance, 50}},
	{"monitor rated", "27 inch monitor under $300, highly rated",
		Want{"27 inch monitor", []string{"price", "rating"}, selection.SortRelevance, 100}},
	{"webcam th", "webcam for video calls, in stock in Thailand",
		Want{"webcam video calls", []string{"in_stock", "market"}, selection.SortRelevance, 100}},
	{"memory card id/ph", "memory card in Indonesia and Philippines, best sellers, top 30",
		Want{"memory card", []string{"market"}, selection.SortSales, 30}},
	{"deals in stock", "tagged deal in stock, best sellers, top 200",
		Want{"", []string{"in_stock", "tag:deal"}, selection.SortSales, 200}},
	{"notebook no refurb", "notebook under $800, no refurbished",
		Want{"notebook", []string{"price"}, selection.SortRelevance, 100}},
	{"projector broad", "projector",
		Want{"projector", nil, selection.SortRelevance, 100}},
	{"cheap in stock", "in stock under $10, cheapest, top 50",
		Want{"", []string{"in_stock", "price"}, selection.SortPriceAsc, 50}},
	{"logitech newest", "by Logitech, newest, top 100",
		Want{"", []string{"brand"}, selection.SortNewest, 100}},
	{"selective", "toner by Brother in VN rated 4.5 stars, at least 20% off",
		Want{"toner", []string{"brand", "discount", "market", "rating"}, selection.SortRelevance, 100}},
	{"cable broad 500", "cable, top 500",
		Want{"cable", nil, selection.SortRelevance, 500}},
	{"big-ticket laptops", "laptop tagged big-ticket, best sellers, top 50",
		Want{"laptop", []string{"tag:big-ticket"}, selection.SortSales, 50}},
}

// BenchTags are the rule tags the bench defines on a fresh data set: the demo's "deal" rule
// and its "premium" rule under another name ("premium" is a ranking word for the parser).
var BenchTags = []tagger.TagDef{
	{Name: "deal", Kind: tagger.KindRule, Description: "at least 20% below list price",
		Definition: tagger.Definition{Rule: ptr(filter.AtLeast("discount", 20))}},
	{Name: "big-ticket", Kind: tagger.KindRule, Description: "priced at US$500 or more",
		Definition: tagger.Definition{Rule: ptr(filter.AtLeast("price", 50000))}},
}

func ptr[T any](v T) *T { return &v }

// Fields lists the fields and tags a filter uses, sorted and without duplicates ("tag:name"
// for a tag).
func Fields(e *filter.Expr) []string {
	if e == nil {
		return nil
	}
	out := e.Fields()
	for _, t := range e.Tags() {
		if f := "tag:" + t; !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// Check compares a scenario's plan with what it wants and says what differs ("" when nothing).
func (s Scenario) Check(p selection.Plan) string {
	var diffs []string
	if err := p.Validate(); err != nil {
		diffs = append(diffs, err.Error())
	}
	if p.Query != s.Want.Query {
		diffs = append(diffs, fmt.Sprintf("query %q, want %q", p.Query, s.Want.Query))
	}
	if got, want := strings.Join(Fields(p.Filter), ","), strings.Join(s.Want.Fields, ","); got != want {
		diffs = append(diffs, fmt.Sprintf("filter fields [%s], want [%s]", got, want))
	}
	if p.Ranking.By != s.Want.Sort {
		diffs = append(diffs, fmt.Sprintf("ranking %s, want %s", p.Ranking.By, s.Want.Sort))
	}
	if p.Limit != s.Want.Limit {
		diffs = append(diffs, fmt.Sprintf("limit %d, want %d", p.Limit, s.Want.Limit))
	}
	return strings.Join(diffs, "; ")
}
