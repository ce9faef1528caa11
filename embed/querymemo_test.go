package embed

import (
	"context"
	"slices"
	"testing"
)

// A query memo embeds each exact query text once, up to its bound, and passes documents
// through.
func TestQueryMemo(t *testing.T) {
	srv := newOpenAIServer(t, 16)
	ctx := context.Background()
	inner, err := New(ctx, Config{Provider: ProviderOpenAI, BaseURL: srv.URL + "/v1", APIKey: "test-key", Model: "tiny", Dimension: 16})
	if err != nil {
		t.Fatal(err)
	}
	q := NewQueryMemo(inner, 2)
	if q.Name() != inner.Name() || q.Dimension() != 16 {
		t.Fatalf("name %q dim %d", q.Name(), q.Dimension())
	}
	a, err := q.EmbedQuery(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	again, err := q.EmbedQuery(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(srv.inputs()) != 1 || !slices.Equal(a, again) {
		t.Fatalf("requests %v: the second query should be remembered", srv.inputs())
	}
	for _, text := range []string{"b", "c", "d"} {
		if _, err := q.EmbedQuery(ctx, text); err != nil {
			t.Fatal(err)
		}
	}
	if q.Len() != 2 {
		t.Fatalf("kept %d vectors, bound 2", q.Len())
	}
	if _, err := q.EmbedDocuments(ctx, []string{"a", "a"}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.inputs()); n != 5 {
		t.Fatalf("%d requests, want 5 (four distinct queries, documents not remembered)", n)
	}
	unbounded := NewQueryMemo(inner, 0)
	for _, text := range []string{"a", "b", "c", "d"} {
		if _, err := unbounded.EmbedQuery(ctx, text); err != nil {
			t.Fatal(err)
		}
	}
	if unbounded.Len() != 4 {
		t.Fatalf("kept %d vectors without a bound, want 4", unbounded.Len())
	}
}
