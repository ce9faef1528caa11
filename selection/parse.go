package selection

import (
	"regexp"
	"strings"

	"selection/catalog"
)

// Vocabulary is what the parser may recognise by name: the brands and tags the index knows.
type Vocabulary interface {
	Brands() []string
	Tags() []string
	// Types lists the catalogue's product types, most common first (the LLM planner chooses
	// among them).
	Types() []string
}

// StaticVocabulary is a fixed Vocabulary.
type StaticVocabulary struct{ BrandList, TagList, TypeList []string }

func (v StaticVocabulary) Brands() []string { return v.BrandList }
func (v StaticVocabulary) Tags() []string   { return v.TagList }
func (v StaticVocabulary) Types() []string  { return v.TypeList }

// Parsed is what the deterministic parser understood of a scenario: each recognised phrase and
// what it became, and the remaining words as the semantic query.
type Parsed struct {
	Query string `json:"query"`
	// ProductText is the part of the query that names what the products are: its noun
	// phrases separated by ", " ("laptop bags, sleeves"), without what follows "for" or
	// "compatible with" ("ink cartridges for home printers" names ink cartridges, not
	// printers). Intent resolution reads it; the whole query still ranks.
	ProductText    string   `json:"product_text,omitempty"`
	Markets        []string `json:"markets,omitempty"`
	Currency       string   `json:"currency,omitempty"`
	PriceMin       *int64   `json:"price_min,omitempty"` // minor units of Currency, inclusive
	PriceMax       *int64   `json:"price_max,omitempty"` // inclusive
	Brands         []string `json:"brands,omitempty"`
	ExcludeBrands  []string `json:"exclude_brands,omitempty"`
	Tags           []string `json:"tags,omitempty"`
	ExcludeTags    []string `json:"exclude_tags,omitempty"`
	ExcludeTerms   []string `json:"exclude_terms,omitempty"`
	InStock        bool     `json:"in_stock,omitempty"`
	MinDiscountPct int64    `json:"min_discount_pct,omitempty"`
	MinRating      float64  `json:"min_rating,omitempty"`
	ReleasedFrom   string   `json:"released_from,omitempty"`   // YYYY-MM-DD, inclusive
	ReleasedBefore string   `json:"released_before,omitempty"` // YYYY-MM-DD, exclusive
	Sort           string   `json:"sort,omitempty"`
	Limit          int      `json:"limit,omitempty"`
	Campaign       string   `json:"campaign,omitempty"`
	// Rules and Slots: boost, bury and slot phrases (parse_merch.go).
	Rules   []Rule    `json:"rules,omitempty"`
	Slots   []Slot    `json:"slots,omitempty"`
	Matches []Matched `json:"matches,omitempty"`

	priceLo, priceHi *float64 // amounts in the scenario's currency, before conversion
}

// Matched is one phrase of the scenario and what the parser made of it.
type Matched struct {
	Text    string `json:"text"`
	Meaning string `json:"meaning"`
}

// Sort orders.
const (
	SortRelevance = "relevance"
	SortSales     = "sales"
	SortPriceAsc  = "price_asc"
	SortPriceDesc = "price_desc"
	SortNewest    = "newest"
	SortRating    = "rating"
	SortBlend     = "blend"
)

// MaxScenarioBytes bounds what the parser reads; longer text is cut at a rune boundary.
const MaxScenarioBytes = 4096

// Parser is the deterministic scenario parser for one vocabulary. It is safe for concurrent
// use; build a new one when the vocabulary changes.
type Parser struct {
	brands, tags map[string]string // lower-case name -> canonical
	names        []string          // brand and tag names, longest first
	brandNames   []string
	tagNames     []string
}

// NewParser compiles a parser for vocab (which may be nil).
func NewParser(vocab Vocabulary) *Parser {
	p := &Parser{}
	p.brands, p.tags = vocabSets(vocab)
	p.names = longestFirst(mergeKeys(p.brands, p.tags))
	p.brandNames = longestFirst(p.brands)
	p.tagNames = longestFirst(p.tags)
	return p
}

// Parse turns a scenario into Parsed with a parser for vocab. See Parser.Parse.
func Parse(scenario string, vocab Vocabulary) Parsed { return NewParser(vocab).Parse(scenario) }

var (
	marketRe = func() *regexp.Regexp {
		names := longestFirst(marketNames)
		for i := range names {
			names[i] = regexp.QuoteMeta(names[i])
		}
		return regexp.MustCompile(`(?i)(?:^|[\s,(;])((?:in\s+|for\s+)?(` + strings.Join(names, "|") + `))(?:$|[\s,.;:!?)])`)
	}()
	codeRe     = regexp.MustCompile(`(?:^|[\s,(;/])((?:in\s+|for\s+)?(SG|MY|TH|ID|PH|VN)(?:\s*(?:,|/|and|&)\s*(?:SG|MY|TH|ID|PH|VN))*)(?:$|[\s,.;:!?)])`)
	codeOnlyRe = regexp.MustCompile(`SG|MY|TH|ID|PH|VN`)
	byRe       = regexp.MustCompile(`(?i)(?:^|[\s,(;])(by|from|brand|made\s+by)\s+`)
	taggedRe   = regexp.MustCompile(`(?i)(?:^|[\s,(;])(tagged\s+|#)`)
)

// Parse turns a scenario into Parsed. It never fails: what it does not understand stays in the
// semantic query. The stages run in order on what the earlier ones left: the phrase rules
// (years, prices, discounts, ratings, stock, sort words, limits, campaigns), negations, markets,
// brands and tags named after a trigger word; the rest is the query.
func (ps *Parser) Parse(scenario string) Parsed {
	s := &scan{text: clean(scenario)}
	s.work = []byte(s.text)
	s.merchandising(ps)
	s.rules()
	s.negations(ps)
	s.markets()
	s.brandsAndTags(ps)
	s.finish()
	return s.p
}

// scan is one scenario being parsed. work is text with every recognised phrase blanked byte for
// byte, so offsets found in work are offsets in text too.
type scan struct {
	text string
	work []byte
	p    Parsed
}

// current is what no stage has recognised yet (recognised phrases are spaces).
func (s *scan) current() string { return string(s.work) }

// matched records the phrase text[lo:hi] and its meaning, and blanks it.
func (s *scan) matched(lo, hi int, meaning string) {
	s.p.Matches = append(s.p.Matches, Matched{Text: strings.TrimSpace(s.text[lo:hi]), Meaning: meaning})
	for i := lo; i < hi; i++ {
		s.work[i] = ' '
	}
}

// rules applies each phrase rule, in order, until it stops matching.
func (s *scan) rules() {
	for _, rl := range rules {
		for {
			cur := s.current()
			m := rl.re.FindStringSubmatchIndex(cur)
			if m == nil {
				break
			}
			groups := make([]string, len(m)/2)
			for i := range groups {
				if m[2*i] >= 0 {
					groups[i] = strings.ToLower(cur[m[2*i]:m[2*i+1]])
				}
			}
			meaning := rl.apply(&s.p, groups)
			if meaning == "" {
				// Not a match after all: hide it from this rule only by blanking nothing and stop.
				break
			}
			s.matched(m[2], m[3], meaning)
		}
	}
}

// negations: "no refurbished", "excluding Samsung and Apple", "not HP", "without cables".
func (s *scan) negations(ps *Parser) {
	p := &s.p
	for _, n := range findNegations(s.current(), ps.names) {
		var meanings []string
		for _, it := range n.items {
			switch {
			case ps.brands[it] != "":
				p.ExcludeBrands = appendUniq(p.ExcludeBrands, ps.brands[it])
				meanings = append(meanings, "exclude brand "+ps.brands[it])
			case ps.tags[it] != "":
				p.ExcludeTags = appendUniq(p.ExcludeTags, ps.tags[it])
				meanings = append(meanings, "exclude tag "+ps.tags[it])
			default:
				p.ExcludeTerms = appendUniq(p.ExcludeTerms, it)
				meanings = append(meanings, "exclude products mentioning "+it)
			}
		}
		s.matched(n.lo, n.hi, strings.Join(meanings, "; "))
	}
}

// markets: names anywhere (case-insensitive), codes only as upper-case words.
func (s *scan) markets() {
	for {
		m := marketRe.FindStringSubmatchIndex(s.current())
		if m == nil {
			break
		}
		code := marketNames[strings.ToLower(s.text[m[4]:m[5]])]
		s.p.Markets = appendUniq(s.p.Markets, code)
		s.matched(m[2], m[3], "market "+code)
	}
	for {
		m := codeRe.FindStringSubmatchIndex(s.current())
		if m == nil {
			break
		}
		var codes []string
		for _, c := range codeOnlyRe.FindAllString(s.text[m[2]:m[3]], -1) {
			s.p.Markets = appendUniq(s.p.Markets, c)
			codes = append(codes, c)
		}
		s.matched(m[2], m[3], "market "+strings.Join(codes, ","))
	}
}

// brandsAndTags: brands after "by", "from", "brand" are a filter (a bare brand name stays in
// the query), and so are tags named explicitly ("tagged gaming", "#gaming").
func (s *scan) brandsAndTags(ps *Parser) {
	for _, l := range listsAfter(s.current(), byRe, ps.brandNames) {
		for _, it := range l.items {
			s.p.Brands = appendUniq(s.p.Brands, ps.brands[it])
		}
		s.matched(l.lo, l.hi, "brand "+strings.Join(canonical(l.items, ps.brands), " or "))
	}
	for _, l := range listsAfter(s.current(), taggedRe, ps.tagNames) {
		for _, it := range l.items {
			s.p.Tags = appendUniq(s.p.Tags, ps.tags[it])
		}
		s.matched(l.lo, l.hi, "tag "+strings.Join(canonical(l.items, ps.tags), " and "))
	}
}

// finish makes the rest the semantic query and converts the amounts to minor units of the
// scenario's currency.
func (s *scan) finish() {
	p := &s.p
	p.Query = tidyQuery(s.current())
	p.ProductText = productText(s.current())
	cur := p.resolveCurrency()
	if p.priceLo != nil || p.priceHi != nil {
		p.Currency = cur
	}
	if p.priceLo != nil {
		v := minor(*p.priceLo, cur)
		p.PriceMin = &v
	}
	if p.priceHi != nil {
		v := minor(*p.priceHi, cur)
		p.PriceMax = &v
	}
}

// resolveCurrency picks the currency of the scenario's amounts: an explicit one, else the single
// market's, else USD.
func (p *Parsed) resolveCurrency() string {
	if p.Currency != "" {
		return p.Currency
	}
	if len(p.Markets) == 1 {
		return catalog.MarketCurrency[p.Markets[0]]
	}
	return "USD"
}
