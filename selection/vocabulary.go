package selection

import (
	"fmt"

	"selection/filter"
)

// IndexVocabulary is what the parser may recognise in a tag index: its brands and tags.
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
	return v, nil
}
