package prodtype

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// modelJSON is a Model as stored (type_models.model): what Learn found, so that every replica
// of a service classifies with the same vocabulary whenever it was started.
type modelJSON struct {
	Learner int      `json:"learner,omitempty"`
	Config  Config   `json:"config"`
	Units   []string `json:"units"`
	Props   []string `json:"properties"`
	Types   []Type   `json:"types"`
}

// MarshalJSON encodes the model; UnmarshalJSON gives back one that classifies alike.
func (m *Model) MarshalJSON() ([]byte, error) {
	return json.Marshal(modelJSON{Learner: m.learner, Config: m.cfg, Units: slices.Sorted(maps.Keys(m.units)), Props: slices.Sorted(maps.Keys(m.props)), Types: m.Types()})
}

// UnmarshalJSON decodes a model written by MarshalJSON.
func (m *Model) UnmarshalJSON(b []byte) error {
	var j modelJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("prodtype: decode model: %w", err)
	}
	*m = Model{learner: j.Learner, cfg: j.Config.WithDefaults(), units: map[string]bool{}, props: map[string]bool{}, types: make(map[string]*Type, len(j.Types))}
	for _, w := range j.Units {
		m.units[w] = true
	}
	for _, w := range j.Props {
		m.props[w] = true
	}
	for i := range j.Types {
		t := j.Types[i]
		if len(strings.Fields(t.Name)) == 0 {
			return fmt.Errorf("prodtype: decode model: a type without a name")
		}
		m.types[t.Name] = &t
	}
	m.index()
	return nil
}
