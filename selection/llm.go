package selection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tmc/langchaingo/llms"

	"selection/filter"
)

// LLMPlanner asks a language model (any langchaingo llms.Model: OpenAI-compatible, Ollama,
// ...) to write the plan. Its answer must be a plan in the schema; it is decoded strictly and
// validated, and on any failure the deterministic plan is used with a warning.
type LLMPlanner struct {
	Model   llms.Model
	Timeout time.Duration // default 20s
}

const llmInstructions = `You turn a campaign planner's scenario for a marketplace into a JSON plan.
Answer with one JSON object and nothing else, with exactly these keys:
  "version": 1,
  "query": the product words to search for semantically (no prices, markets, brands to filter, sort words),
  "filter": null or an expression: {"and":[...]}, {"or":[...]}, {"not":e}, {"tag":"name"},
            {"attr":{"field":F,"value":V}} or {"attr":{"field":F,"in":[V,...]}},
            {"range":{"field":N,"gte":n,"lte":n}} (also gt, lt, eq; integers),
  "exclude_terms": [words whose products must not appear],
  "ranking": {"by": one of relevance, sales, price_asc, price_desc, newest, rating, blend,
              "weights": {signal: weight} only for blend, signals relevance, sales, rating, discount, newest, cheap},
  "limit": number of products (1..10000, default 100),
  "types": the product types the scenario means, each exactly as written in the list of known
           product types below ([] when none of them fits; main products, not their accessories,
           unless the scenario asks for accessories).
Categorical fields F: %s.
Numeric fields N: %s. Money is in minor units (cents) of %s; rating is x100 (4 stars = 400);
discount is percent; released is the release date as days since 1970-01-01 (2024-01-01 is
19723; 0 means unknown). Markets: SG MY TH ID PH VN (also include "ALL" when filtering markets).
Known tags: %s.
Known brands (examples): %s.
Known product types (most common first): %s.
`

// maxLLMTypes bounds the product types the LLM planner is shown.
const maxLLMTypes = 400

// Plan asks the model for a plan. fallback is the deterministic plan, used (ok false, with a
// warning) when the model fails or answers something that is not a valid plan. The warnings of
// a plan it accepts say what of the answer was dropped (product types the catalogue lacks).
func (l *LLMPlanner) Plan(ctx context.Context, scenario string, vocab Vocabulary, currency string, fallback Plan) (plan Plan, ok bool, warnings []string) {
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var cats, nums []string
	for _, f := range filter.Fields() {
		if f.Kind == filter.Numeric {
			nums = append(nums, f.Name)
		} else {
			cats = append(cats, f.Name)
		}
	}
	var tags, brands, types []string
	if vocab != nil {
		tags, brands, types = vocab.Tags(), vocab.Brands(), vocab.Types()
	}
	if len(brands) > 60 {
		brands = brands[:60]
	}
	shown := types
	if len(shown) > maxLLMTypes {
		shown = shown[:maxLLMTypes]
	}
	system := fmt.Sprintf(llmInstructions, strings.Join(cats, ", "), strings.Join(nums, ", "), currency,
		strings.Join(tags, ", "), strings.Join(brands, ", "), strings.Join(shown, ", "))
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, system),
		llms.TextParts(llms.ChatMessageTypeHuman, clean(scenario)),
	}
	resp, err := l.Model.GenerateContent(ctx, msgs, llms.WithTemperature(0), llms.WithJSONMode(), llms.WithMaxTokens(800))
	if err != nil {
		return fallback, false, []string{"the LLM planner failed (" + shortErr(err) + "); using the deterministic plan"}
	}
	if len(resp.Choices) == 0 {
		return fallback, false, []string{"the LLM planner returned no answer; using the deterministic plan"}
	}
	plan, proposed, err := decodeLLMPlan(resp.Choices[0].Content)
	if err != nil {
		return fallback, false, []string{"the LLM planner's answer is not a valid plan (" + shortErr(err) + "); using the deterministic plan"}
	}
	plan.Pins, plan.Exclusions = fallback.Pins, fallback.Exclusions
	if plan.Currency == "" {
		plan.Currency = fallback.Currency
	}
	plan.Intent, warnings = llmIntent(proposed, types, fallback.Intent)
	return plan, true, warnings
}

// llmIntent checks the product types the model proposed against the catalogue's: the known
// ones become the plan's intent; unknown ones are dropped with a note. With none known (or
// none proposed), the deterministic planner's intent stands.
func llmIntent(proposed, known []string, fallback *Intent) (*Intent, []string) {
	if proposed == nil {
		return fallback, nil
	}
	byName := make(map[string]string, len(known))
	for _, k := range known {
		byName[strings.ToLower(strings.TrimSpace(k))] = k
	}
	it := &Intent{Confidence: 1, Named: true, Widen: fallback != nil && fallback.Widen}
	var unknown []string
	seen := map[string]bool{}
	for _, p := range proposed {
		k, ok := byName[strings.ToLower(strings.TrimSpace(p))]
		switch {
		case !ok:
			unknown = append(unknown, p)
		case !seen[k] && len(it.Types) < MaxIntentTypes:
			seen[k] = true
			it.Types = append(it.Types, IntentType{Name: k, Score: 1, Why: "proposed by the LLM planner"})
		}
	}
	var notes []string
	if len(unknown) > 0 {
		notes = append(notes, fmt.Sprintf("the LLM planner proposed product types the catalogue does not have (%s); dropped", strings.Join(unknown, ", ")))
	}
	if len(it.Types) == 0 {
		if len(proposed) > 0 {
			notes = append(notes, "none of the LLM planner's product types is known; the deterministic planner's types stand")
		}
		return fallback, notes
	}
	return it, notes
}

// decodeLLMPlan reads the model's answer: a JSON object, possibly inside a code fence, decoded
// strictly (unknown keys are errors) and validated, and the product types it proposes (nil when
// it has no "types" key).
func decodeLLMPlan(answer string) (Plan, []string, error) {
	s := strings.TrimSpace(answer)
	if i := strings.Index(s, "{"); i >= 0 {
		if j := strings.LastIndex(s, "}"); j > i {
			s = s[i : j+1]
		}
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	var a struct {
		Plan
		Types []string `json:"types"`
	}
	if err := dec.Decode(&a); err != nil {
		return Plan{}, nil, err
	}
	p := a.Plan
	if p.Version == 0 {
		p.Version = PlanVersion
	}
	if p.Limit == 0 {
		p.Limit = DefaultLimit
	}
	if p.Ranking.By == "" {
		p.Ranking.By = SortRelevance
	}
	if err := p.Validate(); err != nil {
		return Plan{}, nil, errors.Unwrap(err)
	}
	return p, a.Types, nil
}

func shortErr(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}
