package selection

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

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
	ProductText    string    `json:"product_text,omitempty"`
	Markets        []string  `json:"markets,omitempty"`
	Currency       string    `json:"currency,omitempty"`
	PriceMin       *int64    `json:"price_min,omitempty"` // minor units of Currency, inclusive
	PriceMax       *int64    `json:"price_max,omitempty"` // inclusive
	Brands         []string  `json:"brands,omitempty"`
	ExcludeBrands  []string  `json:"exclude_brands,omitempty"`
	Tags           []string  `json:"tags,omitempty"`
	ExcludeTags    []string  `json:"exclude_tags,omitempty"`
	ExcludeTerms   []string  `json:"exclude_terms,omitempty"`
	InStock        bool      `json:"in_stock,omitempty"`
	MinDiscountPct int64     `json:"min_discount_pct,omitempty"`
	MinRating      float64   `json:"min_rating,omitempty"`
	ReleasedFrom   string    `json:"released_from,omitempty"`   // YYYY-MM-DD, inclusive
	ReleasedBefore string    `json:"released_before,omitempty"` // YYYY-MM-DD, exclusive
	Sort           string    `json:"sort,omitempty"`
	Limit          int       `json:"limit,omitempty"`
	Campaign       string    `json:"campaign,omitempty"`
	Matches        []Matched `json:"matches,omitempty"`

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

var marketNames = map[string]string{
	"singapore": "SG", "malaysia": "MY", "thailand": "TH", "indonesia": "ID",
	"philippines": "PH", "the philippines": "PH", "vietnam": "VN", "viet nam": "VN",
	"singaporean": "SG", "malaysian": "MY", "thai": "TH", "indonesian": "ID", "filipino": "PH", "vietnamese": "VN",
}

// currency symbols and words, longest first where prefixes overlap.
var currencyWords = map[string]string{
	"s$": "SGD", "sgd": "SGD", "rm": "MYR", "myr": "MYR", "ringgit": "MYR", "฿": "THB", "thb": "THB",
	"baht": "THB", "rp": "IDR", "idr": "IDR", "rupiah": "IDR", "₱": "PHP", "php": "PHP", "peso": "PHP",
	"pesos": "PHP", "₫": "VND", "vnd": "VND", "dong": "VND", "đ": "VND", "us$": "USD", "usd": "USD",
	"$": "", "dollars": "", "dollar": "", "bucks": "",
}

// CurrencyExponent is the number of minor-unit digits of each currency.
var CurrencyExponent = map[string]int{"SGD": 2, "MYR": 2, "THB": 2, "IDR": 2, "PHP": 2, "VND": 0, "USD": 2}

const (
	curPat     = `(?:s\$|us\$|\$|rm|฿|rp|₱|₫|đ|sgd|myr|thb|idr|php|vnd|usd)`
	numPat     = `\d+(?:[.,]\d+)*(?:\s?[km])?`
	curWordPat = `(?:\s?(?:sgd|myr|thb|idr|php|vnd|usd|dollars?|bucks|ringgit|baht|rupiah|pesos?|dong))?`
	amountPat  = `(` + curPat + `)?\s?(` + numPat + `)` + `(` + curWordPat + `)`
)

type rule struct {
	re    *regexp.Regexp
	apply func(p *Parsed, m []string) string // returns the meaning
}

func amount(cur, num, word string) (float64, string, bool) {
	num = strings.ReplaceAll(strings.TrimSpace(num), " ", "")
	mult := 1.0
	if strings.HasSuffix(num, "k") {
		mult, num = 1000, strings.TrimSuffix(num, "k")
	} else if strings.HasSuffix(num, "m") {
		mult, num = 1_000_000, strings.TrimSuffix(num, "m")
	}
	// "1,299" is a thousands separator; "12,50" a decimal comma.
	if i := strings.LastIndexByte(num, ','); i >= 0 {
		if len(num)-i-1 == 3 {
			num = strings.ReplaceAll(num, ",", "")
		} else {
			num = strings.ReplaceAll(num, ",", ".")
		}
	}
	if strings.Count(num, ".") > 1 {
		num = strings.ReplaceAll(num, ".", "")
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, "", false
	}
	c := currencyWords[strings.TrimSpace(cur)]
	if w := strings.TrimSpace(word); w != "" && currencyWords[w] != "" {
		c = currencyWords[w]
	}
	return v * mult, c, true
}

func (p *Parsed) setCurrency(c string) {
	if c != "" {
		p.Currency = c
	}
}

func minor(v float64, cur string) int64 {
	exp, ok := CurrencyExponent[cur]
	if !ok {
		exp = 2
	}
	f := v * math.Pow10(exp)
	if f > math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(math.Round(f))
}

var rules []rule

// priceBetween reads the two amounts of a price range (groups 2-4 and 5-7).
func priceBetween(p *Parsed, m []string) string {
	lo, c1, ok1 := amount(m[2], m[3], m[4])
	hi, c2, ok2 := amount(m[5], m[6], m[7])
	if !ok1 || !ok2 {
		return ""
	}
	p.setCurrency(c1)
	p.setCurrency(c2)
	if lo > hi {
		lo, hi = hi, lo
	}
	p.priceLo, p.priceHi = &lo, &hi
	return "price between"
}

func init() {
	r := func(pattern string, apply func(p *Parsed, m []string) string) {
		rules = append(rules, rule{regexp.MustCompile(`(?i)(?:^|[\s,(;])(` + pattern + `)(?:$|[\s,.;:!?)])`), apply})
	}
	// Release years, before the prices, so that "released from 2022" is a year and not an
	// amount; a bare "from 2022" stays a price. Years 1990-2099.
	const yearPat = `((?:199|20\d)\d)`
	r(`(?:released|launched|introduced|models?)\s+(in|during|after|since|from|before)\s+`+yearPat, func(p *Parsed, m []string) string {
		y, _ := strconv.Atoi(m[3])
		switch m[2] {
		case "in", "during":
			p.ReleasedFrom, p.ReleasedBefore = yearStart(y), yearStart(y+1)
			return "released in " + m[3]
		case "after":
			p.ReleasedFrom = yearStart(y + 1)
			return "released after " + m[3]
		case "before":
			p.ReleasedBefore = yearStart(y)
			return "released before " + m[3]
		}
		p.ReleasedFrom = yearStart(y)
		return "released since " + m[3]
	})
	// "2023 models": years 2001-2039 only, so that "2000 models" stays a count.
	r(`(20(?:0[1-9]|[1-3]\d))\s+(?:models?|releases?|editions?)`, func(p *Parsed, m []string) string {
		y, _ := strconv.Atoi(m[2])
		p.ReleasedFrom, p.ReleasedBefore = yearStart(y), yearStart(y+1)
		return "released in " + m[2]
	})
	// Prices. Amounts stay as floats in the scenario's currency until Finish converts them.
	r(`between\s+`+amountPat+`\s+(?:and|to|-)\s+`+amountPat, priceBetween)
	r(`(?:from\s+)?`+amountPat+`\s*(?:-|to|–)\s*`+amountPat, func(p *Parsed, m []string) string {
		if m[2] == "" && m[5] == "" && m[4] == "" && m[7] == "" && !strings.Contains(strings.ToLower(m[1]), "from") {
			return "" // "2-4" alone is not a price
		}
		return priceBetween(p, m)
	})
	r(`(?:under|below|less\s+than|cheaper\s+than|at\s+most|max(?:imum)?|up\s+to|no\s+more\s+than|within|<=?)\s*`+amountPat, func(p *Parsed, m []string) string {
		v, c, ok := amount(m[2], m[3], m[4])
		if !ok {
			return ""
		}
		p.setCurrency(c)
		p.priceHi = &v
		return "price at most"
	})
	r(`(?:over|above|more\s+than|at\s+least|min(?:imum)?|from|starting\s+at|>=?)\s*`+amountPat, func(p *Parsed, m []string) string {
		if m[2] == "" && m[4] == "" && !regexp.MustCompile(`(?i)^(over|above|more than|>)`).MatchString(m[1]) {
			return "" // "from 2020", "at least 4" need a currency to be a price
		}
		v, c, ok := amount(m[2], m[3], m[4])
		if !ok {
			return ""
		}
		p.setCurrency(c)
		p.priceLo = &v
		return "price at least"
	})
	// Discounts.
	r(`(?:at\s+least\s+|min(?:imum)?\s+|over\s+|more\s+than\s+)?(\d{1,2})\s?%\s*(?:off|discount|or\s+more\s+off|\+\s*off)(?:\s+or\s+more)?`, func(p *Parsed, m []string) string {
		v, _ := strconv.ParseInt(m[2], 10, 64)
		p.MinDiscountPct = v
		return "discount at least " + m[2] + "%"
	})
	r(`(?:discounted|on\s+sale|on\s+discount|with\s+a\s+discount)`, func(p *Parsed, m []string) string {
		if p.MinDiscountPct == 0 {
			p.MinDiscountPct = 1
		}
		return "discounted"
	})
	// Ratings.
	r(`(?:rated\s+|rating\s+(?:of\s+|above\s+|over\s+|at\s+least\s+)?|at\s+least\s+)?([1-5](?:\.\d)?)\s?(?:\+\s?)?(?:stars?|★)(?:\s+(?:and\s+(?:up|above)|or\s+(?:more|better|higher)|\+))?`, func(p *Parsed, m []string) string {
		v, _ := strconv.ParseFloat(m[2], 64)
		p.MinRating = v
		return "rating at least " + m[2]
	})
	r(`rated\s+([1-5](?:\.\d)?)\s?\+?`, func(p *Parsed, m []string) string {
		v, _ := strconv.ParseFloat(m[2], 64)
		p.MinRating = v
		return "rating at least " + m[2]
	})
	r(`(?:highly|well|top|best)[\s-]rated`, func(p *Parsed, m []string) string {
		if strings.HasPrefix(strings.ToLower(m[1]), "top") || strings.HasPrefix(strings.ToLower(m[1]), "best") {
			p.Sort = SortRating
			return "sort by rating"
		}
		p.MinRating = 4
		return "rating at least 4"
	})
	// Stock.
	r(`(?:in[\s-]stock|available(?:\s+now)?|ready\s+to\s+ship)`, func(p *Parsed, m []string) string {
		p.InStock = true
		return "in stock"
	})
	// Sort words.
	r(`(?:best[\s-]?sell(?:ers?|ing)|top[\s-]?sell(?:ers?|ing)|most\s+popular|popular|trending|hot\s+items)`, func(p *Parsed, m []string) string {
		p.Sort = SortSales
		return "sort by sales"
	})
	r(`(?:cheapest|lowest[\s-]price[ds]?|least\s+expensive|budget|low[\s-]cost|affordable)`, func(p *Parsed, m []string) string {
		p.Sort = SortPriceAsc
		return "sort by price, lowest first"
	})
	r(`(?:most\s+expensive|highest[\s-]price[ds]?|premium|high[\s-]end|luxury)`, func(p *Parsed, m []string) string {
		p.Sort = SortPriceDesc
		return "sort by price, highest first"
	})
	r(`(?:newest|latest|new\s+arrivals?|just\s+(?:in|launched)|recently\s+released)`, func(p *Parsed, m []string) string {
		p.Sort = SortNewest
		return "sort by release date, newest first"
	})
	// Size of the pool.
	r(`(?:top|best|first|limit(?:\s+to)?|max(?:imum)?\s+of)\s+(\d{1,5})(?:\s+(?:items|products|skus|results))?`, func(p *Parsed, m []string) string {
		n, _ := strconv.Atoi(m[2])
		if n <= 0 {
			return ""
		}
		p.Limit = n
		return "limit " + m[2]
	})
	r(`(\d{1,5})\s+(?:items|products|skus|results)`, func(p *Parsed, m []string) string {
		n, _ := strconv.Atoi(m[2])
		if n <= 0 {
			return ""
		}
		p.Limit = n
		return "limit " + m[2]
	})
	// Campaign context: kept as a label, not searched for.
	r(`(?:for\s+(?:the\s+)?)?(?:(\d{1,2}\.\d{1,2})|black\s+friday|cyber\s+monday|payday|mid[\s-]year|year[\s-]end|christmas|new\s+year|ramadan|raya|songkran|tet|back[\s-]to[\s-]school)(?:\s+(?:sale|campaign|promo(?:tion)?|mega\s+sale|event|deals?))?`, func(p *Parsed, m []string) string {
		p.Campaign = strings.TrimSpace(regexp.MustCompile(`(?i)^for\s+(the\s+)?`).ReplaceAllString(m[1], ""))
		return "campaign " + p.Campaign
	})
}

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
// semantic query.
func (ps *Parser) Parse(scenario string) Parsed {
	text := clean(scenario)
	var p Parsed
	// work is text with every recognised phrase blanked byte for byte, so offsets found in
	// work are offsets in text too.
	work := []byte(text)
	blank := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			work[i] = ' '
		}
	}
	matched := func(lo, hi int, meaning string) {
		p.Matches = append(p.Matches, Matched{Text: strings.TrimSpace(text[lo:hi]), Meaning: meaning})
		blank(lo, hi)
	}
	current := func() string { return string(work) }

	brands, tags := ps.brands, ps.tags
	for _, rl := range rules {
		for {
			cur := current()
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
			meaning := rl.apply(&p, groups)
			if meaning == "" {
				// Not a match after all: hide it from this rule only by blanking nothing and stop.
				break
			}
			matched(m[2], m[3], meaning)
		}
	}

	// Negations: "no refurbished", "excluding Samsung and Apple", "not HP", "without cables".
	for _, n := range findNegations(current(), ps.names) {
		var meanings []string
		for _, it := range n.items {
			switch {
			case brands[it] != "":
				p.ExcludeBrands = appendUniq(p.ExcludeBrands, brands[it])
				meanings = append(meanings, "exclude brand "+brands[it])
			case tags[it] != "":
				p.ExcludeTags = appendUniq(p.ExcludeTags, tags[it])
				meanings = append(meanings, "exclude tag "+tags[it])
			default:
				p.ExcludeTerms = appendUniq(p.ExcludeTerms, it)
				meanings = append(meanings, "exclude products mentioning "+it)
			}
		}
		matched(n.lo, n.hi, strings.Join(meanings, "; "))
	}

	// Markets: names anywhere (case-insensitive), codes only as upper-case words.
	for {
		m := marketRe.FindStringSubmatchIndex(current())
		if m == nil {
			break
		}
		code := marketNames[strings.ToLower(text[m[4]:m[5]])]
		p.Markets = appendUniq(p.Markets, code)
		matched(m[2], m[3], "market "+code)
	}
	for {
		m := codeRe.FindStringSubmatchIndex(current())
		if m == nil {
			break
		}
		var codes []string
		for _, c := range codeOnlyRe.FindAllString(text[m[2]:m[3]], -1) {
			p.Markets = appendUniq(p.Markets, c)
			codes = append(codes, c)
		}
		matched(m[2], m[3], "market "+strings.Join(codes, ","))
	}

	// Brands after "by", "from", "brand": a filter. A bare brand name stays in the query.
	for _, l := range listsAfter(current(), byRe, ps.brandNames) {
		for _, it := range l.items {
			p.Brands = appendUniq(p.Brands, brands[it])
		}
		matched(l.lo, l.hi, "brand "+strings.Join(canonical(l.items, brands), " or "))
	}
	// Tags named explicitly ("tagged gaming", "#gaming").
	for _, l := range listsAfter(current(), taggedRe, ps.tagNames) {
		for _, it := range l.items {
			p.Tags = appendUniq(p.Tags, tags[it])
		}
		matched(l.lo, l.hi, "tag "+strings.Join(canonical(l.items, tags), " and "))
	}

	p.Query = tidyQuery(current())
	p.ProductText = productText(current())
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
	return p
}

type negation struct {
	lo, hi int // byte span in the text
	items  []string
}

var (
	negTrigger = regexp.MustCompile(`(?i)(?:^|[\s,(;])(no|not|excluding|exclude|except|without|minus|but\s+not)\s+`)
	wordRe     = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N}&'+.-]*`)
	sepRe      = regexp.MustCompile(`(?i)^\s*(,|\bor\b|\band\b|\bnor\b)\s*(?:(?:no|not)\s+)?`)
)

// findNegations scans for a trigger word followed by a list of items: known brand or tag names
// (longest first, so "Western Digital" is one item) or single words. After "and" the list goes on
// only with a known name ("excluding Samsung and Apple"), so "no refurbished and in stock" keeps
// "in stock" for its own rule.
func findNegations(text string, names []string) []negation {
	return scanLists(text, negTrigger, names, false)
}

// listsAfter finds lists of known names only after a trigger ("by Logitech or Razer").
func listsAfter(text string, trigger *regexp.Regexp, names []string) []negation {
	return scanLists(text, trigger, names, true)
}

func canonical(items []string, m map[string]string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = m[it]
	}
	return out
}

func scanLists(text string, trigger *regexp.Regexp, names []string, knownOnly bool) []negation {
	lower := asciiLower(text) // same byte offsets as text
	var out []negation
	pos := 0
	for pos < len(text) {
		m := trigger.FindStringSubmatchIndex(text[pos:])
		if m == nil {
			break
		}
		lo := pos + m[2]
		i := pos + m[1]
		var n negation
		n.lo = lo
		item := func(at int, knownOnly bool) (string, int) {
			for _, nm := range names {
				if strings.HasPrefix(lower[at:], nm) && (at+len(nm) == len(lower) || !isWordByte(lower[at+len(nm)])) {
					return nm, at + len(nm)
				}
			}
			if knownOnly {
				return "", at
			}
			w := wordRe.FindString(lower[at:])
			w = strings.TrimRight(w, ".")
			if w == "" || filler[w] || w == "stock" {
				return "", at
			}
			return w, at + len(w)
		}
		it, end := item(i, knownOnly)
		if it == "" {
			pos = i
			continue
		}
		n.items = append(n.items, it)
		n.hi = end
		for {
			sm := sepRe.FindStringSubmatchIndex(text[n.hi:])
			if sm == nil {
				break
			}
			sep := strings.ToLower(strings.TrimSpace(text[n.hi+sm[2] : n.hi+sm[3]]))
			next, e := item(n.hi+sm[1], knownOnly || sep == "and" || sep == ",")
			if next == "" {
				break
			}
			n.items = append(n.items, next)
			n.hi = e
		}
		out = append(out, n)
		pos = n.hi
	}
	return out
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b >= 0x80
}

func mergeKeys(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// filler words dropped from the edges and middle of the semantic remainder.
var filler = map[string]bool{
	"show": true, "me": true, "find": true, "get": true, "give": true, "i": true, "want": true,
	"need": true, "looking": true, "some": true, "all": true, "any": true, "please": true,
	"products": true, "product": true, "items": true, "item": true, "skus": true, "sku": true,
	"a": true, "an": true, "the": true, "for": true, "with": true, "and": true, "or": true,
	"of": true, "in": true, "on": true, "that": true, "are": true, "is": true, "which": true,
	"pool": true, "campaign": true, "sale": true, "deals": true, "deal": true, "price": true,
	"priced": true, "only": true, "to": true, "our": true, "list": true, "selection": true,
}

func tidyQuery(s string) string {
	words := strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == ',' || r == ';' || r == ':' || r == '!' || r == '?' || r == '(' || r == ')'
	})
	var out []string
	for _, w := range words {
		w = strings.Trim(w, ".-")
		if w == "" || filler[strings.ToLower(w)] {
			continue
		}
		out = append(out, w)
	}
	return strings.Join(out, " ")
}

// phraseBreaks separate noun phrases; servedMarks start what the products serve.
var (
	phraseBreaks = map[string]bool{"and": true, "or": true, "&": true, "plus": true, "+": true}
	servedMarks  = map[string]bool{"for": true, "compatible": true, "fits": true, "fitting": true}
)

// productText is the noun phrases of s that name the products (see Parsed.ProductText).
func productText(s string) string {
	var phrases []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			phrases = append(phrases, strings.Join(cur, " "))
		}
		cur = nil
	}
	for _, f := range strings.Fields(s) {
		brk := strings.ContainsAny(f, ",;:")
		w := strings.ToLower(strings.Trim(f, ",;:.!?()-"))
		if servedMarks[w] {
			break
		}
		if phraseBreaks[w] {
			flush()
			continue
		}
		if w != "" && !filler[w] {
			cur = append(cur, w)
		}
		if brk {
			flush()
		}
	}
	flush()
	return strings.Join(phrases, ", ")
}

// clean bounds the text, replaces invalid UTF-8 and control characters, and folds spaces.
func clean(s string) string {
	if len(s) > MaxScenarioBytes {
		s = s[:MaxScenarioBytes]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	s = strings.ToValidUTF8(s, " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func vocabSets(v Vocabulary) (brands, tags map[string]string) {
	brands, tags = map[string]string{}, map[string]string{}
	if v == nil {
		return
	}
	for _, b := range v.Brands() {
		if k := strings.ToLower(strings.TrimSpace(b)); len(k) > 1 {
			brands[k] = b
		}
	}
	for _, t := range v.Tags() {
		if k := strings.ToLower(strings.TrimSpace(t)); len(k) > 1 {
			tags[k] = t
		}
	}
	return
}

func longestFirst(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	return keys
}

func appendUniq(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
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

// asciiLower lower-cases ASCII letters only, keeping every byte offset.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// yearStart is January 1 of year y as YYYY-MM-DD.
func yearStart(y int) string { return strconv.Itoa(y) + "-01-01" }
