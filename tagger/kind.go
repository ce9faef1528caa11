package tagger

import "fmt"

// Kind is how a tag gets its members (the tags.kind column).
type Kind string

// The tag kinds.
const (
	// KindRule tags hold the SKUs matching a filter expression over attributes and other tags.
	KindRule Kind = "rule"
	// KindPrototype tags hold the SKUs whose vectors lie near plain-language descriptions or
	// example SKUs, above a calibrated similarity threshold.
	KindPrototype Kind = "prototype"
	// KindPropagated tags spread from seed SKUs to their neighbours by a k-nearest-neighbour
	// vote; each membership has a confidence.
	KindPropagated Kind = "propagated"
	// KindDiscovered tags are clusters of the embedding space, named from their members.
	KindDiscovered Kind = "discovered"
)

// ParseKind checks a kind name.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindRule, KindPrototype, KindPropagated, KindDiscovered:
		return k, nil
	}
	return "", fmt.Errorf("unknown tag kind %q (rule, prototype, propagated, discovered)", s)
}
