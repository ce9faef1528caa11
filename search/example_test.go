package search_test

import (
	"context"
	"fmt"

	"selection/embed"
	"selection/lexical"
	"selection/search"
	"selection/vectorindex"
)

func ExampleSearcher_Search() {
	ctx := context.Background()
	lex, _ := lexical.New(lexical.Config{})
	emb, err := embed.New(ctx, embed.Config{}) // the local USE-Lite model
	if err != nil {
		fmt.Println(err)
		return
	}
	vix, _ := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Dim: emb.Dimension()})
	titles := []string{"Logitech M185 wireless mouse", "Corsair K70 gaming keyboard", "Razer gaming mouse", "HDMI cable 2 m"}
	vs, _ := emb.EmbedDocuments(ctx, titles)
	for i, t := range titles {
		d := lexical.Document{SKUID: int64(100 + i), Ordinal: int64(i)}
		d.Fields[lexical.FieldTitle] = t
		_ = lex.Upsert(d)
		_ = vix.Put(int64(i), int64(100+i), vs[i])
	}
	eng, _ := search.New(lex, vix, emb, search.Config{})

	res, _ := eng.Search(ctx, search.Request{Text: "gaming mouse", K: 2})
	fmt.Printf("confidence %.1f\n", res.Confidence)
	for _, h := range res.Hits {
		fmt.Println(h.SKUID, titles[h.Ordinal])
	}
	res, _ = eng.Search(ctx, search.Request{Text: "netflix", K: 2})
	fmt.Printf("netflix: confidence %.1f, %d hits\n", res.Confidence, len(res.Hits))
	// Output:
	// confidence 1.0
	// 102 Razer gaming mouse
	// 100 Logitech M185 wireless mouse
	// netflix: confidence 0.0, 0 hits
}
