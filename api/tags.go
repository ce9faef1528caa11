package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"selection/tagger"
)

func (s *Server) tagsOf(ordinal int64) []string {
	if s.deps.Index == nil {
		return []string{}
	}
	return s.deps.Index.TagsOf(ordinal)
}

type tagView struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Members uint64 `json:"members"`
}

func (s *Server) listTags(c *gin.Context) {
	out := []tagView{}
	if s.deps.Index != nil {
		for _, t := range s.deps.Index.Tags() {
			out = append(out, tagView{Name: t.Name, Kind: string(t.Kind), Members: t.Members})
		}
	}
	c.JSON(http.StatusOK, gin.H{"tags": out})
}

func (s *Server) defineTag(c *gin.Context) {
	if s.deps.Tags == nil {
		s.fail(c, fmt.Errorf("%w: tag definitions are not served here", errBadRequest))
		return
	}
	var raw json.RawMessage
	if err := decode(c, &raw); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.deps.Tags.DefineTag(c.Request.Context(), raw)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

type fieldView struct {
	Name   string   `json:"name"`
	Kind   string   `json:"kind"`
	Help   string   `json:"help"`
	Values []string `json:"values,omitempty"` // categorical: the most common values
}

// listFields lists the filterable fields, with the top values of categorical ones.
func (s *Server) listFields(c *gin.Context) {
	var out []fieldView
	for _, f := range tagger.Fields() {
		v := fieldView{Name: f.Name, Kind: f.Kind.String(), Help: f.Help}
		if f.Kind == tagger.Categorical && s.deps.Index != nil {
			if vals, err := s.deps.Index.Values(f.Name); err == nil {
				for i, vc := range vals {
					if i == 50 {
						break
					}
					v.Values = append(v.Values, vc.Value)
				}
			}
		}
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"fields": out})
}

type parseFilterRequest struct {
	Text string `json:"text"`
}

// parseFilter turns the text form of a filter ("brand = Logitech and price < 5000") into its
// JSON form, for editing plans.
func (s *Server) parseFilter(c *gin.Context) {
	var req parseFilterRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	e, err := tagger.ParseExpr(req.Text)
	if err != nil {
		s.fail(c, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"filter": e, "text": e.String()})
}
