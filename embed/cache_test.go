package embed

import (
	"context"
	"slices"
	"testing"
)

func TestCached(t *testing.T) {
	srv := newOpenAIServer(t, 16)
	ctx := context.Background()
	inner, err := New(ctx, Config{Provider: ProviderOpenAI, BaseURL: srv.URL + "/v1", APIKey: "test-key", Model: "tiny", Dimension: 16})
	if err != nil {
		t.Fatal(err)
	}
	mc := NewMemoryCache()
	e := NewCached(inner, mc)
	if e.Name() != inner.Name() || e.Dimension() != 16 {
		t.Fatalf("name %q dim %d", e.Name(), e.Dimension())
	}
	first, err := e.EmbedDocuments(ctx, []string{"a", "b", "a", "c"})
	if err != nil {
		t.Fatal(err)
	}
	// Duplicates are embedded once.
	if reqs := srv.inputs(); len(reqs) != 1 || len(reqs[0]) != 3 {
		t.Fatalf("requests %v, want one of 3 distinct texts", reqs)
	}
	if !slices.Equal(first[0], first[2]) || &first[0][0] == &first[2][0] {
		t.Error("duplicate texts should get equal, separate vectors")
	}
	second, err := e.EmbedDocuments(ctx, []string{"c", "d", "a"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.inputs()
	if len(reqs) != 2 || len(reqs[1]) != 1 || reqs[1][0] != "d" {
		t.Fatalf("second call requests %v, want only the miss \"d\"", reqs)
	}
	if !slices.Equal(second[0], first[3]) || !slices.Equal(second[2], first[0]) {
		t.Error("cached vectors differ from the first ones")
	}
	if !slices.Equal(second[1], fakeVector("tiny|d", 16)) {
		t.Error("miss vector wrong")
	}
	q, err := e.EmbedQuery(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q, first[1]) || len(srv.inputs()) != 2 {
		t.Error("query should be served from the cache")
	}
	st := e.(*Cached).Stats()
	if st.Hits != 3 || st.Misses != 4 {
		t.Errorf("stats %+v, want 3 hits 4 misses", st)
	}
	if mc.Len() != 4 {
		t.Errorf("cache holds %d, want 4", mc.Len())
	}
	// Another model name does not see these entries.
	got, err := mc.Get(ctx, "other", []Hash{TextHash("a")})
	if err != nil || len(got) != 0 {
		t.Errorf("other model: %v %v", got, err)
	}
}
