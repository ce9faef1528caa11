package api_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/api"
)

// Finding 14: a reader's 1 MiB filter of `not brand = x or ...` (about 23,000 terms in JSON,
// 65,000 in text) is refused with 400 before it is evaluated, by /v1/search and by
// /v1/filters/parse.
func TestFinding14WideFilterIs400(t *testing.T) {
	const limit = 1 << 20
	h := newHarnessWith(t, api.Config{MaxBodyBytes: limit})

	const item = `{"not":{"attr":{"field":"brand","value":"Razer"}}}`
	head := `{"plan":{"version":1,"ranking":{"by":"sales"},"limit":10,"filter":{"or":[` + item
	tail := `]}}}`
	var b strings.Builder
	b.WriteString(head)
	for b.Len()+len(item)+1+len(tail) <= limit {
		b.WriteString("," + item)
	}
	b.WriteString(tail)
	body := b.String()
	require.Greater(t, len(body), limit-len(item)-1)
	p := requireProblem(t, h.do("POST", "/v1/search", h.reader, body), 400)
	require.Contains(t, p.Detail, "filter too wide")

	// the same filter at the limit's width is a search like any other
	narrow := head + strings.Repeat(","+item, 100) + tail
	w := h.do("POST", "/v1/search", h.reader, narrow)
	require.Equal(t, 200, w.Code, w.Body.String())

	text := strings.Repeat("not brand = Razer or ", limit/21-1) + "all"
	p = requireProblem(t, h.do("POST", "/v1/filters/parse", h.reader, map[string]string{"text": text}), 400)
	require.Contains(t, p.Detail, "filter too wide")
}
