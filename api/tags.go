package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"selection/filter"
	"selection/selection"
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

func (s *Server) deleteTag(c *gin.Context) {
	if s.deps.Tags == nil {
		s.fail(c, fmt.Errorf("%w: tag definitions are not served here", errBadRequest))
		return
	}
	name := strings.TrimPrefix(c.Param("name"), "/")
	if name == "" {
		s.fail(c, fmt.Errorf("%w: which tag? DELETE /v1/tags/{name}", errBadRequest))
		return
	}
	if err := s.deps.Tags.DeleteTag(c.Request.Context(), name); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
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
	for _, f := range filter.Fields() {
		v := fieldView{Name: f.Name, Kind: f.Kind.String(), Help: f.Help}
		if f.Kind == filter.Categorical && s.deps.Index != nil {
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
	e, err := filter.ParseExpr(req.Text)
	if err != nil {
		s.fail(c, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"filter": e, "text": e.String()})
}

// TaggerService serves the tag endpoints (POST and DELETE /v1/tags) over the tagger.
type TaggerService struct{ Tagger *tagger.Tagger }

type tagRequest struct {
	Name         string        `json:"name"`
	Kind         string        `json:"kind"`
	Description  string        `json:"description,omitempty"`
	Descriptions []string      `json:"descriptions,omitempty"`
	Examples     selection.IDs `json:"examples,omitempty"`
	Rule         *filter.Expr  `json:"rule,omitempty"`
	Words        []string      `json:"words,omitempty"`
}

// DefineTag defines a rule or prototype tag from the request body and builds its members.
func (d TaggerService) DefineTag(ctx context.Context, raw json.RawMessage) (any, error) {
	var req tagRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: tag: %v", selection.ErrInvalid, err)
	}
	kind, err := tagger.ParseKind(req.Kind)
	if err != nil || (kind != tagger.KindRule && kind != tagger.KindPrototype) {
		return nil, fmt.Errorf("%w: kind %q: the API defines rule and prototype tags (the others: selection tag define)", selection.ErrInvalid, req.Kind)
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 100 {
		return nil, fmt.Errorf("%w: a tag needs a name of at most 100 bytes", selection.ErrInvalid)
	}
	def := tagger.TagDef{Name: name, Kind: kind, Description: req.Description,
		Definition: tagger.Definition{Rule: req.Rule, Words: req.Words, Descriptions: req.Descriptions, Examples: req.Examples}}
	if err := def.Definition.Validate(kind); err != nil {
		return nil, fmt.Errorf("%w: tag %q: %v", selection.ErrInvalid, name, err)
	}
	created, err := d.Tagger.Define(ctx, def)
	if errors.Is(err, filter.ErrUnknownTag) || errors.Is(err, tagger.ErrExists) || errors.Is(err, tagger.ErrNoVectors) {
		return nil, fmt.Errorf("%w: %v", selection.ErrInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	members, err := d.Tagger.Index().Count(filter.Tag(created.Name))
	if errors.Is(err, filter.ErrUnknownTag) {
		members = 0 // deleted again in the moment since it was made
	} else if err != nil {
		return nil, err
	}
	return map[string]any{"name": created.Name, "kind": created.Kind, "members": members, "definition": created.Definition}, nil
}

// DeleteTag deletes a tag unless another tag or a pool refers to it (tagger.ErrInUse).
func (d TaggerService) DeleteTag(ctx context.Context, name string) error {
	return d.Tagger.Delete(ctx, name)
}
