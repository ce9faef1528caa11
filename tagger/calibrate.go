package tagger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/lexical"
)

// Calibration is how a prototype tag's threshold was chosen, kept in tag_models.calibration.
type Calibration struct {
	Method string `json:"method"`
	// Background: similarity of the prototypes to a random sample of SKUs.
	SampleSize int     `json:"sample_size"`
	Mean       float64 `json:"background_mean"`
	Std        float64 `json:"background_std"`
	Z          float64 `json:"z"`
	ZFloor     float64 `json:"z_floor"`
	// Knee: where the sorted similarities of the closest SKUs bend.
	Considered int     `json:"considered"`
	KneeRank   int     `json:"knee_rank"`
	KneeScore  float64 `json:"knee_score"`
	Threshold  float64 `json:"threshold"`
	Members    int     `json:"members"`
	// Types are the product types the prototype names that hold at least 3 SKUs at or above
	// the threshold and half of whose SKUs reach TypeFloor: their SKUs join when they reach it,
	// so the tag follows the kind's real extent rather than the knee of the closest few
	// hundred.
	Types []string `json:"types,omitempty"`
	// TypeFloor is the similarity the SKUs of those types need: the background mean plus
	// typeZ standard deviations.
	TypeFloor float64 `json:"type_floor,omitempty"`
	// ExactTypes are those of Types that the description names exactly (it holds no word of
	// another type's name that theirs lacks: "toner cartridge" for "toner cartridge", not
	// "cartridge"; "adapter" is not exact for "ethernet adapter"): their SKUs, whose own text
	// names what the description names, join when they are nearer the prototype than the
	// background mean (ExactFloor), at least half of them being so.
	ExactTypes []string `json:"exact_types,omitempty"`
	ExactFloor float64  `json:"exact_floor,omitempty"`
	// Others: when the prototype names types (Types), the other product types at least half of
	// whose SKUs reach the threshold; a SKU of any other type (another kind than the one named:
	// earphones for "a headset with a microphone", pod machines for "a drip coffee maker")
	// does not join however near it lies. SKUs without a type join by similarity alone.
	// KindsOnly marks a calibration that applies Others (those made before it admit any type).
	Others    []string `json:"others,omitempty"`
	KindsOnly bool     `json:"kinds_only,omitempty"`
	// Prototypes holds each prototype's own calibration (a tag's descriptions name different
	// kinds, whose similarities differ: "toner cartridge" and "photo paper for printers");
	// the tag's Threshold is then the lowest of theirs.
	Prototypes []Calibration `json:"prototypes,omitempty"`
}

// protoRule is one prototype's membership rule, from its calibration.
type protoRule struct {
	threshold, floor float64
	types            map[string]bool
	exact            map[string]bool
	exactFloor       float64
	// others: with types named, the other types whose SKUs may join (nil: any).
	others map[string]bool
}

// rules returns a model's membership rules, one per prototype: from the per-prototype
// calibration when the model has it, else the tag's one threshold for every prototype.
func (m Model) rules() []protoRule {
	var c Calibration
	if len(m.Calibration) > 0 {
		_ = json.Unmarshal(m.Calibration, &c) // an unreadable calibration leaves the threshold
	}
	out := make([]protoRule, len(m.Vectors))
	for i := range out {
		out[i] = protoRule{threshold: float64(m.Threshold), floor: math.Inf(1)}
		if len(c.Prototypes) == len(m.Vectors) {
			pc := c.Prototypes[i]
			floor := pc.TypeFloor
			if floor == 0 {
				floor = pc.ZFloor
			}
			out[i] = protoRule{threshold: pc.Threshold, floor: floor, types: map[string]bool{}, exact: map[string]bool{}, exactFloor: pc.ExactFloor}
			for _, ty := range pc.Types {
				out[i].types[ty] = true
			}
			for _, ty := range pc.ExactTypes {
				out[i].exact[ty] = true
			}
			if len(pc.Types) > 0 && pc.KindsOnly {
				out[i].others = map[string]bool{}
				for _, ty := range pc.Others {
					out[i].others[ty] = true
				}
			}
		}
	}
	return out
}

// protoMatch returns the first prototype whose rule admits a SKU (its vector and product
// type), and why; -1 when none does.
func protoMatch(v []float32, typ string, protos [][]float32, rules []protoRule) (int, string) {
	for i, p := range protos {
		if len(p) != len(v) || i >= len(rules) {
			continue
		}
		s, r := dot(v, p), rules[i]
		switch {
		case s >= r.threshold && typ != "" && !r.types[typ] && r.others != nil && !r.others[typ]:
			continue // another kind than the types it names
		case s >= r.threshold:
			return i, fmt.Sprintf("similarity %.3f is at or above its calibrated threshold %.3f", s, r.threshold)
		case r.exact[typ] && s >= r.exactFloor && s < r.floor:
			return i, fmt.Sprintf("similarity %.3f is below its threshold %.3f but at or above the background mean %.3f, and its type %q is the one the prototype names, most of whose SKUs are that near", s, r.threshold, r.exactFloor, typ)
		case r.types[typ] && s >= r.floor:
			return i, fmt.Sprintf("similarity %.3f is below its threshold %.3f but at or above %.3f, and its type %q is one the prototype names whose SKUs mostly reach that", s, r.threshold, r.floor, typ)
		}
	}
	return -1, ""
}

// typeZ is how many background standard deviations above the background mean the SKUs of a
// prototype's types need (Calibration.TypeFloor): one, since the type already says what they
// are; the similarity only keeps out the SKUs the type holds by mistake.
const typeZ = 1.0

// typeShare is the share of a product type's SKUs that must reach a prototype tag's threshold
// for the type to be the tag's (Calibration.Types).
const typeShare = 0.5

// calibrationZ is the background z-score a member must reach: two standard deviations (about
// 2.3% of random SKUs under a normal background). Measured on Icecat: the USE-Lite similarity
// of a description to the products has a mean of 0.27-0.45 and a standard deviation of
// 0.07-0.11, and the products of the described type sit only 2.3-3 standard deviations up
// (Processor, Desktop Board), so a 3-sd floor left those tags empty; the knee of the score
// curve above the floor then decides (see evals/tagging_test.go).
const calibrationZ = 2.0

// calibrationSample is how many random SKUs estimate the background similarity distribution
// (its mean and standard deviation to within ~2-3%).
const calibrationSample = 2000

// calibrate picks the threshold for scores (the best similarity of every candidate SKU to the
// prototypes) given the background sample: the knee of the sorted top scores (the point
// farthest below the chord from the best score to the score at the edge of the considered
// range, Kneedle), but never below the background mean + 2 standard deviations.
func calibrate(scores []float64, background []float64, nLive int) Calibration {
	c := Calibration{Method: "knee+zfloor", Z: calibrationZ, SampleSize: len(background)}
	var sum, sq float64
	for _, s := range background {
		sum += s
	}
	if len(background) > 0 {
		c.Mean = sum / float64(len(background))
		for _, s := range background {
			sq += (s - c.Mean) * (s - c.Mean)
		}
		c.Std = math.Sqrt(sq / float64(max(1, len(background)-1)))
	}
	c.ZFloor = c.Mean + calibrationZ*c.Std
	sorted := slices.Clone(scores)
	slices.SortFunc(sorted, func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	// Consider the SKUs above the background floor, at most 10% of the catalogue.
	m := 0
	for m < len(sorted) && sorted[m] >= c.ZFloor {
		m++
	}
	if limit := max(10, nLive/10); m > limit {
		m = limit
	}
	c.Considered = m
	c.Threshold = c.ZFloor
	if m >= 3 {
		first, last := sorted[0], sorted[m-1]
		best, at := -1.0, -1
		for i := 0; i < m; i++ {
			// distance below the chord from (0, first) to (m-1, last), in normalised units
			x := float64(i) / float64(m-1)
			chord := first + (last-first)*x
			d := 0.0
			if first > last {
				d = (chord - sorted[i]) / (first - last)
			}
			if d > best {
				best, at = d, i
			}
		}
		if at >= 0 && best > 0 {
			c.KneeRank, c.KneeScore = at, sorted[at]
			if c.KneeScore > c.Threshold {
				c.Threshold = c.KneeScore
			}
		}
	}
	for _, s := range scores {
		if s >= c.Threshold {
			c.Members++
		}
	}
	return c
}

// prototypeVectors embeds the descriptions and takes the examples' vectors.
func (t *Tagger) prototypeVectors(ctx context.Context, d *Definition) ([][]float32, []string, error) {
	var out [][]float32
	var labels []string
	for _, s := range d.Descriptions {
		if t.embedder == nil {
			return nil, nil, errors.New("prototype descriptions need an embedder")
		}
		v, err := t.embedder.EmbedQuery(ctx, s)
		if err != nil {
			return nil, nil, fmt.Errorf("embed %q: %w", s, err)
		}
		out = append(out, normalize(v))
		labels = append(labels, fmt.Sprintf("description %q", s))
	}
	for _, id := range d.Examples {
		o, ok := t.ix.Ordinal(id)
		if !ok {
			return nil, nil, fmt.Errorf("example SKU %d: %w", id, ErrNotFound)
		}
		v, ok := t.vectors.Vector(o)
		if !ok {
			return nil, nil, fmt.Errorf("example SKU %d has no vector yet", id)
		}
		out = append(out, normalize(v))
		labels = append(labels, fmt.Sprintf("example SKU %d", id))
	}
	return out, labels, nil
}

// prototypeMembers calibrates a prototype tag against the catalogue and returns its members.
func (t *Tagger) prototypeMembers(ctx context.Context, tg *TagDef) (*roaring64.Bitmap, Calibration, error) {
	protos, _, err := t.prototypeVectors(ctx, &tg.Definition)
	if err != nil {
		return nil, Calibration{}, err
	}
	live := t.vectorOrdinals()
	scope, err := t.scope(tg.Definition.Scope)
	if err != nil {
		return nil, Calibration{}, err
	}
	// Each prototype is calibrated on its own: its similarity to every SKU, a random
	// background sample, the knee, and the types whose SKUs mostly reach the floor.
	ords := live.ToArray()
	vecs := make([][]float32, 0, len(ords))
	scored := make([]uint64, 0, len(ords))
	types := make([]string, 0, len(ords)) // each scored SKU's product type, read once
	for _, o := range ords {
		if v, ok := t.vectors.Vector(int64(o)); ok {
			vecs = append(vecs, v)
			scored = append(scored, o)
			types = append(types, t.ix.TypeOf(int64(o)))
		}
	}
	rng := rand.New(rand.NewPCG(uint64(tg.ID), 0x7a66))
	var sample []int
	if len(scored) > calibrationSample {
		sample = rng.Perm(len(scored))[:calibrationSample]
	}
	cal := Calibration{Method: "knee+zfloor per prototype, types reaching the floor", Z: calibrationZ, Threshold: math.Inf(1)}
	scores := make([]float64, len(scored))
	for pi, p := range protos {
		for i, v := range vecs {
			scores[i] = dot(v, p)
		}
		background := scores
		if sample != nil {
			background = make([]float64, len(sample))
			for j, i := range sample {
				background[j] = scores[i]
			}
		}
		pc := calibrate(scores, background, len(scores))
		pc.TypeFloor = pc.Mean + typeZ*pc.Std
		pc.Types = tagTypes(types, scores, pc.Threshold, pc.TypeFloor, t.namedBy(&tg.Definition, pi))
		pc.ExactFloor = pc.Mean
		pc.ExactTypes = tagTypes(types, scores, pc.Threshold, pc.ExactFloor, t.exactlyNamedBy(&tg.Definition, pi))
		for _, ty := range pc.ExactTypes {
			if !slices.Contains(pc.Types, ty) {
				pc.Types = append(pc.Types, ty)
			}
		}
		slices.Sort(pc.Types)
		if len(pc.Types) > 0 {
			pc.Others, pc.KindsOnly = otherKin(types, scores, pc.Threshold, pc.Types, t.servedBy(&tg.Definition, pi)), true
		}
		cal.Prototypes = append(cal.Prototypes, pc)
		cal.Threshold = math.Min(cal.Threshold, pc.Threshold)
		cal.SampleSize = pc.SampleSize
	}
	if len(protos) == 0 {
		cal.Threshold = 0
	}
	members := roaring64.New()
	rules := Model{Vectors: protos}.withRules(cal).rules()
	for i, o := range scored {
		if at, _ := protoMatch(vecs[i], types[i], protos, rules); at >= 0 && (scope == nil || scope.Contains(o)) {
			members.Add(o)
		}
	}
	cal.Members = int(members.GetCardinality())
	calJSON, _ := json.Marshal(cal)
	model := Model{TagID: tg.ID, Model: t.embedderName(), Vectors: protos, Threshold: float32(cal.Threshold), Calibration: calJSON}
	if err := t.store.SaveModel(ctx, model); err != nil {
		return nil, cal, err
	}
	if t.models == nil {
		t.models = map[int64]Model{}
	}
	t.models[tg.ID] = model
	return members, cal, nil
}

func (t *Tagger) embedderName() string {
	if t.embedder == nil {
		return ""
	}
	return t.embedder.Name()
}

// tagTypes returns the product types a prototype names (named) that hold at least 3 SKUs at
// or above the threshold and at least typeShare of whose SKUs reach the floor, sorted; types
// and scores are the SKUs' product types and similarities, index for index.
func tagTypes(types []string, scores []float64, threshold, floor float64, named func(string) bool) []string {
	above, reach, all := map[string]int{}, map[string]int{}, map[string]int{}
	for i, ty := range types {
		if ty == "" {
			continue
		}
		all[ty]++
		if scores[i] >= threshold {
			above[ty]++
		}
		if scores[i] >= floor {
			reach[ty]++
		}
	}
	var out []string
	for ty, n := range above {
		if n >= 3 && float64(reach[ty]) >= typeShare*float64(all[ty]) && named(ty) {
			out = append(out, ty)
		}
	}
	slices.Sort(out)
	return out
}

// otherKin returns the product types other than the named ones (and than those it serves)
// whose SKUs lie as near the prototype as the named types' own: at least 3 of them at or above
// the threshold, and their median similarity at least the named types' median ("desktop board"
// beside the named "motherboard"; not "headphones" beside "headset"), sorted.
func otherKin(types []string, scores []float64, threshold float64, named []string, served func(string) bool) []string {
	byType := map[string][]float64{}
	var own []float64
	for i, ty := range types {
		switch {
		case ty == "" || served(ty):
		case slices.Contains(named, ty):
			own = append(own, scores[i])
		default:
			byType[ty] = append(byType[ty], scores[i])
		}
	}
	if len(own) == 0 {
		return nil
	}
	slices.Sort(own)
	med := own[len(own)/2]
	var out []string
	for ty, ss := range byType {
		above := 0
		for _, s := range ss {
			if s >= threshold {
				above++
			}
		}
		if above < 3 {
			continue
		}
		slices.Sort(ss)
		if ss[len(ss)/2] >= med {
			out = append(out, ty)
		}
	}
	slices.Sort(out)
	return out
}

// withRules returns the model with a calibration attached (for its rules).
func (m Model) withRules(c Calibration) Model {
	m.Calibration, _ = json.Marshal(c)
	return m
}

// namedBy returns whether a product type is named by prototype i of d: a description names
// the types whose every word it holds before its first "for" ("photo paper for printers"
// names photo paper, not printers; "a headset with a microphone" names headset); an example
// SKU names its own type. A weak type (types.go) is named by no description: a prototype
// would take all of it.
func (t *Tagger) namedBy(d *Definition, i int) func(string) bool {
	if i >= len(d.Descriptions) {
		typ := ""
		if j := i - len(d.Descriptions); j < len(d.Examples) {
			if o, ok := t.ix.Ordinal(d.Examples[j]); ok {
				typ = t.ix.TypeOf(o)
			}
		}
		return func(ty string) bool { return ty != "" && ty == typ }
	}
	words, _ := descWords(d.Descriptions[i])
	var weak map[string]bool
	if t.store != nil {
		t.store.types.mu.RLock()
		weak = t.store.types.weak
		t.store.types.mu.RUnlock()
	}
	return func(ty string) bool {
		if weak[ty] {
			// Its members lie far apart: "ethernet adapter" names the "adapter" type, most of
			// whose SKUs are video and serial adapters.
			return false
		}
		for _, alt := range strings.Split(ty, "/") {
			all := alt != ""
			for _, w := range strings.Fields(alt) {
				all = all && words[singular(w)]
			}
			if all {
				return true
			}
		}
		return false
	}
}

// exactlyNamedBy returns whether prototype i of d names a product type exactly: the type's
// name holds every term of the description before its first "for" ("toner cartridge", "photo
// paper for printers"; not "adapter" for "ethernet adapter", nor "headset" for "a headset with
// a microphone").
func (t *Tagger) exactlyNamedBy(d *Definition, i int) func(string) bool {
	named := t.namedBy(d, i)
	if i >= len(d.Descriptions) {
		return named // an example names its own type exactly
	}
	desc := strings.ToLower(d.Descriptions[i])
	if at := strings.Index(" "+desc+" ", " for "); at >= 0 {
		desc = desc[:max(at-1, 0)]
	}
	terms := lexical.Analyze(desc)
	return func(ty string) bool {
		if !named(ty) || len(terms) == 0 {
			return false
		}
		own := map[string]bool{}
		for _, w := range lexical.Analyze(strings.ReplaceAll(ty, "/", " ")) {
			own[w] = true
		}
		for _, w := range terms {
			if !own[w] {
				return false
			}
		}
		return true
	}
}

// descWords splits a description at its first "for" into the words before (what it is) and
// after (what it serves), singular, lower case.
func descWords(desc string) (is, serves map[string]bool) {
	is, serves = map[string]bool{}, map[string]bool{}
	cur, seenFor := is, false
	for _, w := range strings.FieldsFunc(strings.ToLower(desc), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-'
	}) {
		if w == "for" && !seenFor {
			cur, seenFor = serves, true
			continue
		}
		cur[singular(w)] = true
	}
	return is, serves
}

// servedBy returns whether a product type is what prototype i of d serves: a type whose head
// (its last word) is a word after the description's first "for" ("photo paper for printers":
// printer, inkjet printer, photo printer). Such a type is never another kind the tag admits.
func (t *Tagger) servedBy(d *Definition, i int) func(string) bool {
	if i >= len(d.Descriptions) {
		return func(string) bool { return false }
	}
	_, serves := descWords(d.Descriptions[i])
	return func(ty string) bool {
		for _, alt := range strings.Split(ty, "/") {
			if ws := strings.Fields(alt); len(ws) > 0 && serves[singular(ws[len(ws)-1])] {
				return true
			}
		}
		return false
	}
}

// singular trims an English plural's ending ("cartridges", "batteries", "boxes").
func singular(w string) string {
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "ses") || strings.HasSuffix(w, "xes") || strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "shes"):
		return strings.TrimSuffix(w, "es")
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && len(w) > 3:
		return w[:len(w)-1]
	}
	return w
}
