package filter

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// formatKey marks a snapshot in the current layout (3: product_type holds the learned type; 2:
// categorical keys keep the value as
// written); a snapshot without it is rebuilt from skus on load.
const formatKey = "format:3"

// Snapshot is a serialized index: one entry per bitmap or BSI column.
type Snapshot struct {
	Entries []SnapshotEntry
	Pos     Position
}

// SnapshotEntry is one tag_bitmaps row.
type SnapshotEntry struct {
	Key         string
	TagID       int64 // 0: not a tag
	Bytes       []byte
	Cardinality uint64
}

// Size is the serialized size of the snapshot in bytes.
func (s *Snapshot) Size() int64 {
	var n int64
	for _, e := range s.Entries {
		n += int64(len(e.Bytes))
	}
	return n
}

// Snapshot serializes the index in the portable roaring64 format: "live", "<field>:<value>"
// per categorical value, "bsi:<field>" per numeric column (the BSI's WriteTo: existence bitmap
// then every plane), "tag:<id>" per tag and "tagconf:<id>" for tags with confidences.
func (ix *Index) Snapshot() (*Snapshot, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := &Snapshot{}
	add := func(key string, tagID int64, bm *roaring64.Bitmap) error {
		b, err := bm.ToBytes()
		if err != nil {
			return fmt.Errorf("serialize %s: %w", key, err)
		}
		s.Entries = append(s.Entries, SnapshotEntry{key, tagID, b, bm.GetCardinality()})
		return nil
	}
	addBSI := func(key string, tagID int64, b *roaring64.BSI) error {
		var buf bytes.Buffer
		if _, err := b.WriteTo(&buf); err != nil {
			return fmt.Errorf("serialize %s: %w", key, err)
		}
		s.Entries = append(s.Entries, SnapshotEntry{key, tagID, buf.Bytes(), b.GetCardinality()})
		return nil
	}
	if err := add("live", 0, ix.live); err != nil {
		return nil, err
	}
	if err := add(formatKey, 0, roaring64.New()); err != nil {
		return nil, err
	}
	for f, c := range ix.cats {
		for code, v := range c.values {
			bm := c.bms[code]
			if bm.IsEmpty() {
				continue
			}
			// The key keeps the value as written ("brand:Logitech"): loading folds it again for
			// lookups and shows it as written (older snapshots saved it folded).
			if err := add(catNames[f]+":"+v, 0, bm); err != nil {
				return nil, err
			}
		}
	}
	for f, c := range ix.nums {
		if err := addBSI("bsi:"+numNames[f], 0, c.bsi); err != nil {
			return nil, err
		}
	}
	for _, t := range ix.tags {
		key := "tag:" + strconv.FormatInt(t.info.ID, 10)
		if err := add(key, t.info.ID, t.members); err != nil {
			return nil, err
		}
		if t.conf != nil {
			if err := addBSI("tagconf:"+strconv.FormatInt(t.info.ID, 10), t.info.ID, t.conf); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// loadEntry installs one serialized tag_bitmaps row (the index is not shared yet).
func (ix *Index) loadEntry(key string, raw []byte, tags map[int64]TagInfo) error {
	kind, rest, ok := strings.Cut(key, ":")
	switch {
	case key == "live":
		bm, err := readBitmap(key, raw)
		if err != nil {
			return err
		}
		ix.live = bm
		return nil
	case kind == "bsi" && ok:
		fk, f, err := lookupField(rest)
		if err != nil || fk != Numeric {
			return nil // a column this version does not know: ignore
		}
		b, err := readBSI(key, raw)
		if err != nil {
			return err
		}
		ix.nums[f] = &numColumn{bsi: b}
		return nil
	case (kind == "tag" || kind == "tagconf") && ok:
		return ix.loadTagEntry(kind, rest, key, raw, tags)
	case ok:
		fk, f, err := lookupField(kind)
		if err != nil || fk != Categorical {
			return nil
		}
		bm, err := readBitmap(key, raw)
		if err != nil {
			return err
		}
		ix.loadValue(f, rest, bm)
		return nil
	}
	return nil
}

// loadTagEntry installs a tag's members ("tag:<id>") or confidences ("tagconf:<id>"); a tag
// not in tags (deleted since) is left out.
func (ix *Index) loadTagEntry(kind, id, key string, raw []byte, tags map[int64]TagInfo) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	info, known := tags[n]
	if !known {
		return nil
	}
	name := strings.ToLower(info.Name)
	t := ix.tags[name]
	if t == nil {
		t = &tagState{info: info, members: roaring64.New()}
		ix.tags[name] = t
	}
	if kind == "tag" {
		bm, err := readBitmap(key, raw)
		if err != nil {
			return err
		}
		t.members = bm
		return nil
	}
	b, err := readBSI(key, raw)
	if err != nil {
		return err
	}
	t.conf = b
	return nil
}

// loadValue installs the bitmap of one value of categorical field f and its ordinals' codes.
func (ix *Index) loadValue(f int, value string, bm *roaring64.Bitmap) {
	c := ix.cats[f]
	code := c.code(value)
	c.bms[code] = bm
	it := bm.ManyIterator()
	buf := make([]uint64, 1024)
	for {
		n := it.NextMany(buf)
		if n == 0 {
			break
		}
		for _, o := range buf[:n] {
			if o < uint64(len(c.codes)) {
				c.codes[o] = code
			}
		}
	}
}

// readBitmap decodes a saved bitmap (key names it in errors).
func readBitmap(key string, raw []byte) (*roaring64.Bitmap, error) {
	bm := roaring64.New()
	if err := bm.UnmarshalBinary(raw); err != nil {
		return nil, fmt.Errorf("tag_bitmaps %q: %w", key, err)
	}
	return bm, nil
}

// readBSI decodes a saved BSI column (key names it in errors).
func readBSI(key string, raw []byte) (*roaring64.BSI, error) {
	b := roaring64.NewDefaultBSI()
	if _, err := b.ReadFrom(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("tag_bitmaps %q: %w", key, err)
	}
	return b, nil
}
