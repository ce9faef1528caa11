package selection

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"selection/filter"
)

// Merchandising phrases of the deterministic parser: boost and bury rules and slots said in
// words. "boost Logitech", "promote Razer and Corsair", "strongly boost deals", "bury low
// stock", "demote out of stock", "bury tag refurbished", "first 3 spots for Razer". A brand or
// tag must be one the catalogue knows (as with "by"); the stock and deal words are fixed:
// low stock is under 5 units, a deal is at least 20% off. A boost is 0.3 (strongly, heavily:
// 0.6); a bury -0.3 (-0.6).

// The degrees and verbs of a merchandising phrase, for the trigger and the list scan alike.
const (
	merchDegrees = `strongly|heavily|slightly`
	merchVerbs   = `boost|promote|push|bury|demote|sink`
)

var (
	merchTrigger = regexp.MustCompile(`(?i)(?:^|[\s,(;])((?:(` + merchDegrees + `)\s+)?(` + merchVerbs + `))\s+`)
	merchFixed   = regexp.MustCompile(`(?i)^(?:the\s+)?(low[\s-]+stock|out[\s-]+of[\s-]+stock|deals|discounts|discounted(?:\s+products)?|on\s+sale)\b`)
	slotRe       = regexp.MustCompile(`(?i)(?:^|[\s,(;])((?:the\s+)?(?:first|top)\s+(\d{1,2})\s+(?:spots?|positions?|places?|slots?)\s+(?:for|to|from)\s+)`)
)

// merchList is the verb before a list of names, "tag" allowed before a tag's ("bury tag
// refurbished"); never empty, so the list scan always moves on.
var merchList = regexp.MustCompile(`(?i)^((?:(?:` + merchDegrees + `)\s+)?(?:` + merchVerbs + `)\s+(?:tag\s+)?)`)

// merchandising finds the boost, bury and slot phrases.
func (s *scan) merchandising(ps *Parser) {
	for pos := 0; pos < len(s.work); {
		cur := s.current()
		m := merchTrigger.FindStringSubmatchIndex(cur[pos:])
		if m == nil {
			break
		}
		for i := range m {
			if m[i] >= 0 {
				m[i] += pos
			}
		}
		pos = m[1]
		verb := strings.ToLower(cur[m[6]:m[7]])
		factor := 0.3
		if m[4] >= 0 {
			switch strings.ToLower(cur[m[4]:m[5]]) {
			case "strongly", "heavily":
				factor = 0.6
			case "slightly":
				factor = 0.15
			}
		}
		if verb == "bury" || verb == "demote" || verb == "sink" {
			factor = -factor
		}
		rest := cur[m[1]:]
		if f := merchFixed.FindStringSubmatchIndex(rest); f != nil {
			what := strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(rest[f[2]:f[3]], "-", " ")), " "))
			var e filter.Expr
			var name string
			switch what {
			case "low stock":
				e, name = filter.Range("stock", math.MinInt64, 4), "low stock"
			case "out of stock":
				e, name = filter.Range("stock", math.MinInt64, 0), "out of stock"
			default:
				e, name = filter.AtLeast("discount", 20), "deals"
			}
			s.p.Rules = append(s.p.Rules, Rule{Name: name, Filter: e, Factor: factor})
			s.matched(m[2], m[1]+f[1], fmt.Sprintf("%s %s (%+.2f)", verb, name, factor))
			continue
		}
		// Known brands or tags after the verb; anything else leaves the verb in the query.
		ls := listsAfter(cur[m[2]:], merchList, ps.names)
		if len(ls) == 0 || ls[0].lo != 0 || len(ls[0].items) == 0 {
			continue
		}
		var meanings []string
		for _, it := range ls[0].items {
			switch {
			case ps.brands[it] != "":
				s.p.Rules = append(s.p.Rules, Rule{Name: ps.brands[it], Filter: filter.Attr("brand", ps.brands[it]), Factor: factor})
				meanings = append(meanings, fmt.Sprintf("%s brand %s (%+.2f)", verb, ps.brands[it], factor))
			case ps.tags[it] != "":
				s.p.Rules = append(s.p.Rules, Rule{Name: "tag " + ps.tags[it], Filter: filter.Tag(ps.tags[it]), Factor: factor})
				meanings = append(meanings, fmt.Sprintf("%s tag %s (%+.2f)", verb, ps.tags[it], factor))
			}
		}
		s.matched(m[2], m[2]+ls[0].hi, strings.Join(meanings, "; "))
	}
	for _, l := range listsAfter(s.current(), slotRe, ps.brandNames) {
		m := slotRe.FindStringSubmatch(s.text[l.lo:])
		if m == nil || len(l.items) != 1 {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		if n < 1 {
			continue
		}
		brand := ps.brands[l.items[0]]
		s.p.Slots = append(s.p.Slots, Slot{Name: brand, From: 1, To: n, Filter: filter.Attr("brand", brand)})
		s.matched(l.lo, l.hi, fmt.Sprintf("positions 1-%d for brand %s", n, brand))
	}
}
