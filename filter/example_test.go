package filter_test

import (
	"encoding/json"
	"fmt"

	"selection/filter"
)

// A filter in its text form, its JSON form (what plans embed) and back.
func ExampleParseExpr() {
	e, err := filter.ParseExpr("brand = Logitech and price < 5000 and not market in (VN, PH)")
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(e)
	fmt.Println(string(b))
	back, _ := filter.ParseExprJSON(b)
	fmt.Println(back)
	// Output:
	// {"and":[{"attr":{"field":"brand","value":"Logitech"}},{"range":{"field":"price","lte":4999}},{"not":{"attr":{"field":"market","in":["VN","PH"]}}}]}
	// brand = Logitech and price <= 4999 and not market in (VN, PH)
}

// An index over three SKUs: bitmaps of ordinals, answers as SKU ids.
func ExampleIndex_Eval() {
	ix := filter.NewIndex()
	var rows []filter.Row
	for i, brand := range []string{"Logitech", "Razer", "Logitech"} {
		r := filter.Row{Ordinal: int64(i), ID: int64(9_000_000_000_000 + i), Live: true}
		_ = r.Set("brand", brand)
		_ = r.Set("price", fmt.Sprint(1000*(i+1)))
		rows = append(rows, r)
	}
	ix.Upsert(rows)
	bm, err := ix.Eval(filter.And(filter.Attr("brand", "logitech"), filter.Below("price", 2500)))
	if err != nil {
		panic(err)
	}
	fmt.Println(ix.SKUIDs(bm, 0))
	_, err = ix.Eval(filter.Tag("gaming"))
	fmt.Println(err)
	// Output:
	// [9000000000000]
	// unknown tag "gaming"
}
