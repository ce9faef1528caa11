package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"selection/api"
)

// FuzzRequestBodies sends each fuzzed body, with a fuzzed Content-Type, to every route that reads
// a JSON body, through the real handler over a real database (one schema per fuzz worker).
// Whatever the input: no panic, no 5xx; an error is application/problem+json whose status is
// the answer's and whose detail is valid UTF-8 of at most MaxDetailBytes; a success is JSON.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"scenario":"gaming mice under $50 in stock"}`,
		`{"scenario":"mice","plan":{"version":1,"query":"mouse","ranking":{"by":"sales"},"limit":5}}`,
		`{"name":"p","plan":{"version":1,"query":"","ranking":{"by":"blend","weights":{"sales":1}},"limit":5,"pins":["9000000000000000001"],` +
			`"filter":{"and":[{"attr":{"field":"brand","value":"Razer"}},{"not":{"range":{"field":"price","lte":1000}}}]}}}`,
		`{"name":"t","kind":"rule","rule":{"attr":{"field":"brand","value":"Razer"}}}`,
		`{"name":"proto","kind":"prototype","descriptions":["gaming mouse"],"examples":["9000000000000000001"]}`,
		`{"text":"brand = Razer and price < 5000"}`, `{"text":"{\"not\":{\"tag\":\"x\"}}"}`,
		`{"limit":-1,"scenario":"x"}`, `{"valid_from":"2026-01-01T00:00:00Z","valid_until":"2025-01-01T00:00:00Z","name":"v","scenario":"mice"}`,
		`scenario=mice`, ``, `null`, `[]`, `{}`, `{"scenario":"\ud800"}`, "{\"scenario\":\"\xff\"}",
	} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{"text":"brand = Razer"}`), "")
	f.Add([]byte(`{"text":"brand = Razer"}`), "application/x-www-form-urlencoded")
	h := newHarnessWith(f, api.Config{MaxBodyBytes: 64 << 10, RatePerAddress: -1, RatePerKey: -1})
	w := h.do("POST", "/v1/pools", h.planner, `{"name":"fuzzed","scenario":"gaming mouse"}`)
	if w.Code != 201 {
		f.Fatalf("create the pool to edit: %d %s", w.Code, w.Body.String())
	}
	var pool struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &pool); err != nil || pool.ID == "" {
		f.Fatalf("pool id: %v %s", err, w.Body.String())
	}
	routes := []string{"POST /v1/plan", "POST /v1/search", "POST /v1/pools", "PUT /v1/pools/" + pool.ID, "POST /v1/tags", "POST /v1/filters/parse"}
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		h.t = t
		for _, r := range routes {
			method, path, _ := strings.Cut(r, " ")
			w := h.do(method, path, h.planner, string(body), "Content-Type", ct)
			if w.Code >= 500 {
				t.Fatalf("%s: %d %s", r, w.Code, w.Body.String())
			}
			if w.Code >= 400 {
				if got := w.Header().Get("Content-Type"); got != "application/problem+json" {
					t.Fatalf("%s: %d with Content-Type %q", r, w.Code, got)
				}
				var p api.Problem
				if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
					t.Fatalf("%s: problem is not JSON: %v %s", r, err, w.Body.String())
				}
				if p.Status != w.Code || p.Type == "" || p.Title == "" {
					t.Fatalf("%s: %d answered with problem %+v", r, w.Code, p)
				}
				if len(p.Detail) > api.MaxDetailBytes || !utf8.ValidString(p.Detail) {
					t.Fatalf("%s: detail of %d bytes (valid UTF-8 %v): %q", r, len(p.Detail), utf8.ValidString(p.Detail), p.Detail)
				}
				continue
			}
			if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s: %d with Content-Type %q and a body that is not JSON: %.200s", r, w.Code, w.Header().Get("Content-Type"), w.Body.String())
			}
		}
	})
}
