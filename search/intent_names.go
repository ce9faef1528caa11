package search

import (
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/lexical"
	"selection/prodtype"
)

// names sets the name score of the types the query's noun phrases name, and returns the text
// the lexical and semantic evidence is taken on: the query without the class words of its
// phrases ("gaming accessories" is evidence as "gaming").
func (in *Intents) names(ev *evidence, tab *typeTable, text string, class map[string]bool) string {
	// The type's name in the query. A type is named by a noun phrase of the query (the text
	// separates them with commas: "monitor arms, wall mounts" names arms and mounts, not
	// monitors) whose head, its last word, is the type's head (or one of its alternatives,
	// "headphones/headset"). Against the phrase, a type is exact ("hdmi cables": "hdmi
	// cable"), a subtype ("printers": "inkjet printer"), a supertype ("hdmi cables": "cable")
	// or a sibling ("hdmi cables": "vga cable"); a phrase word counts as missing from a type
	// only when it is a word of some type's name ("4k" in "4k monitor" is a property, not a
	// kind of monitor). The best class present is kept: exact and subtypes (1), else
	// supertypes (0.75), else siblings (0.5).
	ev.surface = surfaces(text)
	var flat []string
	for _, ph := range strings.Split(text, ",") {
		st := lexical.Analyze(ph)
		if len(st) == 0 {
			continue
		}
		if class[st[len(st)-1]] && len(st) > 1 {
			flat = append(flat, in.classPhrase(ev, tab, ph, st))
			ev.phrases = append(ev.phrases, strings.TrimSpace(flat[len(flat)-1]))
			continue
		}
		flat = append(flat, ph)
		ev.phrases = append(ev.phrases, strings.TrimSpace(ph))
		in.namePhrase(ev, tab, ph, st)
	}
	return strings.Join(flat, " ")
}

// namePhrase sets the name scores of the types a phrase (its text and stems) names by its head.
func (in *Intents) namePhrase(ev *evidence, tab *typeTable, ph string, st []string) {
	head := st[len(st)-1]
	set := map[string]bool{}
	for _, w := range st {
		set[w] = true
	}
	if len(tab.byHead[head]) == 0 {
		// No type is named so: the word may be what people call a type the catalogue names
		// otherwise ("laptops": notebooks).
		in.nameByAlias(ev, tab, head)
		return
	}
	var cands []nameCand
	bestClass := 0.0
	for _, ti := range tab.byHead[head] {
		if class, ok := tab.classOf(ti, ph, head, set, in.kindWord(ev, tab)); ok {
			cands = append(cands, nameCand{ti.name, class})
			bestClass = max(bestClass, class)
		}
	}
	if bestClass <= siblingClass && in.nameByModifier(ev, tab, ph, st, cands) {
		return
	}
	var better []string
	size := 0
	for _, c := range cands {
		if c.class == bestClass && c.class > siblingClass {
			better = append(better, c.name)
			size += in.types.TypeSize(c.name)
		}
	}
	// Few SKUs carry the exact name ("laser printer": 4, where most laser printers are
	// "printer"s): the supertypes are meant too.
	keepSuper := bestClass == 1 && size < in.cfg.MinExact
	for _, c := range cands {
		switch {
		case c.class == bestClass || (keepSuper && c.class == 0.75):
			ts := ev.get(c.name)
			if c.class == 0.75 && ts.NameMatch < 0.75 {
				ts.Mentions = in.narrowing(ev, tab, c.name, head, ph)
			} else if c.class == 1 {
				ts.Mentions = nil
			}
			ts.NameMatch = max(ts.NameMatch, c.class)
		case c.class == siblingClass && len(better) > 0:
			// A sibling where better-named types exist: Decide keeps it only as their kin
			// ("lcd monitor" beside "computer monitor").
			ts := ev.get(c.name)
			if ts.NameMatch == 0 {
				ts.NameMatch = siblingClass
				ts.SiblingOf = append(ts.SiblingOf, better...)
				var subtype bool
				ts.SiblingMention, subtype = in.mentionShare(ev, tab, better, c.name, set)
				if subtype {
					// A kind of a broader type named: narrowed like it ("coaxial cable" of
					// "cable" for "fibre optic patch cables").
					ts.Mentions = in.narrowing(ev, tab, c.name, head, ph)
				}
			}
		}
	}
}

// nameCand is a type a phrase's head names, and as what (classOf).
type nameCand struct {
	name  string
	class float64
}

// nameByAlias names the types a head word calls by another name than the catalogue's
// (called: the judged queries' aliases, the acronyms of type names).
func (in *Intents) nameByAlias(ev *evidence, tab *typeTable, head string) {
	for _, lt := range in.called(ev, tab, head) {
		ts := ev.get(lt.name)
		if ts.NameMatch < 1 {
			ts.NameMatch, ts.Alias, ts.AliasShare, ts.Acronym = 1, ev.surfaceOf(head), lt.share, lt.acronym
		}
	}
}

// nameByModifier handles a phrase whose head names only other kinds than its modifier does
// ("ssd upgrades": the "upgrade"s are printer emulation upgrades and software licences, none
// an SSD): the word before the head may name the types instead, exactly by its own head or by
// the judged queries. They are marked, and Decide names them when they also hold a good share
// of the query's lexical matches ("monitor arms" names no monitors: the products holding both
// words are mounts). Not when a head's type serves the modifier's ("printer paper"). It
// reports whether it marked any.
func (in *Intents) nameByModifier(ev *evidence, tab *typeTable, ph string, st []string, cands []nameCand) bool {
	if len(st) < 2 || len(cands) == 0 {
		return false
	}
	mod := st[len(st)-2]
	modSet := map[string]bool{}
	for _, w := range st[:len(st)-1] {
		modSet[w] = true
	}
	meant := map[string]learnedType{}
	for _, ti := range tab.byHead[mod] {
		if c, ok := tab.classOf(ti, ph, mod, modSet, in.kindWord(ev, tab)); ok && c == 1 {
			meant[ti.name] = learnedType{name: ti.name}
		}
	}
	alias := len(meant) == 0
	if alias {
		for _, lt := range in.called(ev, tab, mod) {
			meant[lt.name] = lt
		}
	}
	if len(meant) == 0 {
		return false
	}
	for _, c := range cands {
		if t, ok := ev.m.Type(c.name); ok {
			if _, serves := meant[t.AccessoryOf]; serves {
				return false
			}
		}
	}
	for name, lt := range meant {
		ts := ev.get(name)
		ts.ByModifier = true
		if alias {
			ts.Alias, ts.AliasShare, ts.Acronym = ev.surfaceOf(mod), lt.share, lt.acronym
		}
	}
	return true
}

// classPhrase names the types a phrase with a class word for its head means ("gaming
// accessories", "laptop accessories", "coffee machines"): the types of that head sharing a
// word with the phrase ("pod coffee machine"), else the accessories of the type its other words
// name ("laptop accessories": notebook cases, stands, docks, by prodtype's accessory
// relation); else none is named, and the evidence of its other words decides ("gaming": mice,
// keyboards, headsets). It returns the phrase without its class word.
func (in *Intents) classPhrase(ev *evidence, tab *typeTable, ph string, st []string) string {
	head, mods := st[len(st)-1], st[:len(st)-1]
	set := map[string]bool{}
	for _, w := range mods {
		set[w] = true
	}
	named, size := false, 0
	for _, ti := range tab.byHead[head] {
		for w := range ti.words {
			if set[w] {
				ts := ev.get(ti.name)
				ts.NameMatch, named = max(ts.NameMatch, 1), true
				size += in.types.TypeSize(ti.name)
				break
			}
		}
	}
	words := strings.Fields(ph)
	rest := strings.Join(words[:max(len(words)-1, 0)], " ")
	if named && size < in.cfg.MinExact {
		// Few SKUs carry the class's own name ("pod coffee machine"): the products whose type
		// holds every other word of the phrase are meant too ("coffee maker"), as supertypes
		// join a thin exact type; accessories stay out.
		for _, t := range ev.m.Types() {
			if t.Kind == prodtype.KindAccessory || !tab.holdsAll(t.Name, mods) {
				continue
			}
			ts := ev.get(t.Name)
			ts.NameMatch = max(ts.NameMatch, 1)
		}
	}
	if named {
		return rest
	}
	// Unnamed, the other words' evidence decides, among types priced like the class: "gaming
	// accessories" are mice and headsets, not gaming notebooks.
	var prices []float64
	for _, ti := range tab.byHead[head] {
		if t, ok := ev.m.Type(ti.name); ok && t.MedianPrice > 0 {
			prices = append(prices, float64(t.MedianPrice))
		}
	}
	if len(prices) > 0 {
		ev.priceCap = max(ev.priceCap, int64(classPriceCap*median(prices)))
	}
	// The type the other words name: exactly by its head, or by the judged queries' words.
	served := map[string]bool{}
	for _, ti := range tab.byHead[mods[len(mods)-1]] {
		if c, ok := tab.classOf(ti, rest, mods[len(mods)-1], set, nil); ok && c == 1 && len(ti.words) == len(set) {
			served[ti.name] = true
		}
	}
	if len(served) == 0 {
		for _, lt := range in.called(ev, tab, mods[len(mods)-1]) {
			served[lt.name] = true
		}
	}
	for _, t := range ev.m.Types() {
		if t.AccessoryOf != "" && served[t.AccessoryOf] {
			ts := ev.get(t.Name)
			ts.NameMatch = max(ts.NameMatch, 1)
			named = true
		}
	}
	return rest
}

// siblingClass marks a sibling's name score in the evidence; Decide weighs it by Sibling.
const siblingClass = 0.5

// typeTable is what naming needs of the model's types, analysed once per model: each type's
// head alternatives and name words as stems, the types by the last stem of each alternative,
// and every stem of any type's name.
type typeTable struct {
	byHead    map[string][]*typeInfo
	byName    map[string]*typeInfo
	typeWords map[string]bool
	acronyms  map[string][]string // initials of a name's last three words or more -> the types
}

type typeInfo struct {
	name     string
	alts     []headAlt
	words    map[string]bool // stems of the name
	altWords map[string]bool // stems of the head's alternatives
}

type headAlt struct {
	word   string
	stems  []string
	hyphen bool
}

// classOf says whether a phrase (its text, head stem and stems) names the type, and as what:
// exact or subtype (1), supertype (0.75) or sibling (siblingClass).
func (tab *typeTable) classOf(ti *typeInfo, ph, head string, set map[string]bool, kindWord func(string) bool) (float64, bool) {
	named := false
	for _, alt := range ti.alts {
		if alt.stems[len(alt.stems)-1] != head {
			continue
		}
		// A hyphenated head is one word: "s-bag" is not named by "bag".
		all := true
		for _, w := range alt.stems {
			all = all && set[w]
		}
		named = named || (all && (!alt.hyphen || strings.Contains(" "+strings.ToLower(ph)+" ", " "+alt.word)))
	}
	if !named {
		return 0, false
	}
	extra, missing := 0, 0
	for w := range ti.words {
		if !set[w] && !(ti.altWords[w] && len(ti.alts) > 1) {
			extra++
		}
	}
	for w := range set {
		if w != head && !ti.words[w] && (tab.typeWords[w] || kindWord != nil && kindWord(w)) {
			missing++
		}
	}
	switch {
	case missing == 0:
		return 1, true
	case extra == 0:
		return 0.75, true
	}
	return siblingClass, true
}

// holdsAll reports whether the type's name holds every one of the stems.
func (tab *typeTable) holdsAll(name string, stems []string) bool {
	ti := tab.byName[name]
	if ti == nil {
		return false
	}
	for _, w := range stems {
		if !ti.words[w] {
			return false
		}
	}
	return true
}

// table returns the type table of m (cached per model).
func (in *Intents) table(m *prodtype.Model) *typeTable {
	in.kin.mu.Lock()
	defer in.kin.mu.Unlock()
	if in.kin.model == m && in.kin.table != nil {
		return in.kin.table
	}
	tab := &typeTable{byHead: map[string][]*typeInfo{}, byName: map[string]*typeInfo{}, typeWords: map[string]bool{}}
	for _, t := range m.Types() {
		ti := &typeInfo{name: t.Name, words: map[string]bool{}, altWords: map[string]bool{}}
		tab.byName[t.Name] = ti
		for _, w := range lexical.Analyze(t.Name) {
			ti.words[w] = true
			tab.typeWords[w] = true
		}
		heads := map[string]bool{}
		alts := strings.Split(t.Head, "/")
		if t.Titled != "" {
			// What the titles of the feed's type call it: "desktop board"s are motherboards.
			if f := strings.Fields(t.Titled); !slices.Contains(alts, f[len(f)-1]) {
				alts = append(alts, f[len(f)-1])
			}
		}
		for _, alt := range alts {
			st := lexical.Analyze(alt)
			if len(st) == 0 {
				continue
			}
			ti.alts = append(ti.alts, headAlt{word: alt, stems: st, hyphen: strings.Contains(alt, "-")})
			for _, w := range st {
				ti.altWords[w] = true
			}
			heads[st[len(st)-1]] = true
		}
		for h := range heads {
			tab.byHead[h] = append(tab.byHead[h], ti)
		}
		tab.addAcronyms(t.Name)
	}
	in.kin.model, in.kin.table = m, tab
	return tab
}

// mentionShare is the share of the SKUs of the types named that mention a word of the
// sibling's name the phrase (its stems in set) does not hold: "lcd" among computer monitors.
// A sibling that is a subtype of a named type ("adf scanner" of "scanner", named by "document
// scanners") is one of its kinds: 1, and subtype is set.
func (in *Intents) mentionShare(ev *evidence, tab *typeTable, named []string, sibling string, set map[string]bool) (share float64, subtype bool) {
	for _, n := range named {
		if ti := tab.byName[n]; ti != nil && tab.holdsAll(sibling, keys(ti.words)) {
			return 1, true
		}
	}
	if !in.closeKin(ev, sibling, named) {
		return 0, false // too far to be their kin whatever its text says: not worth the count
	}
	var own []string
	for _, w := range strings.Fields(sibling) {
		st := lexical.Analyze(w)
		if len(st) > 0 && !set[st[len(st)-1]] {
			own = append(own, w)
		}
	}
	if len(own) == 0 {
		return 1, false
	}
	return in.mentioning(ev, named, own), false
}

// mentioning is the share of the SKUs of the types that mention one of the words.
func (in *Intents) mentioning(ev *evidence, types, words []string) float64 {
	members := roaring64.New()
	for _, n := range types {
		bm, ok := ev.members[n]
		if !ok {
			if ev.members == nil {
				ev.members = map[string]*roaring64.Bitmap{}
			}
			bm = in.types.TypeMembers(n)
			ev.members[n] = bm
		}
		members.Or(bm)
	}
	if members.IsEmpty() {
		return 0
	}
	mention := in.eng.lex.Mentioning(words...)
	return float64(mention.AndCardinality(members)) / float64(members.GetCardinality())
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// narrowing returns the words of a phrase (with head stem head) that tell kinds of its head
// apart and the type's name lacks, when fewer than half of the type's SKUs say one of them: a
// broader type than the phrase names then holds the phrase's kind only among its SKUs that do
// ("patch cable" for "fibre optic patch cables": fibre, optic, since "fibre optic cable" is a
// kind of cable). Words that are no kind of the head ("document" in "document scanners") do
// not narrow, nor words most of the type's SKUs say already (most "networking cable"s are
// patch cables, whether their text says so or not).
func (in *Intents) narrowing(ev *evidence, tab *typeTable, name, head, ph string) []string {
	ti := tab.byName[name]
	if ti == nil {
		return nil
	}
	family := map[string]bool{}
	for _, o := range tab.byHead[head] {
		for w := range o.words {
			family[w] = true
		}
	}
	var out []string
	for _, w := range strings.Fields(ph) {
		st := lexical.Analyze(w)
		if len(st) == 0 {
			continue
		}
		s := st[len(st)-1]
		if s != head && family[s] && !ti.words[s] && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	if len(out) == 0 || in.mentioning(ev, []string{name}, out) >= 0.5 {
		return nil
	}
	return out
}

// closeKin reports whether a type's centroid is within SiblingKin of one of the named types'.
func (in *Intents) closeKin(ev *evidence, name string, named []string) bool {
	for _, k := range ev.kin[name] {
		if in.cfg.SiblingKin > 0 && k.Cos >= in.cfg.SiblingKin && slices.Contains(named, k.Name) {
			return true
		}
	}
	return false
}
