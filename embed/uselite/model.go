package uselite

import (
	"fmt"
	"math"
	"time"

	"selection/internal/cpukernel"
)

// Graph names of the weights and constants, as they appear in model.json.
const (
	encodePrefix = "module_apply_default/Encoder_en/KonaTransformer/Encode/"
	stackPrefix  = encodePrefix + "TransformerStack/"
	varPrefix    = "module/Encoder_en/KonaTransformer/Encode/"
)

// Sizes of the network (checked against the weight shapes at load time).
const (
	embedDim   = 256  // token table width and layer-0 input width
	hiddenDim  = 512  // residual stream width after layer 0
	ffnDim     = 1536 // feed-forward inner width
	numHeads   = 4
	vocabRows  = 8002 // rows of the token table (8,000 pieces + 2 unused)
	timingHalf = embedDim / 2
)

// linear is a dense layer y = x·W + b with W stored [in][out] row-major as
// in the graph, plus whatever layout the matrix backend packed it into.
type linear struct {
	in, out int
	w       []float32
	b       []float32
	packed  []float32
}

type layerNorm struct {
	scale, bias []float32
}

// attnLayer is one Kona transformer layer.
type attnLayer struct {
	width    int // input width (256 for layer 0, 512 for layer 1)
	headDim  int
	qScale   float32 // multiplies q before q·kᵀ (1/sqrt(headDim))
	ln1, ln2 layerNorm
	qkv      *linear // width -> 3*width
	// out is the attention output transform. For layer 0 it is fused with
	// the AdjustResidualInput dense layer: its input is [attention | x0]
	// (256+256 wide), its weight [W_out; W_dense] and its bias the sum.
	out  *linear
	ffn1 *linear // 512 -> 1536, ReLU
	ffn2 *linear // 1536 -> 512
}

// Model is the loaded Universal Sentence Encoder Lite: tokenizer, weights
// and the matrix backend. It is immutable and safe for concurrent use; the
// per-call buffers live in a scratch taken from a pool by the Encoder.
type Model struct {
	tok       *Tokenizer
	embedding []float32 // vocabRows x embedDim
	invTime   []float32 // timingHalf inverse timescales
	timing    []float32 // MaxTokens x embedDim: sin(pos·inv) | cos(pos·inv)
	layers    [2]attnLayer
	tanh      *linear
	eps       float32 // layer-norm epsilon (1e-6)
	l2eps     float32 // l2_normalize floor on the squared norm (1e-12)
	maskBias  float32
	maxTokens int
	backend   backend
	kernel    cpukernel.Path
	loadTime  time.Duration
}

// Tokenizer returns the model's tokenizer.
func (m *Model) Tokenizer() *Tokenizer { return m.tok }

// Backend names the matrix kernels in use: "avx512-archsimd", "avx2-archsimd" or "gonum".
func (m *Model) Backend() string { return m.backend.name() }

// LoadTime is how long Load took.
func (m *Model) LoadTime() time.Duration { return m.loadTime }

// Load reads the model from dir (DefaultModelDir when dir is empty) with the fastest kernels
// this machine supports. A missing or damaged directory gives an error naming the directory
// and the setup command (`make setup`).
func Load(dir string) (*Model, error) { return LoadKernel(dir, string(cpukernel.Auto)) }

// LoadKernel is Load with the kernels chosen by kernel: "auto" (or "") for the fastest this
// build and CPU support, or "avx512", "avx2" or "portable" to force a path; a path the build
// or the CPU lacks is an error wrapping cpukernel.ErrUnsupported.
func LoadKernel(dir, kernel string) (*Model, error) {
	p, err := cpukernel.Resolve(kernel)
	if err != nil {
		return nil, fmt.Errorf("uselite: %w", err)
	}
	m, err := loadWith(dir, newBackend(p))
	if err != nil {
		return nil, err
	}
	m.kernel = p
	return m, nil
}

// Kernel is the kernel path the model runs on: "avx512", "avx2" or "portable".
func (m *Model) Kernel() string { return string(m.kernel) }

func loadWith(dir string, be backend) (*Model, error) {
	start := time.Now()
	if dir == "" {
		dir = DefaultModelDir
	}
	raw, err := readModelDir(dir)
	if err != nil {
		return nil, err
	}
	m, err := build(raw, be)
	if err != nil {
		return nil, fmt.Errorf("uselite: model dir %s is not the expected USE Lite 0.2.0 model: %w; %s", dir, err, setupHint(dir))
	}
	m.loadTime = time.Since(start)
	return m, nil
}

func build(raw *rawModel, be backend) (*Model, error) {
	m := &Model{backend: be}
	var err error
	if m.tok, err = newTokenizer(raw.vocab); err != nil {
		return nil, err
	}
	if m.embedding, err = raw.f32("module/Embeddings_en", vocabRows, embedDim); err != nil {
		return nil, err
	}
	if m.tok.VocabSize() > vocabRows {
		return nil, fmt.Errorf("vocabulary has %d pieces but the token table %d rows", m.tok.VocabSize(), vocabRows)
	}
	if m.invTime, err = raw.f32(stackPrefix+"Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1", 1, timingHalf); err != nil {
		return nil, err
	}
	// The timing signal depends only on the position (< MaxTokens), so it is
	// computed once: position·inv_timescale in float32 as in the graph,
	// then sin for the first 128 dimensions and cos for the next 128.
	m.timing = make([]float32, MaxTokens*embedDim)
	for p := 0; p < MaxTokens; p++ {
		row := m.timing[p*embedDim:][:embedDim]
		for j, inv := range m.invTime {
			t := float64(float32(p) * inv)
			row[j] = float32(math.Sin(t))
			row[j+timingHalf] = float32(math.Cos(t))
		}
	}
	if m.eps, err = raw.scalarF32(stackPrefix + "Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x"); err != nil {
		return nil, err
	}
	if m.maskBias, err = raw.scalarF32(stackPrefix + "Layer_1/TransformerLayer/MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/mul/y"); err != nil {
		return nil, err
	}
	if m.l2eps, err = raw.scalarF32("module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y"); err != nil {
		return nil, err
	}
	maxLen, err := raw.i32("module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y")
	if err != nil {
		return nil, err
	}
	if len(maxLen) != 1 || maxLen[0] != MaxTokens {
		return nil, fmt.Errorf("ClipToMaxLength is %v, want %d", maxLen, MaxTokens)
	}
	m.maxTokens = MaxTokens
	heads, err := raw.i32(stackPrefix + "Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2")
	if err != nil {
		return nil, err
	}
	if len(heads) != 1 || heads[0] != numHeads {
		return nil, fmt.Errorf("graph has %v heads, want %d", heads, numHeads)
	}
	for l := range m.layers {
		if err := m.buildLayer(raw, l); err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
	}
	tw, err := raw.f32("module/Encoder_en/hidden_layers/tanh_layer_0/weights", hiddenDim, hiddenDim)
	if err != nil {
		return nil, err
	}
	tb, err := raw.f32("module/Encoder_en/hidden_layers/tanh_layer_0/bias", hiddenDim)
	if err != nil {
		return nil, err
	}
	m.tanh = m.newLinear(hiddenDim, hiddenDim, tw, tb)
	return m, nil
}

func (m *Model) newLinear(in, out int, w, b []float32) *linear {
	l := &linear{in: in, out: out, w: w, b: b}
	m.backend.pack(l)
	return l
}

// buildLayer reads layer l's weights into m.layers[l], checking the graph's constants (the q/k/v
// split and the head size) against the shapes the encoder assumes.
func (m *Model) buildLayer(raw *rawModel, l int) error {
	L := fmt.Sprintf("Layer_%d/TransformerLayer/", l)
	width := embedDim
	if l == 1 {
		width = hiddenDim
	}
	a := &m.layers[l]
	a.width = width
	var err error
	if a.ln1, err = raw.readLayerNorm(encodePrefix+L, width); err != nil {
		return err
	}
	if a.ln2, err = raw.readLayerNorm(encodePrefix+L+"FFN/", hiddenDim); err != nil {
		return err
	}
	if err := m.buildAttention(raw, L, a); err != nil {
		return err
	}
	if a.out, err = m.attentionOutput(raw, L, l == 0, width); err != nil {
		return err
	}
	f1W, err := raw.f32(stackPrefix+L+"FFN/conv1/Tensordot/Reshape_1", hiddenDim, ffnDim)
	if err != nil {
		return err
	}
	f1B, err := raw.f32(encodePrefix+L+"FFN/conv1/bias/ConcatPartitions/concat", ffnDim)
	if err != nil {
		return err
	}
	f2W, err := raw.f32(stackPrefix+L+"FFN/conv2/Tensordot/Reshape_1", ffnDim, hiddenDim)
	if err != nil {
		return err
	}
	f2B, err := raw.f32(encodePrefix+L+"FFN/conv2/bias/ConcatPartitions/concat", hiddenDim)
	if err != nil {
		return err
	}
	a.ffn1 = m.newLinear(hiddenDim, ffnDim, f1W, f1B)
	a.ffn2 = m.newLinear(ffnDim, hiddenDim, f2W, f2B)
	return nil
}

// readLayerNorm reads the scale and bias of the layer norm under prefix, n wide.
func (r *rawModel) readLayerNorm(prefix string, n int) (layerNorm, error) {
	s, err := r.f32(prefix+"layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", n)
	if err != nil {
		return layerNorm{}, err
	}
	b, err := r.f32(prefix+"layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", n)
	return layerNorm{scale: s, bias: b}, err
}

// buildAttention reads the head size, the q scale and the q/k/v transform of the layer whose
// names start with L (a.width wide).
func (m *Model) buildAttention(raw *rawModel, L string, a *attnLayer) error {
	width := a.width
	split, err := raw.i32(stackPrefix + L + "MultiheadAttention/Const")
	if err != nil {
		return err
	}
	if len(split) != 3 || int(split[0]) != width || int(split[1]) != width || int(split[2]) != width {
		return fmt.Errorf("q/k/v split %v, want three of %d", split, width)
	}
	hd, err := raw.i32(stackPrefix + L + "MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3")
	if err != nil {
		return err
	}
	if len(hd) != 1 || int(hd[0])*numHeads != width {
		return fmt.Errorf("head size %v does not split width %d into %d heads", hd, width, numHeads)
	}
	a.headDim = int(hd[0])
	if a.qScale, err = raw.scalarF32(stackPrefix + L + "MultiheadAttention/mul/y"); err != nil {
		return err
	}
	qkvW, err := raw.f32(varPrefix+L+"MultiheadAttention/qkv_transform_single/kernel/part_0", 1, 1, width, 3*width)
	if err != nil {
		return err
	}
	qkvB, err := raw.f32(encodePrefix+L+"MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat", 3*width)
	if err != nil {
		return err
	}
	a.qkv = m.newLinear(width, 3*width, qkvW, qkvB)
	return nil
}

// attentionOutput reads the attention output transform of the layer whose names start with L;
// for the first layer it is fused with the dense layer that widens the residual.
func (m *Model) attentionOutput(raw *rawModel, L string, first bool, width int) (*linear, error) {
	outW, err := raw.f32(varPrefix+L+"MultiheadAttention/output_transform_single/kernel/part_0", 1, 1, width, hiddenDim)
	if err != nil {
		return nil, err
	}
	outB, err := raw.f32(encodePrefix+L+"MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat", hiddenDim)
	if err != nil {
		return nil, err
	}
	if !first {
		return m.newLinear(width, hiddenDim, outW, outB), nil
	}
	// Layer 0 widens the residual: x1 = attn·W_out + b_out + x0·W_dense + b_dense.
	dW, err := raw.f32(encodePrefix+L+"dense/kernel/ConcatPartitions/concat", embedDim, hiddenDim)
	if err != nil {
		return nil, err
	}
	dB, err := raw.f32(encodePrefix+L+"dense/bias/ConcatPartitions/concat", hiddenDim)
	if err != nil {
		return nil, err
	}
	w := make([]float32, 0, 2*embedDim*hiddenDim)
	w = append(append(w, outW...), dW...)
	b := make([]float32, hiddenDim)
	for i := range b {
		b[i] = outB[i] + dB[i]
	}
	return m.newLinear(2*embedDim, hiddenDim, w, b), nil
}

// FLOPsPerToken is the multiply-add work (2 FLOP each) of the dense
// projections and feed-forward layers for one token: about 9.2 MFLOP.
func FLOPsPerToken() int64 {
	var f int64
	// layer 0: qkv 256x768, fused out+residual 512x512, ffn 512x1536 x2
	f += 2 * (embedDim*3*embedDim + 2*embedDim*hiddenDim + 2*hiddenDim*ffnDim)
	// layer 1: qkv 512x1536, out 512x512, ffn
	f += 2 * (hiddenDim*3*hiddenDim + hiddenDim*hiddenDim + 2*hiddenDim*ffnDim)
	return f
}

// FLOPs is the matrix work of encoding one sentence of n tokens: the
// per-token projections, attention (q·kᵀ and weights·v in both layers) and
// the final 512x512 tanh layer.
func FLOPs(n int) int64 {
	nn := int64(n)
	f := nn * FLOPsPerToken()
	f += 2 * 2 * nn * nn * int64(embedDim+hiddenDim) // attention scores and mixing
	f += 2 * hiddenDim * hiddenDim                   // tanh layer
	return f
}

// scratch is the working memory of one forward pass; buffers grow to the
// largest batch seen and are then reused.
type scratch struct {
	tok    tokScratch
	ids    []int32
	offs   []int
	cat    []float32 // M x 512: layer-0 [attention | x0]
	x      []float32 // M x 512 residual stream
	h      []float32 // M x 512 layer-norm output / attention output
	qkv    []float32 // M x 1536
	f      []float32 // M x 1536 feed-forward hidden
	scores []float32 // one query's attention weights
	kT     []float32 // one head's keys, transposed
	pool   []float32 // B x 512
	out    []float32 // B x 512
	// split runs each matrix product on two goroutines (by column panels): one query's few
	// rows leave a single core waiting on the weights, while a batch's workers keep every core
	// busy already.
	split bool
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// encodeBatch embeds texts into dst (len(texts) rows of Dim floats) and
// returns the number of tokens processed.
func (m *Model) encodeBatch(texts []string, dst [][]float32, s *scratch) int {
	s.ids = s.ids[:0]
	s.offs = append(s.offs[:0], 0)
	for _, t := range texts {
		s.ids = append(s.ids, m.tok.encode(t, &s.tok)...)
		s.offs = append(s.offs, len(s.ids))
	}
	m.forward(s, len(texts))
	for i := range texts {
		copy(dst[i], s.out[i*hiddenDim:(i+1)*hiddenDim])
	}
	return len(s.ids)
}

// forward runs the network over the sentences described by s.ids/s.offs,
// leaving the normalised embeddings in s.out.
func (m *Model) forward(s *scratch, nSent int) {
	M := len(s.ids)
	s.cat = grow(s.cat, M*2*embedDim)
	s.x = grow(s.x, M*hiddenDim)
	s.h = grow(s.h, M*hiddenDim)
	s.qkv = grow(s.qkv, M*3*hiddenDim)
	s.f = grow(s.f, M*ffnDim)
	s.pool = grow(s.pool, nSent*hiddenDim)
	s.out = grow(s.out, nSent*hiddenDim)
	be := m.backend

	if M > 0 {
		// Layer-0 input: the graph adds the scattered embedding to the
		// scattered (embedding + timing signal), i.e. 2·emb + timing. It is
		// kept in the right half of cat, the left half later takes the
		// attention output.
		for si := 0; si < nSent; si++ {
			for p, tok := range s.ids[s.offs[si]:s.offs[si+1]] {
				row := s.cat[(s.offs[si]+p)*2*embedDim+embedDim:][:embedDim]
				e := m.embedding[int(tok)*embedDim:][:embedDim]
				ts := m.timing[p*embedDim:][:embedDim]
				for j := range row {
					row[j] = 2*e[j] + ts[j]
				}
			}
		}
		// ----- layer 0
		l0 := &m.layers[0]
		m.layerNorm(s.h, embedDim, s.cat[embedDim:], 2*embedDim, M, l0.ln1)
		m.matmul(s, M, s.h, embedDim, l0.qkv, s.qkv, 3*embedDim, modeStore)
		m.attention(s, l0, s.cat, 2*embedDim)
		m.matmul(s, M, s.cat, 2*embedDim, l0.out, s.x, hiddenDim, modeStore)
		m.ffn(s, l0, M)
		// ----- layer 1
		l1 := &m.layers[1]
		m.layerNorm(s.h, hiddenDim, s.x, hiddenDim, M, l1.ln1)
		m.matmul(s, M, s.h, hiddenDim, l1.qkv, s.qkv, 3*hiddenDim, modeStore)
		m.attention(s, l1, s.h, hiddenDim)
		m.matmul(s, M, s.h, hiddenDim, l1.out, s.x, hiddenDim, modeAccum)
		m.ffn(s, l1, M)
	}
	// Mean over each sentence's tokens (divided by max(n,1): an empty
	// sentence pools to zeros), then tanh layer and L2 normalisation.
	for si := 0; si < nSent; si++ {
		p := s.pool[si*hiddenDim:][:hiddenDim]
		clear(p)
		a, b := s.offs[si], s.offs[si+1]
		for t := a; t < b; t++ {
			be.axpy(1, s.x[t*hiddenDim:][:hiddenDim], p)
		}
		n := b - a
		if n < 1 {
			n = 1
		}
		inv := 1 / float32(n)
		for j := range p {
			p[j] *= inv
		}
	}
	m.matmul(s, nSent, s.pool, hiddenDim, m.tanh, s.out, hiddenDim, modeStore)
	for si := 0; si < nSent; si++ {
		o := s.out[si*hiddenDim:][:hiddenDim]
		var ss float64
		for j, v := range o {
			t := float32(math.Tanh(float64(v)))
			o[j] = t
			ss += float64(t) * float64(t)
		}
		ss = math.Max(ss, float64(m.l2eps))
		r := float32(1 / math.Sqrt(ss))
		for j := range o {
			o[j] *= r
		}
	}
}

// splitPanel is the column granularity of a split product: a multiple of every packed
// kernel's panel width (32 floats for AVX-512, 16 for AVX2), so each half is whole panels.
const splitPanel = 32

// matmul is the backend's product, on two goroutines when s.split asks for it and the weights
// are packed in panels (each half is a linear over a contiguous run of panels).
func (m *Model) matmul(s *scratch, M int, a []float32, lda int, l *linear, c []float32, ldc int, mode gemmMode) {
	if !s.split || l.packed == nil || l.out < 2*splitPanel || l.out%splitPanel != 0 || M == 0 {
		m.backend.matmul(M, a, lda, l, c, ldc, mode)
		return
	}
	j := l.out / splitPanel / 2 * splitPanel // the first half's columns
	left := &linear{in: l.in, out: j, b: l.b[:j], packed: l.packed[:j*l.in]}
	right := &linear{in: l.in, out: l.out - j, b: l.b[j:], packed: l.packed[j*l.in:]}
	done := make(chan struct{})
	go func() {
		m.backend.matmul(M, a, lda, right, c[j:], ldc, mode)
		close(done)
	}()
	m.backend.matmul(M, a, lda, left, c, ldc, mode)
	<-done
}

func (m *Model) ffn(s *scratch, l *attnLayer, M int) {
	m.layerNorm(s.h, hiddenDim, s.x, hiddenDim, M, l.ln2)
	m.matmul(s, M, s.h, hiddenDim, l.ffn1, s.f, ffnDim, modeRelu)
	m.matmul(s, M, s.f, ffnDim, l.ffn2, s.x, hiddenDim, modeAccum)
}

// layerNorm writes LN(src row) into dst for M rows of width len(ln.scale).
func (m *Model) layerNorm(dst []float32, ldd int, src []float32, lds int, M int, ln layerNorm) {
	n := len(ln.scale)
	for i := 0; i < M; i++ {
		m.backend.layerNorm(dst[i*ldd:][:n], src[i*lds:][:n], ln.scale, ln.bias, m.eps)
	}
}

// attention computes multi-head self-attention for every sentence from
// s.qkv (rows [q | k | v], each l.width wide) into dst (row stride ldd,
// columns [0, width)). Sentences never attend to each other, so no
// padding bias is needed: every key of a sentence is a real token.
func (m *Model) attention(s *scratch, l *attnLayer, dst []float32, ldd int) {
	w := l.width
	ld := 3 * w
	hd := l.headDim
	be := m.backend
	for si := 0; si+1 < len(s.offs); si++ {
		a, b := s.offs[si], s.offs[si+1]
		n := b - a
		if n == 0 {
			continue
		}
		// Keys of one head transposed to [hd][ldk], ldk a multiple of 16
		// with zero padding, so a query's scores are vector operations.
		ldk := (n + 15) &^ 15
		s.kT = grow(s.kT, hd*ldk)
		s.scores = grow(s.scores, ldk)
		row := s.scores[:n]
		for h := 0; h < numHeads; h++ {
			qo, ko, vo := h*hd, w+h*hd, 2*w+h*hd
			clear(s.kT)
			for j := 0; j < n; j++ {
				k := s.qkv[(a+j)*ld+ko:][:hd]
				for d, v := range k {
					s.kT[d*ldk+j] = v
				}
			}
			for i := 0; i < n; i++ {
				q := s.qkv[(a+i)*ld+qo:][:hd]
				be.scores(row, q, s.kT, ldk, l.qScale)
				be.softmax(row)
				o := dst[(a+i)*ldd+h*hd:][:hd]
				clear(o)
				for j, p := range row {
					be.axpy(p, s.qkv[(a+j)*ld+vo:][:hd], o)
				}
			}
		}
	}
}
