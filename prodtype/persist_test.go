package prodtype_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/prodtype"
)

// A stored model classifies every product as the learned one does, with the same types and
// relations.
func TestModelJSONRoundTrip(t *testing.T) {
	docs := icecatDocs(t)
	m := prodtype.Learn(docs, prodtype.Config{})
	b, err := json.Marshal(m)
	require.NoError(t, err)
	var back prodtype.Model
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, m.Types(), back.Types())
	for _, d := range docs {
		require.Equal(t, m.Classify(d), back.Classify(d), d.Title)
	}
	require.Equal(t, m.IsUnit("cm"), back.IsUnit("cm"))
	b2, err := json.Marshal(&back)
	require.NoError(t, err)
	require.JSONEq(t, string(b), string(b2))
}

func FuzzModelJSON(f *testing.F) {
	m := prodtype.Learn([]prodtype.Doc{
		{Title: "HP GW405AA mouse USB", Brand: "HP", Price: 1500},
		{Title: "Logitech M100 mouse USB", Brand: "Logitech", Price: 1200},
		{Title: "Dell MS116 mouse Black", Brand: "Dell", Colour: "Black"},
		{Title: "Targus TBT050EU notebook case 40.6 cm (16\") Backpack Black", Brand: "Targus", Price: 3000},
	}, prodtype.Config{})
	seed, err := json.Marshal(m)
	require.NoError(f, err)
	f.Add(seed)
	f.Add([]byte(`{"types":[{"name":""}]}`))
	f.Add([]byte(`{"types":[{"name":" "}]}`))
	f.Add([]byte(`{"units":["cm"],"types":[{"name":"mouse","head":"mouse"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m prodtype.Model
		if json.Unmarshal(b, &m) != nil {
			return
		}
		out, err := json.Marshal(&m)
		require.NoError(t, err)
		var again prodtype.Model
		require.NoError(t, json.Unmarshal(out, &again))
		require.Equal(t, m.Types(), again.Types())
		_ = m.Classify(prodtype.Doc{Title: "HP X mouse USB cable", Brand: "HP"})
	})
}

// A stored model keeps the version of the learner that learned it; a model stored before
// versions reads as 0, so the tagger learns it again.
func TestLearnerVersionPersists(t *testing.T) {
	m := prodtype.Learn(smallCatalogue(), prodtype.Config{})
	b, err := json.Marshal(m)
	require.NoError(t, err)
	var back prodtype.Model
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, prodtype.LearnerVersion, back.Learner())
	var old prodtype.Model
	require.NoError(t, json.Unmarshal([]byte(`{"config":{},"units":[],"properties":[],"types":[{"name":"mouse","head":"mouse","count":3,"kind":"product"}]}`), &old))
	require.Equal(t, 0, old.Learner())
}
