package api

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDetailBytes bounds a problem's detail. Details quote what the client sent (an unknown
// field, a tag name, an id, the path to an error inside a nested filter), and the client's input
// is bounded only by the body limit, so a detail past this keeps its head (what failed) and its
// tail (the innermost reason) and says how much it left out.
const MaxDetailBytes = 400

// detailHead and detailTail are what a cut detail keeps of its start and its end.
const (
	detailHead = 240
	detailTail = 120
)

// boundDetail is d when it fits in MaxDetailBytes, else its first and last bytes (cut at rune
// boundaries, invalid UTF-8 replaced) around " … (N bytes left out) … ".
func boundDetail(d string) string {
	d = strings.ToValidUTF8(d, "\uFFFD") // as JSON would send it, so the bound holds for what a client reads
	if len(d) <= MaxDetailBytes {
		return d
	}
	head := detailHead
	for head > 0 && !utf8.RuneStart(d[head]) {
		head--
	}
	tail := len(d) - detailTail
	for tail < len(d) && !utf8.RuneStart(d[tail]) {
		tail++
	}
	return d[:head] + " … (" + strconv.Itoa(tail-head) + " bytes left out) … " + d[tail:]
}
