package selection_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/fake"
	"github.com/tmc/langchaingo/llms/ollama"
	"github.com/tmc/langchaingo/llms/openai"

	"selection/selection"
)

const goodPlan = `{"version":1,"query":"wireless gaming mouse","filter":{"and":[{"attr":{"field":"brand","value":"Logitech"}},{"range":{"field":"price","lte":5000}}]},"ranking":{"by":"sales"},"limit":20}`

func TestLLMPlannerWithFakeModel(t *testing.T) {
	ctx := context.Background()
	_, _, svc := fixture(t)
	cases := []struct {
		name, answer string
		llm          bool
		warning      string
	}{
		{"valid", goodPlan, true, ""},
		{"fenced", "Here you go:\n```json\n" + goodPlan + "\n```", true, ""},
		{"unknown key", `{"version":1,"query":"x","ranking":{"by":"sales"},"limit":5,"colour":"red"}`, false, "not a valid plan"},
		{"bad ranking", `{"version":1,"query":"x","ranking":{"by":"loudest"},"limit":5}`, false, "not a valid plan"},
		{"bad filter", `{"version":1,"query":"x","filter":{"range":{"field":"brand","gte":1}},"ranking":{"by":"sales"},"limit":5}`, false, "not a valid plan"},
		{"not json", "I cannot help with that.", false, "not a valid plan"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc.LLM = &selection.LLMPlanner{Model: fake.NewFakeLLM([]string{c.answer})}
			pr, err := svc.PlanScenario(ctx, "wireless gaming mouse by Logitech under $50, best sellers", selection.PlannerLLM)
			require.NoError(t, err)
			if c.llm {
				require.Equal(t, selection.PlannerLLM, pr.Planner)
				require.Empty(t, pr.Warnings)
				require.Equal(t, "wireless gaming mouse", pr.Plan.Query)
				require.Equal(t, 20, pr.Plan.Limit)
				_, err := svc.Preview(ctx, pr.Plan)
				require.NoError(t, err)
				return
			}
			require.Equal(t, selection.PlannerDeterministic, pr.Planner)
			require.Len(t, pr.Warnings, 1)
			require.Contains(t, pr.Warnings[0], c.warning)
			// The deterministic plan stands in.
			require.Equal(t, "wireless gaming mouse", pr.Plan.Query)
			require.Equal(t, "sales", pr.Plan.Ranking.By)
		})
	}
	svc.LLM = nil
	pr, err := svc.PlanScenario(ctx, "mice", selection.PlannerLLM)
	require.NoError(t, err)
	require.Contains(t, pr.Warnings[0], "no LLM is configured")
	_, err = svc.PlanScenario(ctx, "mice", "oracle")
	require.ErrorIs(t, err, selection.ErrInvalid)
}

// The planner through langchaingo's real OpenAI and Ollama clients, against local servers that
// speak those APIs.
func TestLLMPlannerOverHTTP(t *testing.T) {
	ctx := context.Background()
	_, _, svc := fixture(t)
	var calls atomic.Int32
	var lastBody atomic.Value
	answer := goodPlan
	openaiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		lastBody.Store(string(b))
		if r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "not found", 404)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test-model",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": answer}}},
			"usage": map[string]any{"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
		})
	}))
	defer openaiSrv.Close()
	model, err := openai.New(openai.WithBaseURL(openaiSrv.URL+"/v1"), openai.WithToken("test"), openai.WithModel("test-model"))
	require.NoError(t, err)
	svc.LLM = &selection.LLMPlanner{Model: model}
	pr, err := svc.PlanScenario(ctx, "wireless gaming mouse by Logitech under $50", selection.PlannerAuto)
	require.NoError(t, err)
	require.Equal(t, selection.PlannerLLM, pr.Planner, pr.Warnings)
	require.Equal(t, "sales", pr.Plan.Ranking.By)
	require.EqualValues(t, 1, calls.Load())
	require.Contains(t, lastBody.Load().(string), "wireless gaming mouse by Logitech under $50")
	require.Contains(t, lastBody.Load().(string), "json_object")

	answer = `{"version": 1, "query": 42}`
	pr, err = svc.PlanScenario(ctx, "mice", selection.PlannerAuto)
	require.NoError(t, err)
	require.Equal(t, selection.PlannerDeterministic, pr.Planner)
	require.Contains(t, pr.Warnings[0], "not a valid plan")

	// A server that fails: deterministic plan with a warning.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	model, err = openai.New(openai.WithBaseURL(down.URL+"/v1"), openai.WithToken("test"), openai.WithModel("m"))
	require.NoError(t, err)
	svc.LLM = &selection.LLMPlanner{Model: model}
	pr, err = svc.PlanScenario(ctx, "mice", selection.PlannerLLM)
	require.NoError(t, err)
	require.Equal(t, selection.PlannerDeterministic, pr.Planner)
	require.Contains(t, pr.Warnings[0], "failed")

	// Ollama's chat API.
	ollamaSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat" {
			http.Error(w, "not found", 404)
			return
		}
		b, _ := io.ReadAll(r.Body)
		require.True(t, strings.Contains(string(b), `"format":"json"`), string(b))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"model": "llama3", "created_at": "2026-11-26T00:00:00Z",
			"message": map[string]any{"role": "assistant", "content": goodPlan}, "done": true, "done_reason": "stop"})
	}))
	defer ollamaSrv.Close()
	om, err := ollama.New(ollama.WithServerURL(ollamaSrv.URL), ollama.WithModel("llama3"), ollama.WithFormat("json"))
	require.NoError(t, err)
	svc.LLM = &selection.LLMPlanner{Model: om}
	pr, err = svc.PlanScenario(ctx, "wireless gaming mouse", selection.PlannerLLM)
	require.NoError(t, err)
	require.Equal(t, selection.PlannerLLM, pr.Planner, pr.Warnings)
	require.Equal(t, 20, pr.Plan.Limit)
}

// recordingModel answers with a fixed text and keeps the messages it was sent.
type recordingModel struct {
	answer string
	sent   []llms.MessageContent
}

func (m *recordingModel) GenerateContent(_ context.Context, msgs []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
	m.sent = msgs
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: m.answer}}}, nil
}

func (m *recordingModel) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

// The LLM planner may propose product types; they are checked against the catalogue's types:
// known ones become the plan's intent, unknown ones are dropped with a warning, and with none
// known the deterministic intent stands.
func TestLLMPlannerProposesTypesCheckedAgainstTheCatalogue(t *testing.T) {
	ctx := context.Background()
	_, _, svc := fixture(t)
	svc.Vocabulary = func() selection.Vocabulary {
		return selection.StaticVocabulary{BrandList: []string{"Logitech", "Razer"}, TypeList: []string{"mouse", "mouse pad", "keyboard"}}
	}
	plan := func(types string) (selection.PlanResponse, *recordingModel) {
		m := &recordingModel{answer: `{"version":1,"query":"gaming mouse","ranking":{"by":"sales"},"limit":20,"types":` + types + `}`}
		svc.LLM = &selection.LLMPlanner{Model: m}
		pr, err := svc.PlanScenario(ctx, "gaming mice under $50", selection.PlannerLLM)
		require.NoError(t, err)
		return pr, m
	}
	defer func() { svc.LLM = nil }()

	pr, m := plan(`["Mouse", "gaming chair", "mouse"]`)
	require.Equal(t, selection.PlannerLLM, pr.Planner)
	require.Equal(t, []string{"mouse"}, pr.Plan.Intent.Names(), "known, in the catalogue's spelling, once")
	require.Len(t, pr.Warnings, 1)
	require.Contains(t, pr.Warnings[0], "gaming chair")
	require.Contains(t, m.sent[0].Parts[0].(llms.TextContent).Text, "Known product types (most common first): mouse, mouse pad, keyboard.")
	_, err := svc.Preview(ctx, pr.Plan)
	require.NoError(t, err)

	pr, _ = plan(`["gaming chair"]`)
	require.Equal(t, selection.PlannerLLM, pr.Planner)
	require.Nil(t, pr.Plan.Intent, "none known: the deterministic planner's intent (none here) stands")
	require.Len(t, pr.Warnings, 2)

	pr, _ = plan(`[]`)
	require.Nil(t, pr.Plan.Intent)
	require.Empty(t, pr.Warnings)
}
