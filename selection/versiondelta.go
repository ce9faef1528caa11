package selection

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Older versions of a pool are stored as reverse deltas: the current version is a full row
// (what the refresher and REST clients read), and when a newer version is written, the one
// before it is rewritten as the edit that turns the newer one back into it. Retention then
// drops the oldest versions without touching any it keeps, since each delta leans on the
// version after it, never on an older one.
//
// A delta is: the format byte; the old ranking as runs copied from the newer ranking (start,
// length) or literal SKU ids; the old scores where they differ from the copied ones; and the
// members the newer version has that the old one lacked, and the reverse (roaring64).
//
// A score that differs is written (format 2) as the exclusive or of its bits with the copied
// score's (0 for a literal), as a varint: relevance scores drift by a unit or two in the last
// place between passes (the lexical statistics move with every title edit), so half a pool's
// scores differ and each takes about a byte rather than 4; when that many differ, their
// positions are a bit mask over the old ranking rather than gaps. Format 1 wrote the 4 bytes
// after each gap; it is still read.

const (
	deltaFormat   = 2
	deltaFormatV1 = 1 // scores as their 4 bytes
)

// errDelta marks a delta that cannot be decoded (a corrupt row).
var errDelta = errors.New("version delta")

// encodeDelta returns old as a reverse delta against newer.
func encodeDelta(old, newer *Version) ([]byte, error) {
	var b []byte
	b = append(b, deltaFormat)
	pos := make(map[int64]int, len(newer.Ranking))
	for i, id := range newer.Ranking {
		pos[id] = i
	}
	b = binary.AppendUvarint(b, uint64(len(old.Ranking)))
	// Runs: copy (len<<1) start, or literal (len<<1|1) ids.
	var lit []int64
	flush := func() {
		if len(lit) > 0 {
			b = binary.AppendUvarint(b, uint64(len(lit))<<1|1)
			for _, id := range lit {
				b = binary.AppendVarint(b, id)
			}
			lit = lit[:0]
		}
	}
	base := make([]int, len(old.Ranking)) // the newer position each old position copies (-1: literal)
	for i := 0; i < len(old.Ranking); {
		p, ok := pos[old.Ranking[i]]
		if !ok {
			lit = append(lit, old.Ranking[i])
			base[i] = -1
			i++
			continue
		}
		flush()
		n := 1
		for i+n < len(old.Ranking) && p+n < len(newer.Ranking) && newer.Ranking[p+n] == old.Ranking[i+n] {
			n++
		}
		b = binary.AppendUvarint(b, uint64(n)<<1)
		b = binary.AppendUvarint(b, uint64(p))
		for k := 0; k < n; k++ {
			base[i+k] = p + k
		}
		i += n
	}
	flush()
	// Scores: present or not, then the positions whose score is not the copied one (gaps or a
	// mask, whichever is smaller), then those scores.
	if len(old.Scores) != 0 && len(old.Scores) != len(old.Ranking) {
		return nil, fmt.Errorf("%w: %d scores for %d SKUs", errDelta, len(old.Scores), len(old.Ranking))
	}
	if len(old.Scores) == 0 {
		b = append(b, scoresNone)
	} else {
		var diff []int
		gapBytes, prev := 0, 0
		for i, s := range old.Scores {
			if base[i] < 0 || base[i] >= len(newer.Scores) || math.Float32bits(newer.Scores[base[i]]) != math.Float32bits(s) {
				gapBytes += uvarintLen(uint64(i - prev))
				diff, prev = append(diff, i), i
			}
		}
		masked := (len(old.Scores)+7)/8 < gapBytes
		if masked {
			// Many differ (drifting relevance scores): their positions as a bit mask.
			b = append(b, scoresMask)
			at := len(b)
			b = append(b, make([]byte, (len(old.Scores)+7)/8)...)
			for _, i := range diff {
				b[at+i/8] |= 1 << (i % 8)
			}
		} else {
			b = append(b, scoresGaps)
			b = binary.AppendUvarint(b, uint64(len(diff)))
		}
		last := 0
		for _, i := range diff {
			if !masked {
				b = binary.AppendUvarint(b, uint64(i-last))
				last = i
			}
			b = binary.AppendUvarint(b, uint64(math.Float32bits(old.Scores[i])^copiedBits(newer, base[i])))
		}
	}
	// Members.
	onlyNew := roaring64.AndNot(newer.Members, old.Members)
	onlyOld := roaring64.AndNot(old.Members, newer.Members)
	for _, bm := range []*roaring64.Bitmap{onlyNew, onlyOld} {
		bm.RunOptimize()
		raw, err := bm.ToBytes()
		if err != nil {
			return nil, fmt.Errorf("%w: members: %v", errDelta, err)
		}
		b = binary.AppendUvarint(b, uint64(len(raw)))
		b = append(b, raw...)
	}
	return b, nil
}

// The scores section's first byte: no scores; the positions whose score differs as a count and
// gaps; or (format 2) as a bit mask over the old ranking.
const (
	scoresNone = 0
	scoresGaps = 1
	scoresMask = 2
)

// uvarintLen is how many bytes binary.AppendUvarint writes for x.
func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// copiedBits is the bits of the score at newer position p (0 when p is none: a literal).
func copiedBits(newer *Version, p int) uint32 {
	if p < 0 || p >= len(newer.Scores) {
		return 0
	}
	return math.Float32bits(newer.Scores[p])
}

// applyDelta rebuilds into v (whose other fields come from its row) the ranking, scores and
// members of the version the delta encodes against newer.
func applyDelta(v, newer *Version, delta []byte) error {
	r := bytes.NewReader(delta)
	bad := func(what string) error {
		return fmt.Errorf("%w: pool %d version %d: %s", errDelta, v.PoolID, v.Version, what)
	}
	format, err := r.ReadByte()
	if err != nil || (format != deltaFormat && format != deltaFormatV1) {
		return bad("unknown format")
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > MaxLimit {
		return bad("length")
	}
	v.Ranking = make(IDs, 0, n)
	base := make([]int, 0, n)
	for uint64(len(v.Ranking)) < n {
		tag, err := binary.ReadUvarint(r)
		if err != nil || tag>>1 == 0 || tag>>1 > n-uint64(len(v.Ranking)) {
			return bad("run")
		}
		k := int(tag >> 1)
		if tag&1 == 1 {
			for j := 0; j < k; j++ {
				id, err := binary.ReadVarint(r)
				if err != nil {
					return bad("literal")
				}
				v.Ranking = append(v.Ranking, id)
				base = append(base, -1)
			}
			continue
		}
		p, err := binary.ReadUvarint(r)
		if err != nil || p+uint64(k) > uint64(len(newer.Ranking)) {
			return bad("copy")
		}
		for j := 0; j < k; j++ {
			v.Ranking = append(v.Ranking, newer.Ranking[int(p)+j])
			base = append(base, int(p)+j)
		}
	}
	has, err := r.ReadByte()
	if err != nil || has > scoresMask || (has == scoresMask && format == deltaFormatV1) {
		return bad("scores")
	}
	v.Scores = nil
	if has != scoresNone {
		v.Scores = make([]float32, len(v.Ranking))
		for i, p := range base {
			if p >= 0 && p < len(newer.Scores) {
				v.Scores[i] = newer.Scores[p]
			}
		}
		// readScore reads the score at position i: its 4 bytes (format 1), or the exclusive
		// or of its bits with the copied score's.
		readScore := func(i int) error {
			if format == deltaFormatV1 {
				var bits [4]byte
				if _, err := io.ReadFull(r, bits[:]); err != nil {
					return bad("score")
				}
				v.Scores[i] = math.Float32frombits(binary.LittleEndian.Uint32(bits[:]))
				return nil
			}
			x, err := binary.ReadUvarint(r)
			if err != nil || x > math.MaxUint32 {
				return bad("score")
			}
			v.Scores[i] = math.Float32frombits(uint32(x) ^ copiedBits(newer, base[i]))
			return nil
		}
		// The positions whose score differs: a mask, then their scores in order; or each
		// position's gap followed by its score.
		if has == scoresMask {
			mask := make([]byte, (len(v.Scores)+7)/8)
			if _, err := io.ReadFull(r, mask); err != nil {
				return bad("score mask")
			}
			if n := len(v.Scores); n%8 != 0 && mask[len(mask)-1]>>(n%8) != 0 {
				return bad("score mask")
			}
			for i := range v.Scores {
				if mask[i/8]&(1<<(i%8)) != 0 {
					if err := readScore(i); err != nil {
						return err
					}
				}
			}
		} else {
			m, err := binary.ReadUvarint(r)
			if err != nil || m > uint64(len(v.Scores)) {
				return bad("score count")
			}
			pos := 0
			for j := uint64(0); j < m; j++ {
				gap, err := binary.ReadUvarint(r)
				if err != nil || gap > uint64(len(v.Scores)) || pos+int(gap) >= len(v.Scores) {
					return bad("score position")
				}
				pos += int(gap)
				if err := readScore(pos); err != nil {
					return err
				}
			}
		}
	}
	sets := make([]*roaring64.Bitmap, 2)
	for i := range sets {
		l, err := binary.ReadUvarint(r)
		if err != nil || l > uint64(r.Len()) {
			return bad("members")
		}
		raw := make([]byte, l)
		if _, err := r.Read(raw); err != nil && l > 0 {
			return bad("members")
		}
		if sets[i], err = readBitmap(raw); err != nil {
			return bad("members: " + err.Error())
		}
	}
	if r.Len() != 0 {
		return bad("trailing bytes")
	}
	v.Members = roaring64.AndNot(newer.Members, sets[0])
	v.Members.Or(sets[1])
	return nil
}

// readBitmap decodes a serialized roaring64 bitmap, with an error, not a panic, for bytes that
// are not one (roaring64 trusts the sizes it reads).
func readBitmap(raw []byte) (bm *roaring64.Bitmap, err error) {
	if len(raw) >= 8 && binary.LittleEndian.Uint64(raw[:8]) > uint64(len(raw)) {
		return nil, errors.New("bucket count beyond the bytes")
	}
	defer func() {
		if v := recover(); v != nil {
			bm, err = nil, fmt.Errorf("malformed bitmap: %v", v)
		}
	}()
	bm = roaring64.New()
	if err := bm.UnmarshalBinary(raw); err != nil {
		return nil, err
	}
	return bm, nil
}
