package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"selection/search"
	"selection/selection"
)

type planRequest struct {
	Scenario string `json:"scenario"`
	Planner  string `json:"planner,omitempty"`
}

func (s *Server) plan(c *gin.Context) {
	var req planRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if strings.TrimSpace(req.Scenario) == "" {
		s.fail(c, fmt.Errorf("%w: scenario is empty", errBadRequest))
		return
	}
	resp, err := s.deps.Service.PlanScenario(c.Request.Context(), req.Scenario, req.Planner)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

type searchRequest struct {
	Scenario string          `json:"scenario,omitempty"`
	Plan     *selection.Plan `json:"plan,omitempty"`
	Limit    int             `json:"limit,omitempty"`
}

type searchResponse struct {
	Plan       selection.Plan `json:"plan"`
	Items      []ItemView     `json:"items"`
	Candidates uint64         `json:"candidates"`
	// Matched is how many SKUs pass the filter and are of the intent's types (plus those of
	// other types holding every word of the query); Stop says why the list ends where it does.
	Matched    uint64             `json:"matched"`
	Stop       string             `json:"stop"`
	Confidence float32            `json:"confidence"`
	Method     string             `json:"method"`
	Warnings   []string           `json:"warnings,omitempty"`
	Timings    map[string]float64 `json:"timings_ms"`
}

// search previews a scenario or a plan without saving it.
func (s *Server) search(c *gin.Context) {
	// One request: the intent's and the ranking's query embedding are one.
	c.Request = c.Request.WithContext(search.WithQueryMemo(c.Request.Context()))
	var req searchRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	var plan selection.Plan
	var warnings []string
	switch {
	case req.Plan != nil:
		plan = *req.Plan
	case strings.TrimSpace(req.Scenario) != "":
		pr, err := s.deps.Service.PlanScenario(c.Request.Context(), req.Scenario, "")
		if err != nil {
			s.fail(c, err)
			return
		}
		plan, warnings = pr.Plan, pr.Warnings
	default:
		s.fail(c, fmt.Errorf("%w: give a scenario or a plan", errBadRequest))
		return
	}
	if req.Limit > 0 {
		plan.Limit = req.Limit
	}
	res, err := s.deps.Service.Preview(c.Request.Context(), plan)
	if err != nil {
		s.fail(c, err)
		return
	}
	rows := make([]itemRow, len(res.Items))
	for i, it := range res.Items {
		rows[i] = itemRow{SKUID: it.SKUID, Rank: it.Rank, Score: it.Score, Why: it.Why, Pinned: it.Pinned, Rules: it.Rules, Slot: it.Slot}
	}
	items, err := s.views(c, rows)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, searchResponse{Plan: res.Plan, Items: items, Candidates: res.Candidates, Matched: res.Matched, Stop: res.Stop,
		Confidence: res.Confidence, Method: res.Method, Warnings: append(warnings, res.Warnings...), Timings: res.Timings})
}
