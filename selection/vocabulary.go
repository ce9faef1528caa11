package selection

import (
	"fmt"

	"selection/filter"
)

// IndexVocabulary is what the planners may recognise in a tag index: its brands, tags and
// product types.
func IndexVocabulary(ix *filter.Index) (StaticVocabulary, error) {
	var v StaticVocabulary
	brands, err := ix.Values("brand")
	if err != nil {
		return v, fmt.Errorf("vocabulary: brands: %w", err)
	}
	for _, b := range brands {
		v.BrandList = append(v.BrandList, b.Value)
	}
	for _, t := range ix.Tags() {
		v.TagList = append(v.TagList, t.Name)
	}
	types, err := ix.Values("product_type")
	if err != nil {
		return v, fmt.Errorf("vocabulary: product types: %w", err)
	}
	for _, t := range types {
		v.TypeList = append(v.TypeList, t.Value)
	}
	return v, nil
}
