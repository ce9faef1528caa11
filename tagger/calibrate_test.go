package tagger

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// A prototype admits a SKU at or above its own threshold, or below it but at or above the
// background floor when the SKU's product type is one the prototype names and whose SKUs
// mostly reach the floor; each prototype has its own rule.
func TestPrototypeRules(t *testing.T) {
	toner := []float32{1, 0}
	paper := []float32{0, 1}
	cal := Calibration{Prototypes: []Calibration{
		{Threshold: 0.8, ZFloor: 0.5, Types: []string{"toner cartridge"}},
		{Threshold: 0.6, ZFloor: 0.3},
	}}
	raw, err := json.Marshal(cal)
	require.NoError(t, err)
	m := Model{Vectors: [][]float32{toner, paper}, Threshold: 0.6, Calibration: raw}
	rules := m.rules()
	require.Len(t, rules, 2)

	at, why := protoMatch([]float32{0.85, 0.1}, "printer", m.Vectors, rules)
	require.Equal(t, 0, at, "above the toner prototype's threshold, whatever its type")
	require.Contains(t, why, "at or above its calibrated threshold 0.800")
	at, why = protoMatch([]float32{0.6, 0.1}, "toner cartridge", m.Vectors, rules)
	require.Equal(t, 0, at, "a toner cartridge reaching the floor")
	require.Contains(t, why, `type "toner cartridge"`)
	at, _ = protoMatch([]float32{0.6, 0.1}, "printer", m.Vectors, rules)
	require.Equal(t, -1, at, "a printer as similar is not a toner cartridge")
	at, _ = protoMatch([]float32{0.1, 0.65}, "", m.Vectors, rules)
	require.Equal(t, 1, at, "the paper prototype's own, lower threshold")
	at, _ = protoMatch([]float32{0.4, 0.1}, "toner cartridge", m.Vectors, rules)
	require.Equal(t, -1, at, "below the floor")

	// A prototype that names a type keeps other kinds out, but those lying as near it as its
	// own (Others); SKUs without a type join by similarity.
	cal.Prototypes[0].KindsOnly, cal.Prototypes[0].Others = true, []string{"toner"}
	raw, err = json.Marshal(cal)
	require.NoError(t, err)
	m.Calibration = raw
	rules = m.rules()
	at, _ = protoMatch([]float32{0.85, 0.1}, "printer", m.Vectors, rules)
	require.Equal(t, -1, at, "another kind than the toner cartridge it names")
	at, _ = protoMatch([]float32{0.85, 0.1}, "toner", m.Vectors, rules)
	require.Equal(t, 0, at, "a kind as near as its own")
	at, _ = protoMatch([]float32{0.85, 0.1}, "", m.Vectors, rules)
	require.Equal(t, 0, at, "no type: by similarity")
	at, _ = protoMatch([]float32{0.6, 0.1}, "toner cartridge", m.Vectors, rules)
	require.Equal(t, 0, at)

	// A type the description names exactly joins from the background mean up.
	cal.Prototypes[0].ExactTypes, cal.Prototypes[0].ExactFloor = []string{"toner cartridge"}, 0.3
	raw, err = json.Marshal(cal)
	require.NoError(t, err)
	m.Calibration = raw
	rules = m.rules()
	at, why = protoMatch([]float32{0.35, 0.1}, "toner cartridge", m.Vectors, rules)
	require.Equal(t, 0, at)
	require.Contains(t, why, "background mean 0.300")
	at, _ = protoMatch([]float32{0.35, 0.1}, "toner", m.Vectors, rules)
	require.Equal(t, -1, at, "not the type it names exactly")

	// A model calibrated before the per-prototype rules: one threshold for all.
	old := Model{Vectors: [][]float32{toner, paper}, Threshold: 0.7, Calibration: json.RawMessage(`{"threshold": 0.7}`)}
	at, _ = protoMatch([]float32{0.6, 0.1}, "toner cartridge", old.Vectors, old.rules())
	require.Equal(t, -1, at)
	at, _ = protoMatch([]float32{0.1, 0.75}, "", old.Vectors, old.rules())
	require.Equal(t, 1, at)
}

// A description names the types whose every word it holds before its first "for".
func TestDescriptionNamesTypes(t *testing.T) {
	tg := &Tagger{}
	d := &Definition{Descriptions: []string{"photo paper for printers", "Toner cartridges", "a headset with a microphone"}}
	named := tg.namedBy(d, 0)
	require.True(t, named("photo paper"))
	require.False(t, named("printer"), "what follows for is what it serves")
	require.False(t, named("paper shredder"))
	require.True(t, tg.namedBy(d, 1)("toner cartridge"), "plurals and case")
	require.True(t, tg.namedBy(d, 2)("headphones/headset"), "one alternative of the head suffices")
	require.False(t, tg.namedBy(d, 2)("microphone stand"))
	require.Equal(t, "battery", singular("batteries"))
	require.Equal(t, "box", singular("boxes"))
	require.Equal(t, "glass", singular("glass"))
	exact := tg.exactlyNamedBy(&Definition{Descriptions: []string{"photo paper for printers"}}, 0)
	require.True(t, exact("photo paper"))
	require.False(t, exact("paper"), "broader than it")
	require.False(t, tg.exactlyNamedBy(&Definition{Descriptions: []string{"ethernet adapter"}}, 0)("adapter"))
	require.False(t, tg.exactlyNamedBy(d, 2)("headphones/headset"), "a headset with a microphone: more than a headset")

	// A weak type (its members lie far apart) is named by no description.
	eth := &Definition{Descriptions: []string{"ethernet adapter"}}
	withStore := &Tagger{store: &Store{}}
	require.True(t, withStore.namedBy(eth, 0)("adapter"))
	withStore.store.types.weak = map[string]bool{"adapter": true}
	require.False(t, withStore.namedBy(eth, 0)("adapter"))
	require.True(t, withStore.namedBy(d, 1)("toner cartridge"))
}

// The poll retags changed SKUs with the same rules as the calibration: a new toner cartridge
// below the threshold but above its type's floor joins; when its text changes and it becomes a
// printer, it leaves.
func TestPrototypeBitsFollowTypes(t *testing.T) {
	cal := Calibration{Prototypes: []Calibration{{Threshold: 0.8, ZFloor: 0.7, TypeFloor: 0.5, Types: []string{"toner cartridge"}}}}
	raw, err := json.Marshal(cal)
	require.NoError(t, err)
	m := Model{Vectors: [][]float32{{1, 0}}, Threshold: 0.8, Calibration: raw}
	vecs := map[int64][]float32{1: {0.6, 0.8}, 2: {0.9, 0.43}, 3: {0.3, 0.95}}
	types := map[int64]string{1: "toner cartridge", 2: "printer", 3: "toner cartridge"}
	add, drop := prototypeBits(m, nil, []int64{1, 2, 3}, vecs, func(o int64) string { return types[o] })
	require.Equal(t, []uint64{1, 2}, add, "1 by its type and floor, 2 by the threshold")
	require.Equal(t, []uint64{3}, drop, "below its type's floor")
	types[1] = "printer"
	add, drop = prototypeBits(m, nil, []int64{1}, vecs, func(o int64) string { return types[o] })
	require.Empty(t, add)
	require.Equal(t, []uint64{1}, drop)
}
