package prodtype

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Doc is what the model reads of one SKU.
type Doc struct {
	Title string
	Brand string
	// Feed is the product type the feed supplied, if any (Icecat's attr_t_product_type).
	Feed string
	// Device is the supplier's device-type attribute, if any (Icecat's attr_t_device_type:
	// "Full-size tablet", "Mini tablet"). Accessories state the device they serve there
	// ("Mobile phone/Smartphone" on a screen protector), so it types a SKU only when neither
	// the feed nor the category position of its title does.
	Device string
	// Colour is the SKU's colour attribute, if any: its words are properties, not types.
	Colour string
	// Price in minor units (0: unknown): an accessory costs much less than what it serves.
	Price int64
}

// Config holds the learning parameters. Zero fields take the defaults stated on each.
type Config struct {
	// MinCount is how many SKUs must carry a phrase in the category position of their title
	// before it becomes a product type. Default 3: a phrase two SKUs share is as likely a model
	// family's word as a category.
	MinCount int
	// UnitShare is the share of a word's occurrences that must follow a number for the word to
	// be a unit ("ft", "cm", "ml", "x"). Default 0.5.
	UnitShare float64
	// PriceRatio is how much cheaper (median to median) a type must be than the type it
	// qualifies or names after "for" to count as its accessory: a notebook case against a
	// notebook, not a toner cartridge against toner. Default 0.5.
	PriceRatio float64
	// FirstShare is the share of a phrase's occurrences in titles that must be in the category
	// position for it to be a type: "series" and "business day" occur mostly later. Default 0.5.
	FirstShare float64
	// AccessoryShare is the share of a type's SKUs whose title names another type after "for"
	// ("... for notebooks") above which the type is an accessory of that type. Default 0.2.
	AccessoryShare float64
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.MinCount == 0 {
		c.MinCount = 3
	}
	if c.UnitShare == 0 {
		c.UnitShare = 0.5
	}
	if c.PriceRatio == 0 {
		c.PriceRatio = 0.5
	}
	if c.FirstShare == 0 {
		c.FirstShare = 0.5
	}
	if c.AccessoryShare == 0 {
		c.AccessoryShare = 0.2
	}
	return c
}

// Kind says whether a type is a product in its own right or serves another.
type Kind string

// Kinds.
const (
	KindProduct   Kind = "product"
	KindAccessory Kind = "accessory"
)

// Type is one learned product type.
type Type struct {
	// Name is the type's phrase, lower case ("toner cartridge", "notebook case").
	Name string `json:"name"`
	// Head is the phrase's head word, its last ("cartridge", "case").
	Head string `json:"head"`
	// Count is how many SKUs carried the phrase where a title names its category.
	Count int `json:"count"`
	// Kind is product or accessory; AccessoryOf names the type an accessory serves.
	Kind        Kind   `json:"kind"`
	AccessoryOf string `json:"accessory_of,omitempty"`
	// MedianPrice of its SKUs, minor units (0: unknown).
	MedianPrice int64 `json:"median_price,omitempty"`
	// Why says how the relation was learned.
	Why string `json:"why,omitempty"`
	// Titled, for a feed's type, is the type most of its SKUs' titles name instead: the feed
	// says "Desktop Board" where the titles say "motherboard" (87 of 87 on Icecat), so a
	// planner asking for motherboards means these too.
	Titled string `json:"titled,omitempty"`
}

// Source says where a SKU's type came from.
type Source string

// Sources, from the most to the least certain.
const (
	SourceFeed      Source = "feed"       // the feed's product type, a known type
	SourceTitle     Source = "title"      // the category position of an Icecat-style title
	SourceDevice    Source = "device"     // the supplier's device-type attribute, a known type
	SourceTitleText Source = "title-text" // a known type's phrase anywhere in the title
	SourceNeighbour Source = "neighbours" // the nearest type centroid in embedding space
	SourceNone      Source = ""
)

// Assignment is a SKU's type and why.
type Assignment struct {
	Type   string `json:"type"`
	Source Source `json:"source"`
	Why    string `json:"why"`
	// Kinds, when Type is empty, are the types whose head word the title's first segment ends
	// its noun phrase with ("Netgear JGS516 ProSafe 16 Port Gigabit Rackmount Switch": the
	// types named "... switch"); the tagger chooses among them by the SKU's vector.
	Kinds []string `json:"kinds,omitempty"`
}

// Model is what Learn found: the catalogue's type vocabulary, its units and property words,
// and the accessory relation. It is immutable once learned and safe for concurrent use.
type Model struct {
	learner int // the LearnerVersion that learned it
	cfg     Config
	units   map[string]bool
	props   map[string]bool
	types   map[string]*Type
	names   []string // sorted
	// bySing maps a type's first word, singular, to the types starting with it, longest
	// first; acronyms maps the acronym of a type of three words or more ("ups") to it, when no
	// other type has the same.
	bySing   map[string][]string
	acronyms map[string]string
	byHead   map[string][]string // a type's head word, singular -> the types, most common first
}

// stopWords end a category phrase: Icecat titles continue with "for ...", "with ...".
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be but by for if in into is it no not of
		on or such that the their then there these they this to was will with without from over under
		per via up incl inc w/ f/ x`) {
		stopWords[w] = true
	}
}

// token is one word of a title as written, with its lower-case form.
type token struct {
	raw, low string
	lower    bool // written all lower case (letters, '/', '-' only)
	acronym  bool // two to five capital letters ("HDMI", "USB")
	number   bool // a number: digits, with '.' or ',' inside
	brk      bool // punctuation comes before it (a comma, a bracket, a dash standing alone)
}

func tokenize(title, brand string) []token {
	t := strings.TrimSpace(title)
	if brand != "" && len(t) >= len(brand) && strings.EqualFold(t[:len(brand)], brand) {
		t = t[len(brand):]
	}
	var out []token
	brk := false // punctuation since the last token
	sep := func(r rune) bool {
		return r == ',' || r == ';' || r == '(' || r == ')' || r == '[' || r == ']' || r == '"' || r == '|'
	}
	for _, f := range strings.FieldsFunc(t, func(r rune) bool { return unicode.IsSpace(r) }) {
		for len(f) > 0 {
			i := strings.IndexFunc(f, sep)
			part := f
			if i >= 0 {
				part, f = f[:i], f[i+1:]
			} else {
				f = ""
			}
			if w := strings.Trim(part, ".:-–—'’™®"); w != "" {
				tk := token{raw: w, low: strings.ToLower(w), brk: brk}
				tk.number = isNumber(w)
				tk.acronym = isAcronym(w)
				tk.lower = isLowerWord(w)
				out = append(out, tk)
				brk = false
			} else if part != "" {
				brk = true // a dash standing alone: "Toner - Yellow"
			}
			if i >= 0 {
				brk = true
			}
		}
	}
	return out
}

func isAcronym(s string) bool {
	if len(s) < 2 || len(s) > 5 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// isNumber: digits with '.' or ',' inside ("2", "2.0", "1,000"), or an ordinal ("10th",
// "2nd": "10th gen" is a count, as "16 GB" is), not a model code ("08A0476").
func isNumber(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	if !unicode.IsDigit(r) {
		return false
	}
	for _, suf := range []string{"st", "nd", "rd", "th"} {
		if n := strings.TrimSuffix(s, suf); n != s && n != "" && strings.Trim(n, "0123456789") == "" {
			return true
		}
	}
	for _, r := range s {
		if !unicode.IsDigit(r) && r != '.' && r != ',' {
			return false
		}
	}
	return true
}

// isLowerWord: letters all lower case, at least two, joined by at most '/' and '-'.
func isLowerWord(s string) bool { return lettersWord(s, unicode.IsLower) }

// lettersWord reports a word of at least two letters that letter accepts, with at most '/'
// and '-' between them.
func lettersWord(s string, letter func(rune) bool) bool {
	n := 0
	for _, r := range s {
		switch {
		case letter(r):
			n++
		case r == '/' || r == '-':
		default:
			return false
		}
	}
	return n >= 2
}

// runs returns the category-position phrases of a title: maximal runs of lower-case words,
// units after a number and property words trimmed from their ends, cut at stop words. The
// first run is where Icecat titles name the category ("Lexmark 08A0476 toner cartridge
// Original Black").
func (m *Model) runs(toks []token) []string {
	var out []string
	var cur []string
	flush := func() {
		for len(cur) > 0 && (m.units[cur[0]] || m.props[cur[0]]) {
			cur = cur[1:]
		}
		for len(cur) > 0 && (m.units[cur[len(cur)-1]] || m.props[cur[len(cur)-1]]) {
			cur = cur[:len(cur)-1]
		}
		if len(cur) > 0 && len(cur) <= 5 {
			out = append(out, strings.Join(cur, " "))
		}
		cur = nil
	}
	for i, tk := range toks {
		ok := tk.lower && !stopWords[tk.low]
		// An acronym written in capitals starts a phrase when a lower-case word follows:
		// "HDMI cable", "KVM switch", "USB flash drive".
		if !ok && len(cur) == 0 && tk.acronym && i+1 < len(toks) && toks[i+1].lower && !stopWords[toks[i+1].low] &&
			!m.units[toks[i+1].low] && !m.props[toks[i+1].low] {
			ok = true
		}
		if ok && m.units[tk.low] && i > 0 && toks[i-1].number {
			ok = false
		}
		if ok && len(cur) == 0 && i > 0 && stopWords[toks[i-1].low] {
			ok = false // "for notebooks": what it serves, not what it is
		}
		if ok {
			cur = append(cur, tk.low)
			continue
		}
		flush()
	}
	flush()
	return out
}

// LearnerVersion numbers what Learn does; a stored model learned by an older version is
// learned again (tagger.LoadTypes). 2: device types; type names in a title's first segment,
// in the plural and as acronyms; head-word kinds; the feed's types' title names (Titled).
const LearnerVersion = 2

// Learner is the LearnerVersion that learned m (0 for models stored before versions).
func (m *Model) Learner() int { return m.learner }

// Learn builds a model from the catalogue's documents.
func Learn(docs []Doc, cfg Config) *Model {
	cfg = cfg.WithDefaults()
	m := &Model{learner: LearnerVersion, cfg: cfg, units: map[string]bool{}, props: map[string]bool{}, types: map[string]*Type{}}

	// Units: words that mostly follow a number. Property words: the colour attribute's words.
	after, total := map[string]int{}, map[string]int{}
	toks := make([][]token, len(docs))
	for i, d := range docs {
		toks[i] = tokenize(d.Title, d.Brand)
		for j, tk := range toks[i] {
			total[tk.low]++
			if j > 0 && toks[i][j-1].number {
				after[tk.low]++
			}
		}
		for _, w := range strings.FieldsFunc(strings.ToLower(d.Colour), func(r rune) bool { return !unicode.IsLetter(r) }) {
			if len(w) > 2 {
				m.props[w] = true
			}
		}
	}
	for w, n := range total {
		if n >= 5 && float64(after[w]) >= cfg.UnitShare*float64(n) {
			m.units[w] = true
		}
	}
	for w := range m.props {
		if total[w] > 0 && m.units[w] {
			delete(m.props, w)
		}
	}

	// Vocabulary: first runs (the category position) shared by MinCount titles, and feed types.
	count, anywhere := map[string]int{}, map[string]int{}
	for i, d := range docs {
		rs := m.runs(toks[i])
		if len(rs) > 0 {
			count[rs[0]]++
		}
		for _, r := range rs {
			anywhere[r]++
		}
		if f := normFeed(d.Feed); f != "" {
			count[f]++
		}
	}
	m.addTypes(count, anywhere)
	m.index()
	// Device types: counted where they would type the SKU, on SKUs whose feed and title
	// position name no type (tablets: "Samsung Galaxy Tab S6 Lite SM-P610N 26.4 cm ...");
	// elsewhere they name what an accessory serves.
	devices := map[string]int{}
	for i, d := range docs {
		if dv := normFeed(d.Device); dv != "" && m.types[dv] == nil && m.firstKnown(toks[i], d) == "" {
			devices[dv]++
		}
	}
	if len(devices) > 0 {
		m.addTypes(devices, nil)
		m.index()
	}
	m.relate(docs, toks)
	m.titled(docs, toks)
	return m
}

// addTypes makes the phrases carried in the category position by MinCount SKUs (count), and
// there in at least FirstShare of the titles that carry them (anywhere), types.
func (m *Model) addTypes(count, anywhere map[string]int) {
	for name, n := range count {
		if n < m.cfg.MinCount || float64(n) < m.cfg.FirstShare*float64(anywhere[name]) {
			continue
		}
		words := strings.Fields(name)
		if m.props[words[len(words)-1]] || m.units[words[len(words)-1]] {
			continue
		}
		if _, ok := m.types[name]; !ok {
			m.types[name] = &Type{Name: name, Head: words[len(words)-1], Count: n, Kind: KindProduct}
		}
	}
}

// firstKnown is the type the feed or the category position of a title names ("" when none).
func (m *Model) firstKnown(toks []token, d Doc) string {
	if f := normFeed(d.Feed); f != "" && m.types[f] != nil {
		return f
	}
	for _, r := range m.runs(toks) {
		if m.types[r] != nil {
			return r
		}
	}
	return ""
}

// index lists the types' names and builds the lookups of titletext.go.
func (m *Model) index() {
	m.names = m.names[:0]
	for name := range m.types {
		m.names = append(m.names, name)
	}
	sort.Strings(m.names)
	m.indexText()
}

// normFeed is a feed type as a vocabulary phrase: lower case, and "" for values that are not
// words ("1").
func normFeed(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	hasLetter := false
	for _, r := range s {
		if unicode.IsLetter(r) {
			hasLetter = true
			break
		}
	}
	if !hasLetter || len(s) > 60 {
		return ""
	}
	return strings.Join(strings.Fields(s), " ")
}

// relate learns which types serve others. A type serves another when its name qualifies the
// other's ("notebook case" and "notebook", "printer drum" and "printer") or when many of its
// SKUs' titles name the other after "for" ("... for notebooks"), and in both cases its median
// price is well below the other's: "toner cartridge" qualifies "toner" too, but costs the same.
func (m *Model) relate(docs []Doc, toks [][]token) {
	byHead := map[string][]string{}
	for name, t := range m.types {
		if !strings.Contains(name, " ") {
			byHead[t.Head] = append(byHead[t.Head], name)
			byHead[t.Head+"s"] = append(byHead[t.Head+"s"], name)
		}
	}
	prices := map[string][]int64{}
	forCount := map[string]map[string]int{}
	size := map[string]int{}
	for i, d := range docs {
		a := m.fromTitle(toks[i], d)
		if a.Type == "" {
			continue
		}
		size[a.Type]++
		if d.Price > 0 {
			prices[a.Type] = append(prices[a.Type], d.Price)
		}
		tk := toks[i]
		for j := 0; j+1 < len(tk); j++ {
			if tk[j].low != "for" {
				continue
			}
			if cands := byHead[strings.Trim(tk[j+1].low, ".")]; len(cands) > 0 {
				if o := m.mostCommon(cands); o != a.Type {
					if forCount[a.Type] == nil {
						forCount[a.Type] = map[string]int{}
					}
					forCount[a.Type][o]++
				}
				break
			}
		}
	}
	median := map[string]int64{}
	for name, ps := range prices {
		sort.Slice(ps, func(a, b int) bool { return ps[a] < ps[b] })
		median[name] = ps[len(ps)/2]
	}
	cheaper := func(a, b string) bool {
		return median[a] > 0 && median[b] > 0 && float64(median[a]) < m.cfg.PriceRatio*float64(median[b])
	}
	for name, t := range m.types {
		words := strings.Fields(name)
		for i := len(words) - 2; i >= 0; i-- {
			prefix := strings.Join(words[:i+1], " ")
			if _, ok := m.types[prefix]; ok && cheaper(name, prefix) {
				t.Kind, t.AccessoryOf = KindAccessory, prefix
				t.Why = fmt.Sprintf("its name qualifies %q and its median price (%d) is below half of that type's (%d)",
					prefix, median[name], median[prefix])
				break
			}
		}
	}
	for name, fc := range forCount {
		t := m.types[name]
		if t.Kind == KindAccessory {
			continue
		}
		best, bn := "", 0
		for o, n := range fc {
			if n > bn || (n == bn && o < best) {
				best, bn = o, n
			}
		}
		if float64(bn) >= m.cfg.AccessoryShare*float64(size[name]) && bn >= 2 && cheaper(name, best) {
			t.Kind, t.AccessoryOf = KindAccessory, best
			t.Why = fmt.Sprintf("%d of its %d SKUs' titles say \"for %s\" and its median price (%d) is below half of that type's (%d)",
				bn, size[name], best, median[name], median[best])
		}
	}
	for name, t := range m.types {
		t.MedianPrice = median[name]
	}
}

// titled sets the Titled of the feed's types: the type the titles of at least half of a feed
// type's SKUs (MinCount at least) name otherwise.
func (m *Model) titled(docs []Doc, toks [][]token) {
	size := map[string]int{}
	named := map[string]map[string]int{}
	for i, d := range docs {
		f := normFeed(d.Feed)
		if f == "" || m.types[f] == nil {
			continue
		}
		size[f]++
		// What the title alone says (no feed, no device type).
		if u := m.fromTitle(toks[i], Doc{}).Type; u != "" && u != f {
			if named[f] == nil {
				named[f] = map[string]int{}
			}
			named[f][u]++
		}
	}
	for f, us := range named {
		best, bn := "", 0
		for u, n := range us {
			if n > bn || (n == bn && u < best) {
				best, bn = u, n
			}
		}
		if bn >= m.cfg.MinCount && 2*bn >= size[f] {
			m.types[f].Titled = best
		}
	}
}

func (m *Model) mostCommon(names []string) string {
	best := ""
	for _, n := range names {
		if best == "" || m.types[n].Count > m.types[best].Count || (m.types[n].Count == m.types[best].Count && n < best) {
			best = n
		}
	}
	return best
}

// Classify returns a SKU's type from its text: the feed's type when it is a known type, else
// the category position of the title, else the longest known type phrase in the title (the
// rightmost of equals: English puts the head last). Type is "" when the text names none; the
// tagger then asks the neighbours.
func (m *Model) Classify(d Doc) Assignment {
	return m.fromTitle(tokenize(d.Title, d.Brand), d)
}

func (m *Model) fromTitle(toks []token, d Doc) Assignment {
	if f := normFeed(d.Feed); f != "" && m.types[f] != nil {
		return Assignment{Type: f, Source: SourceFeed, Why: "the feed's product type"}
	}
	for _, r := range m.runs(toks) {
		if m.types[r] != nil {
			return Assignment{Type: r, Source: SourceTitle, Why: "the title names it where Icecat titles name the category: \"" + r + "\""}
		}
	}
	if dv := normFeed(d.Device); dv != "" && m.types[dv] != nil {
		return Assignment{Type: dv, Source: SourceDevice, Why: "the supplier's device type, where neither the feed nor the title's category position names a type"}
	}
	if name, why := m.textType(toks); name != "" {
		return Assignment{Type: name, Source: SourceTitleText, Why: why}
	}
	return Assignment{Kinds: m.headKinds(toks)}
}

// Types returns the learned types, sorted by name.
func (m *Model) Types() []Type {
	out := make([]Type, 0, len(m.names))
	for _, n := range m.names {
		out = append(out, *m.types[n])
	}
	return out
}

// Type returns one type.
func (m *Model) Type(name string) (Type, bool) {
	t, ok := m.types[name]
	if !ok {
		return Type{}, false
	}
	return *t, true
}

// Len is the number of types.
func (m *Model) Len() int { return len(m.types) }

// IsUnit reports a learned unit word; IsProperty a learned property word.
func (m *Model) IsUnit(w string) bool     { return m.units[w] }
func (m *Model) IsProperty(w string) bool { return m.props[w] }
