package selection

import (
	"context"
	"fmt"
	"strings"
)

// Intent is what a scenario means: the product types it names, with the evidence for each,
// and the words no type explains (wanted properties such as "4k" or "gaming", which rank but
// do not filter). A plan with an intent holds only SKUs of its types; a planner edits the types
// like any other part of the plan.
type Intent struct {
	Types      []IntentType `json:"types"`
	Properties []string     `json:"properties,omitempty"`
	// Confidence is the best type's score (0..1).
	Confidence float64 `json:"confidence"`
	// Named reports that the scenario names the types (rather than its words matching
	// products of them).
	Named bool `json:"named,omitempty"`
	// Widen also admits SKUs of other types whose text holds every word of the query.
	Widen bool `json:"widen,omitempty"`
	// Phrases are those of the scenario's noun phrases of two words or more, when it has more
	// than one ("mouse pads" of "mouse pads, mats"): a widening intent also admits the SKUs
	// whose text holds every word of one of them.
	Phrases []string `json:"phrases,omitempty"`
	// Query, when set, is the scenario's product words without its class words ("gaming" for
	// "gaming accessories": "accessories" names no kind of product); a scenario naming no type
	// is searched by it.
	Query string `json:"query,omitempty"`
}

// IntentType is one product type a scenario means.
type IntentType struct {
	Name string `json:"name"`
	// Score is the evidence for it (name in the scenario, share of the lexical matches, nearness
	// in embedding space), comparable within one intent.
	Score float64 `json:"score"`
	Kind  string  `json:"kind,omitempty"` // product or accessory
	Why   string  `json:"why,omitempty"`
	// Mentions, when set, narrows the type to its SKUs whose text holds one of these words: a
	// broader type than the scenario names, cut to what it names ("fibre optic patch cables"
	// means the "patch cable"s that say fibre or optic).
	Mentions []string `json:"mentions,omitempty"`
}

// MaxIntentTypes bounds the types of one intent, and MaxIntentMentions the words narrowing
// one type.
const (
	MaxIntentTypes    = 64
	MaxIntentMentions = 16
)

// IntentResolver finds the product types a plan's query means (search.Intents implements it).
type IntentResolver interface {
	ResolveIntent(ctx context.Context, text string) (Intent, error)
}

// Names lists the intent's type names.
func (it *Intent) Names() []string {
	if it == nil {
		return nil
	}
	out := make([]string, len(it.Types))
	for i, t := range it.Types {
		out[i] = t.Name
	}
	return out
}

func (it *Intent) validate() error {
	if it == nil {
		return nil
	}
	if len(it.Types) > MaxIntentTypes {
		return fmt.Errorf("%w: intent: at most %d product types", ErrInvalid, MaxIntentTypes)
	}
	if len(it.Phrases) > MaxIntentTypes {
		return fmt.Errorf("%w: intent: at most %d phrases", ErrInvalid, MaxIntentTypes)
	}
	for _, ph := range it.Phrases {
		if len(ph) > 200 {
			return fmt.Errorf("%w: intent: a phrase needs at most 200 bytes", ErrInvalid)
		}
	}
	for _, t := range it.Types {
		if strings.TrimSpace(t.Name) == "" || len(t.Name) > 200 {
			return fmt.Errorf("%w: intent: a product type needs a name of 1..200 bytes", ErrInvalid)
		}
		if len(t.Mentions) > MaxIntentMentions {
			return fmt.Errorf("%w: intent: at most %d words narrow a product type", ErrInvalid, MaxIntentMentions)
		}
		for _, w := range t.Mentions {
			if strings.TrimSpace(w) == "" || len(w) > 100 {
				return fmt.Errorf("%w: intent: a word narrowing a product type needs 1..100 bytes", ErrInvalid)
			}
		}
	}
	return nil
}
