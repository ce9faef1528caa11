package lexical_test

import (
	"context"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/lexical"
)

func ExampleIndex_Search() {
	ix, _ := lexical.New(lexical.Config{})
	for i, title := range []string{"Logitech wireless mouse", "Razer gaming mouse", "Corsair gaming keyboard", "HDMI cable"} {
		d := lexical.Document{SKUID: int64(100 + i), Ordinal: int64(i)}
		d.Fields[lexical.FieldTitle] = title
		_ = ix.Upsert(d)
	}
	ctx := context.Background()
	res, _ := ix.Search(ctx, "Gaming mice", 10, nil)
	fmt.Println(res.Terms, res.Known)
	res, _ = ix.Search(ctx, "gaming mouse", 10, nil)
	for _, h := range res.Hits {
		fmt.Printf("%d coverage %.2f\n", h.SKUID, h.Coverage)
	}
	// Only among candidates (ordinals 0 and 2):
	res, _ = ix.Search(ctx, "gaming mouse", 10, roaring64.BitmapOf(0, 2))
	for _, h := range res.Hits {
		fmt.Println(h.SKUID)
	}
	// Output:
	// [game mous] 2
	// 101 coverage 1.00
	// 100 coverage 0.50
	// 102 coverage 0.50
	// 100
	// 102
}
