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
  "limit": number of products (1..10000, default 100).
Categorical fields F: %s.
Numeric fields N: %s. Money is in minor units (cents) of %s; rating is x100 (4 stars = 400);
discount is percent; released is the release date as days since 1970-01-01 (2024-01-01 is
19723; 0 means unknown). Markets: SG MY TH ID PH VN (also include "ALL" when filtering markets).
Known tags: %s.
Known brands (examples): %s.
`

// Plan asks the model for a plan. fallback is the deterministic plan, used (with a warning) when
// the model fails or answers something that is not a valid plan.
func (l *LLMPlanner) Plan(ctx context.Context, scenario string, vocab Vocabulary, currency string, fallback Plan) (Plan, []string) {
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
	var tags, brands []string
	if vocab != nil {
		tags, brands = vocab.Tags(), vocab.Brands()
	}
	if len(brands) > 60 {
		brands = brands[:60]
	}
	system := fmt.Sprintf(llmInstructions, strings.Join(cats, ", "), strings.Join(nums, ", "), currency,
		strings.Join(tags, ", "), strings.Join(brands, ", "))
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, system),
		llms.TextParts(llms.ChatMessageTypeHuman, clean(scenario)),
	}
	resp, err := l.Model.GenerateContent(ctx, msgs, llms.WithTemperature(0), llms.WithJSONMode(), llms.WithMaxTokens(800))
	if err != nil {
		return fallback, []string{"the LLM planner failed (" + shortErr(err) + "); using the deterministic plan"}
	}
	if len(resp.Choices) == 0 {
		return fallback, []string{"the LLM planner returned no answer; using the deterministic plan"}
	}
	plan, err := decodeLLMPlan(resp.Choices[0].Content)
	if err != nil {
		return fallback, []string{"the LLM planner's answer is not a valid plan (" + shortErr(err) + "); using the deterministic plan"}
	}
	plan.Pins, plan.Exclusions = fallback.Pins, fallback.Exclusions
	if plan.Currency == "" {
		plan.Currency = fallback.Currency
	}
	return plan, nil
}

// decodeLLMPlan reads the model's answer: a JSON object, possibly inside a code fence, decoded
// strictly (unknown keys are errors) and validated.
func decodeLLMPlan(answer string) (Plan, error) {
	s := strings.TrimSpace(answer)
	if i := strings.Index(s, "{"); i >= 0 {
		if j := strings.LastIndex(s, "}"); j > i {
			s = s[i : j+1]
		}
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return Plan{}, err
	}
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
		return Plan{}, errors.Unwrap(err)
	}
	return p, nil
}

func shortErr(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}
