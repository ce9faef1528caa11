package selection

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// The phrase rules of the deterministic parser: each is one compiled pattern and the function
// that records what a match means. Every pattern is compiled once, when the package loads.

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
	// yearPat is a release year, 1990-2099.
	yearPat = `((?:199|20\d)\d)`
)

// rule is one phrase pattern: group 1 is the whole phrase, the rest are the pattern's own groups
// (shifted by one). apply records the match in p and returns its meaning, or "" when the match
// is not one after all.
type rule struct {
	re    *regexp.Regexp
	apply func(p *Parsed, m []string) string
}

// newRule compiles pattern as a phrase: case-insensitive, between word boundaries.
func newRule(pattern string, apply func(p *Parsed, m []string) string) rule {
	return rule{regexp.MustCompile(`(?i)(?:^|[\s,(;])(` + pattern + `)(?:$|[\s,.;:!?)])`), apply}
}

// rules run in this order, each until it stops matching: release years come before prices, so
// that "released from 2022" is a year and not an amount (a bare "from 2022" stays a price).
var rules = []rule{
	// Release years.
	newRule(`(?:released|launched|introduced|models?)\s+(in|during|after|since|from|before)\s+`+yearPat, releasedYear),
	// "2023 models": years 2001-2039 only, so that "2000 models" stays a count.
	newRule(`(20(?:0[1-9]|[1-3]\d))\s+(?:models?|releases?|editions?)`, modelYear),
	// Prices. Amounts stay as floats in the scenario's currency until Parse converts them.
	newRule(`between\s+`+amountPat+`\s+(?:and|to|-)\s+`+amountPat, priceBetween),
	newRule(`(?:from\s+)?`+amountPat+`\s*(?:-|to|–)\s*`+amountPat, priceRange),
	newRule(`(?:under|below|less\s+than|cheaper\s+than|at\s+most|max(?:imum)?|up\s+to|no\s+more\s+than|within|<=?)\s*`+amountPat, priceAtMost),
	newRule(`(?:over|above|more\s+than|at\s+least|min(?:imum)?|from|starting\s+at|>=?)\s*`+amountPat, priceAtLeast),
	// Discounts.
	newRule(`(?:at\s+least\s+|min(?:imum)?\s+|over\s+|more\s+than\s+)?(\d{1,2})\s?%\s*(?:off|discount|or\s+more\s+off|\+\s*off)(?:\s+or\s+more)?`, discountAtLeast),
	newRule(`(?:discounted|on\s+sale|on\s+discount|with\s+a\s+discount)`, discounted),
	// Ratings.
	newRule(`(?:rated\s+|rating\s+(?:of\s+|above\s+|over\s+|at\s+least\s+)?|at\s+least\s+)?([1-5](?:\.\d)?)\s?(?:\+\s?)?(?:stars?|★)(?:\s+(?:and\s+(?:up|above)|or\s+(?:more|better|higher)|\+))?`, ratingAtLeast),
	newRule(`rated\s+([1-5](?:\.\d)?)\s?\+?`, ratingAtLeast),
	newRule(`(?:highly|well|top|best)[\s-]rated`, wellRated),
	// Stock.
	newRule(`(?:in[\s-]stock|available(?:\s+now)?|ready\s+to\s+ship)`, inStock),
	// Sort words.
	newRule(`(?:best[\s-]?sell(?:ers?|ing)|top[\s-]?sell(?:ers?|ing)|most\s+popular|popular|trending|hot\s+items)`, sortBy(SortSales, "sort by sales")),
	newRule(`(?:cheapest|lowest[\s-]price[ds]?|least\s+expensive|budget|low[\s-]cost|affordable)`, sortBy(SortPriceAsc, "sort by price, lowest first")),
	newRule(`(?:most\s+expensive|highest[\s-]price[ds]?|premium|high[\s-]end|luxury)`, sortBy(SortPriceDesc, "sort by price, highest first")),
	newRule(`(?:newest|latest|new\s+arrivals?|just\s+(?:in|launched)|recently\s+released)`, sortBy(SortNewest, "sort by release date, newest first")),
	// Size of the pool.
	newRule(`(?:top|best|first|limit(?:\s+to)?|max(?:imum)?\s+of)\s+(\d{1,5})(?:\s+(?:items|products|skus|results))?`, limit),
	newRule(`(\d{1,5})\s+(?:items|products|skus|results)`, limit),
	// Campaign context: kept as a label, not searched for.
	newRule(`(?:for\s+(?:the\s+)?)?(?:(\d{1,2}\.\d{1,2})|black\s+friday|cyber\s+monday|payday|mid[\s-]year|year[\s-]end|christmas|new\s+year|ramadan|raya|songkran|tet|back[\s-]to[\s-]school)(?:\s+(?:sale|campaign|promo(?:tion)?|mega\s+sale|event|deals?))?`, campaign),
}

var (
	// priceWordRe: a bare amount after these words is a price ("over 50").
	priceWordRe = regexp.MustCompile(`(?i)^(over|above|more than|>)`)
	// forTheRe is the "for (the)" a campaign phrase may start with.
	forTheRe = regexp.MustCompile(`(?i)^for\s+(the\s+)?`)
)

// releasedYear: "released in 2022", "models after 2020", "launched before 2019".
func releasedYear(p *Parsed, m []string) string {
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
}

// modelYear: "2023 models".
func modelYear(p *Parsed, m []string) string {
	y, _ := strconv.Atoi(m[2])
	p.ReleasedFrom, p.ReleasedBefore = yearStart(y), yearStart(y+1)
	return "released in " + m[2]
}

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

// priceRange: "$20-50", "from 20 to 50 SGD"; "2-4" alone is not a price.
func priceRange(p *Parsed, m []string) string {
	if m[2] == "" && m[5] == "" && m[4] == "" && m[7] == "" && !strings.Contains(strings.ToLower(m[1]), "from") {
		return ""
	}
	return priceBetween(p, m)
}

// priceAtMost: "under $50".
func priceAtMost(p *Parsed, m []string) string {
	v, ok := p.readAmount(m)
	if !ok {
		return ""
	}
	p.priceHi = v
	return "price at most"
}

// priceAtLeast: "over 100", "from RM 30"; "from 2020" and "at least 4" need a currency to be a
// price.
func priceAtLeast(p *Parsed, m []string) string {
	if m[2] == "" && m[4] == "" && !priceWordRe.MatchString(m[1]) {
		return ""
	}
	v, ok := p.readAmount(m)
	if !ok {
		return ""
	}
	p.priceLo = v
	return "price at least"
}

// readAmount reads the amount of groups 2-4 and notes its currency.
func (p *Parsed) readAmount(m []string) (*float64, bool) {
	v, c, ok := amount(m[2], m[3], m[4])
	if !ok {
		return nil, false
	}
	p.setCurrency(c)
	return &v, true
}

// discountAtLeast: "20% off", "at least 30% discount".
func discountAtLeast(p *Parsed, m []string) string {
	v, _ := strconv.ParseInt(m[2], 10, 64)
	p.MinDiscountPct = v
	return "discount at least " + m[2] + "%"
}

// discounted: "on sale" is any discount, unless a figure was given.
func discounted(p *Parsed, m []string) string {
	if p.MinDiscountPct == 0 {
		p.MinDiscountPct = 1
	}
	return "discounted"
}

// ratingAtLeast: "4+ stars", "rated 4.5".
func ratingAtLeast(p *Parsed, m []string) string {
	v, _ := strconv.ParseFloat(m[2], 64)
	p.MinRating = v
	return "rating at least " + m[2]
}

// wellRated: "highly rated" is a floor of 4; "top rated" and "best rated" sort by rating.
func wellRated(p *Parsed, m []string) string {
	if strings.HasPrefix(strings.ToLower(m[1]), "top") || strings.HasPrefix(strings.ToLower(m[1]), "best") {
		p.Sort = SortRating
		return "sort by rating"
	}
	p.MinRating = 4
	return "rating at least 4"
}

func inStock(p *Parsed, m []string) string {
	p.InStock = true
	return "in stock"
}

// sortBy is the rule of a sort word.
func sortBy(sort, meaning string) func(p *Parsed, m []string) string {
	return func(p *Parsed, m []string) string {
		p.Sort = sort
		return meaning
	}
}

// limit: "top 50", "200 products".
func limit(p *Parsed, m []string) string {
	n, _ := strconv.Atoi(m[2])
	if n <= 0 {
		return ""
	}
	p.Limit = n
	return "limit " + m[2]
}

// campaign: "for the 11.11 sale", "black friday".
func campaign(p *Parsed, m []string) string {
	p.Campaign = strings.TrimSpace(forTheRe.ReplaceAllString(m[1], ""))
	return "campaign " + p.Campaign
}

// amount reads a price: a currency symbol or word, a number with thousands separators or a
// decimal comma, and a k or m multiplier. The currency is "" when the text names none.
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

// minor converts an amount to minor units of cur (2 digits for an unknown currency).
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

// yearStart is January 1 of year y as YYYY-MM-DD.
func yearStart(y int) string { return strconv.Itoa(y) + "-01-01" }
