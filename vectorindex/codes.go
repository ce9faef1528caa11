package vectorindex

import "sync"

// The 1-bit codes of the binary first pass: each vector's sign pattern around the mean of
// the index, with the correction factor of the RaBitQ estimator.

// encode writes the binary code of the normalised vector v (sign of x = v - mean) for row, and
// the factor |x|^2/|x|_1 that turns q·sign(x) into an estimate of q·x (the RaBitQ estimator:
// x ≈ |x| sign(x)/√d scaled by 1/<x/|x|, sign(x)/√d> = |x|√d/|x|_1).
func (ix *Index) encode(c *chunk, row int, v []float32, mean []float32) {
	w8 := ix.words * 8
	blk := c.codes[(row>>3)*w8:]
	rc := c.rcodes[row*ix.words : (row+1)*ix.words]
	lane := row & 7
	var l1, l2 float32
	mean = mean[:len(v)]
	for w := 0; w < ix.words; w++ {
		var word uint64
		lo := w * 64
		hi := min(lo+64, len(v))
		for i := lo; i < hi; i++ {
			x := v[i] - mean[i]
			l2 += x * x
			if x > 0 {
				word |= 1 << uint(i-lo)
				l1 += x
			} else {
				l1 -= x
			}
		}
		blk[w*8+lane] = word
		rc[w] = word
	}
	if l1 > 0 {
		c.corr[row] = l2 / l1
	} else {
		c.corr[row] = 0
	}
}

// queryCode is the binary code of a normalised query.
func (ix *Index) queryCode(q []float32) []uint64 {
	code := make([]uint64, ix.words)
	ix.codeOf(code, q, ix.mean)
	return code
}

// Recenter recomputes the mean the binary codes are taken around (the sign of v - mean
// splits each dimension near its median instead of at 0, which the first pass needs: raw
// sentence embeddings are far from centred) and re-encodes every vector. Load does this;
// call it after filling an index with Put.
func (ix *Index) Recenter() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.gen.Add(1)
	ix.mean = ix.computeMean(ix.chunks)
	ix.encodeAll(ix.chunks, ix.mean)
	if ix.lists != nil {
		ix.lists.encode(ix, ix.mean)
		ix.lists.recode(ix)
	}
}

// computeMean is the mean of the vectors held in chunks (zero when there are none).
func (ix *Index) computeMean(chunks []*chunk) []float32 {
	d := ix.cfg.Dim
	sum := make([]float64, d)
	var n int
	for _, c := range chunks {
		if c == nil {
			continue
		}
		for r := 0; r < c.rows; r++ {
			if c.present[r>>6]&(1<<(r&63)) == 0 {
				continue
			}
			for i, x := range c.vecs[r*d : (r+1)*d] {
				sum[i] += float64(x)
			}
			n++
		}
	}
	mean := make([]float32, d)
	if n > 0 {
		for i := range mean {
			mean[i] = float32(sum[i] / float64(n))
		}
	}
	return mean
}

// encodeAll re-encodes every vector of chunks around mean, a chunk per worker at a time.
func (ix *Index) encodeAll(chunks []*chunk, mean []float32) {
	d := ix.cfg.Dim
	var wg sync.WaitGroup
	next := make(chan *chunk)
	for w := 0; w < ix.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				for r := 0; r < c.rows; r++ {
					if c.present[r>>6]&(1<<(r&63)) != 0 {
						ix.encode(c, r, c.vecs[r*d:(r+1)*d], mean)
					}
				}
			}
		}()
	}
	for _, c := range chunks {
		if c != nil {
			next <- c
		}
	}
	close(next)
	wg.Wait()
}
