package prodtype_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"testing"

	"selection/internal/icecat"
	"selection/prodtype"
)

func icecatDocs(t testing.TB) []prodtype.Doc {
	ps := icecat.Products(t)
	docs := make([]prodtype.Doc, len(ps))
	for i, p := range ps {
		var colour string
		if raw, ok := p.Attributes["attr_t_product_colour"]; ok {
			_ = json.Unmarshal(raw, &colour)
		}
		docs[i] = prodtype.Doc{Title: p.Title, Brand: p.Supplier, Feed: p.ProductType, Colour: colour, Price: p.Price}
	}
	return docs
}

func TestExploreIcecat(t *testing.T) {
	if os.Getenv("PRODTYPE_EXPLORE") == "" {
		t.Skip("exploration")
	}
	docs := icecatDocs(t)
	m := prodtype.Learn(docs, prodtype.Config{})
	src := map[prodtype.Source]int{}
	per := map[string]int{}
	for _, d := range docs {
		a := m.Classify(d)
		src[a.Source]++
		per[a.Type]++
	}
	fmt.Println(m.Len(), src)
	var names []string
	for n := range per {
		names = append(names, n)
	}
	sort.Slice(names, func(a, b int) bool { return per[names[a]] > per[names[b]] })
	for _, n := range names[:min(150, len(names))] {
		ty, _ := m.Type(n)
		fmt.Printf("%5d %-40s %s %s (%s)\n", per[n], n, ty.Kind, ty.AccessoryOf, ty.Why)
	}
}
