package tagger

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned (wrapped) for a tag or SKU that does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned (wrapped) by CreateTag for a name taken (compared without case).
var ErrExists = errors.New("already exists")

// ErrInUse is returned (wrapped) by Tagger.Delete for a tag other tags or pools refer to.
var ErrInUse = errors.New("in use")

// ErrOutdated is returned by LoadSnapshot for a snapshot an older version saved (another layout,
// or without a column that exists now); Tagger.Load then builds from skus and saves anew.
var ErrOutdated = errors.New("saved by an older version")

// TagDef is one row of tags: a tag definition.
type TagDef struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Kind        Kind       `json:"kind"`
	Description string     `json:"description,omitempty"`
	Definition  Definition `json:"definition"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Info is the tag's identity in the index.
func (t *TagDef) Info() TagInfo { return TagInfo{ID: t.ID, Name: t.Name, Kind: t.Kind} }

// Definition says how a tag gets its members; which fields apply depends on the kind.
type Definition struct {
	// Rule (rule tags): the members are the SKUs matching it.
	Rule *Expr `json:"rule,omitempty"`

	// Descriptions and Examples (prototype tags): plain-language descriptions and example SKU
	// ids; each is a prototype vector and a SKU belongs when its best similarity to one reaches
	// the calibrated threshold.
	Descriptions []string `json:"descriptions,omitempty"`
	Examples     []int64  `json:"examples,omitempty"`

	// Seeds (propagated tags): the SKUs that carry the tag to begin with (an expression, and/or
	// SeedIDs). Reference is the set whose members vote (default: every live SKU; give the
	// labelled SKUs when the seeds are one class of a labelling). K neighbours vote (default 10),
	// weighted by similarity; a SKU joins when the seeds' share of the vote reaches MinVote
	// (default 0.5, a weighted majority), with that share as its confidence.
	Seeds     *Expr   `json:"seeds,omitempty"`
	SeedIDs   []int64 `json:"seed_ids,omitempty"`
	Reference *Expr   `json:"reference,omitempty"`
	K         int     `json:"k,omitempty"`
	MinVote   float64 `json:"min_vote,omitempty"`

	// Scope (prototype and propagated tags): only SKUs matching it may become members.
	Scope *Expr `json:"scope,omitempty"`

	// Discovered tags: the clustering they came from, the cluster and its distinctive terms.
	Family  string   `json:"family,omitempty"`
	Cluster int      `json:"cluster,omitempty"`
	Terms   []string `json:"terms,omitempty"`
	NamedBy string   `json:"named_by,omitempty"`
}

// TagRefs returns the names of the tags the definition's expressions refer to.
func (d *Definition) TagRefs() []string {
	var out []string
	for _, e := range []*Expr{d.Rule, d.Seeds, d.Reference, d.Scope} {
		if e != nil {
			out = append(out, e.Tags()...)
		}
	}
	return out
}

// Validate checks a definition against its kind.
func (d *Definition) Validate(kind Kind) error {
	for _, e := range []*Expr{d.Rule, d.Seeds, d.Reference, d.Scope} {
		if e != nil {
			if err := e.Validate(); err != nil {
				return err
			}
		}
	}
	switch kind {
	case KindRule:
		if d.Rule == nil {
			return errors.New("a rule tag needs a rule")
		}
	case KindPrototype:
		if len(d.Descriptions) == 0 && len(d.Examples) == 0 {
			return errors.New("a prototype tag needs descriptions or example SKUs")
		}
		for _, s := range d.Descriptions {
			if strings.TrimSpace(s) == "" {
				return errors.New("empty description")
			}
		}
	case KindPropagated:
		if d.Seeds == nil && len(d.SeedIDs) == 0 {
			return errors.New("a propagated tag needs seeds (an expression or SKU ids)")
		}
		if d.K < 0 || d.K > 1000 {
			return fmt.Errorf("k %d outside 1..1000", d.K)
		}
		if d.MinVote < 0 || d.MinVote > 1 || math.IsNaN(d.MinVote) {
			return fmt.Errorf("min_vote %v outside 0..1", d.MinVote)
		}
	case KindDiscovered:
		if d.Family == "" {
			return errors.New("a discovered tag names its family")
		}
	default:
		return fmt.Errorf("unknown tag kind %q", kind)
	}
	return nil
}

// Store reads and writes tags, tag_models, tag_bitmaps and tag_index_state, and reads skus,
// sku_events and sku_vectors for the tagger.
type Store struct {
	pool  *pgxpool.Pool
	types types
}

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Pool is the store's pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func validName(name string) error {
	n := strings.TrimSpace(name)
	if n == "" {
		return errors.New("tag name is empty")
	}
	if n != name {
		return fmt.Errorf("tag name %q has surrounding spaces", name)
	}
	if len(n) > 200 {
		return errors.New("tag name longer than 200 bytes")
	}
	return nil
}

// CreateTag inserts a tag (the name must be new) and returns it with its id.
func (s *Store) CreateTag(ctx context.Context, t TagDef) (TagDef, error) {
	def, err := checkedDefinition(t)
	if err != nil {
		return t, err
	}
	// The tags it refers to are share-locked until the new tag is committed, so a concurrent
	// DeleteUnreferenced of one of them waits and then sees the new referrer.
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		made, err := insertTag(ctx, tx, t, def)
		if err == nil {
			t = made
		}
		return err
	})
	if errors.Is(err, ErrUnknownTag) || errors.Is(err, ErrExists) {
		return t, err
	}
	if err != nil {
		return t, fmt.Errorf("create tag %q: %w", t.Name, err)
	}
	return t, nil
}

// checkedDefinition checks a new tag's name and definition and returns the definition as JSON.
func checkedDefinition(t TagDef) ([]byte, error) {
	if err := validName(t.Name); err != nil {
		return nil, err
	}
	if err := t.Definition.Validate(t.Kind); err != nil {
		return nil, fmt.Errorf("tag %q: %w", t.Name, err)
	}
	return json.Marshal(t.Definition)
}

// insertTag inserts t (def: its definition as JSON) in tx after share-locking the tags it refers to.
func insertTag(ctx context.Context, tx pgx.Tx, t TagDef, def []byte) (TagDef, error) {
	missing, err := LockTags(ctx, tx, t.Definition.TagRefs())
	if err != nil {
		return t, err
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("tag %q: refers to %w %q", t.Name, ErrUnknownTag, missing[0])
	}
	err = tx.QueryRow(ctx, `INSERT INTO tags (name, kind, description, definition)
		VALUES ($1, $2, $3, $4) RETURNING id, created_at, updated_at`,
		t.Name, string(t.Kind), t.Description, def).Scan(&t.ID, &t.CreatedAt, &t.UpdatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return t, fmt.Errorf("tag %q %w (tag names are compared without case)", t.Name, ErrExists)
	}
	return t, err
}

// LockTags share-locks, until tx ends, the tags named (in any case), so that a tag delete
// (DeleteUnreferenced) waits for whatever tx writes that refers to them and then sees it; it
// returns the names (lower-cased, sorted) of those that do not exist.
func LockTags(ctx context.Context, tx pgx.Tx, names []string) ([]string, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[strings.ToLower(n)] = true
	}
	if len(want) == 0 {
		return nil, nil
	}
	lower := make([]string, 0, len(want))
	for n := range want {
		lower = append(lower, n)
	}
	// In id order, as the deletes lock them, so two lockers of several tags cannot deadlock.
	rows, err := tx.Query(ctx, `SELECT lower(name) FROM tags WHERE lower(name) = ANY($1) ORDER BY id FOR SHARE`, lower)
	if err != nil {
		return nil, fmt.Errorf("lock tags: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("lock tags: %w", err)
	}
	for _, n := range found {
		delete(want, n)
	}
	missing := make([]string, 0, len(want))
	for n := range want {
		missing = append(missing, n)
	}
	sort.Strings(missing)
	return missing, nil
}

// DeleteUnreferenced deletes the tag named name (in any case) unless another tag's definition
// or anything external lists (nil: nothing; it reads through the transaction) refers to it;
// then it returns ErrInUse naming the referrers. The tag's row is locked first, so a tag or
// pool being created that refers to it (both share-locks what they name) is either seen here
// or fails to find it.
func (s *Store) DeleteUnreferenced(ctx context.Context, name string, external func(context.Context, Querier, string) ([]string, error)) (TagDef, error) {
	defs, err := s.deleteUnreferenced(ctx, `lower(name) = lower($1)`, name, external)
	if err != nil {
		return TagDef{}, fmt.Errorf("delete tag: %w", err)
	}
	if len(defs) == 0 {
		return TagDef{}, fmt.Errorf("delete tag: tag %q: %w", name, ErrNotFound)
	}
	return defs[0], nil
}

// ReplaceFamily replaces a discovered family's tags with defs and their models (models[i] is
// defs[i]'s; its TagID is set), all or nothing in one transaction. Like DeleteUnreferenced, it
// refuses with ErrInUse (naming the referrers) while a tag outside the family or anything
// external refers to one of the old tags. It returns the old tags and the new ones.
func (s *Store) ReplaceFamily(ctx context.Context, family string, defs []TagDef, models []Model, external func(context.Context, Querier, string) ([]string, error)) (old, made []TagDef, err error) {
	if len(models) != len(defs) {
		return nil, nil, fmt.Errorf("family %q: %d tags and %d models", family, len(defs), len(models))
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One replacement of a family at a time, across processes (a CLI discovery beside the
		// service): a second one waiting on the first's row locks would not see the tags the
		// first inserted, and the family would end with both sets.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('tagger.family:' || $1, 0))`, family); err != nil {
			return err
		}
		old, err = deleteUnreferencedTx(ctx, tx, `kind = 'discovered' AND definition->>'family' = $1`, family, external)
		if err != nil {
			return err
		}
		made = made[:0]
		for i, d := range defs {
			if d.Kind != KindDiscovered || d.Definition.Family != family {
				return fmt.Errorf("tag %q is not a discovered tag of family %q", d.Name, family)
			}
			def, err := checkedDefinition(d)
			if err != nil {
				return err
			}
			t, err := insertTag(ctx, tx, d, def)
			if err != nil {
				return err
			}
			models[i].TagID = t.ID
			if err := saveModel(ctx, tx, models[i]); err != nil {
				return err
			}
			made = append(made, t)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("replace family %q: %w", family, err)
	}
	return old, made, nil
}

// deleteUnreferenced locks the tags matching where (with $1 = arg), looks for referrers outside
// that set and deletes the set when there are none, in one transaction.
func (s *Store) deleteUnreferenced(ctx context.Context, where string, arg any, external func(context.Context, Querier, string) ([]string, error)) ([]TagDef, error) {
	var defs []TagDef
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		defs, err = deleteUnreferencedTx(ctx, tx, where, arg, external)
		return err
	})
	if err != nil {
		return nil, err
	}
	return defs, nil
}

func deleteUnreferencedTx(ctx context.Context, tx pgx.Tx, where string, arg any, external func(context.Context, Querier, string) ([]string, error)) ([]TagDef, error) {
	rows, err := tx.Query(ctx, `SELECT `+tagCols+` FROM tags WHERE `+where+` ORDER BY id FOR UPDATE`, arg)
	if err != nil {
		return nil, err
	}
	defs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TagDef, error) { return scanTag(r) })
	if err != nil || len(defs) == 0 {
		return nil, err
	}
	ids := make([]int64, len(defs))
	for i := range defs {
		ids[i] = defs[i].ID
	}
	rows, err = tx.Query(ctx, `SELECT `+tagCols+` FROM tags WHERE id <> ALL($1) ORDER BY name`, ids)
	if err != nil {
		return nil, err
	}
	others, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TagDef, error) { return scanTag(r) })
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, def := range defs {
		var mine []string
		for i := range others {
			for _, n := range others[i].Definition.TagRefs() {
				if strings.EqualFold(n, def.Name) {
					mine = append(mine, "tag "+others[i].Name)
					break
				}
			}
		}
		if external != nil {
			// In this transaction, after the row lock: a referrer committed before the lock is
			// seen; one written after it waits for the delete (selection.PoolStore share-locks
			// the tags a pool names) and then fails to find the tag.
			more, err := external(ctx, tx, def.Name)
			if err != nil {
				return nil, fmt.Errorf("who refers to tag %q: %w", def.Name, err)
			}
			mine = append(mine, more...)
		}
		if len(mine) > 0 {
			if len(defs) == 1 {
				return nil, fmt.Errorf("tag %q is %w by %s", def.Name, ErrInUse, strings.Join(mine, ", "))
			}
			refs = append(refs, fmt.Sprintf("tag %q by %s", def.Name, strings.Join(mine, ", ")))
		}
	}
	if len(refs) > 0 {
		return nil, fmt.Errorf("tags %w: %s", ErrInUse, strings.Join(refs, "; "))
	}
	if _, err := tx.Exec(ctx, `DELETE FROM tags WHERE id = ANY($1)`, ids); err != nil {
		return nil, err
	}
	return defs, nil
}

const tagCols = `id, name, kind, description, definition, created_at, updated_at`

func scanTag(row pgx.Row) (TagDef, error) {
	var t TagDef
	var kind string
	var def []byte
	if err := row.Scan(&t.ID, &t.Name, &kind, &t.Description, &def, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return t, err
	}
	t.Kind = Kind(kind)
	if err := json.Unmarshal(def, &t.Definition); err != nil {
		return t, fmt.Errorf("tag %q: stored definition: %w", t.Name, err)
	}
	return t, nil
}

// Tag returns a tag by name.
func (s *Store) Tag(ctx context.Context, name string) (TagDef, error) {
	t, err := scanTag(s.pool.QueryRow(ctx, `SELECT `+tagCols+` FROM tags WHERE lower(name) = lower($1)`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("tag %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("get tag %q: %w", name, err)
	}
	return t, nil
}

// Tags lists every tag by name.
func (s *Store) Tags(ctx context.Context) ([]TagDef, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tagCols+` FROM tags ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TagDef, error) { return scanTag(r) })
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	return out, nil
}

// Model is the computed state of an auto-tag: prototype vectors and threshold, or a centroid.
type Model struct {
	TagID       int64
	Model       string
	Vectors     [][]float32
	Threshold   float32
	Calibration json.RawMessage
	UpdatedAt   time.Time
}

// SaveModel upserts a tag's model.
func (s *Store) SaveModel(ctx context.Context, m Model) error {
	return saveModel(ctx, s.pool, m)
}

func saveModel(ctx context.Context, q Querier, m Model) error {
	dim := 0
	if len(m.Vectors) > 0 {
		dim = len(m.Vectors[0])
	}
	buf := make([]byte, 0, len(m.Vectors)*dim*4)
	for _, v := range m.Vectors {
		if len(v) != dim {
			return fmt.Errorf("tag %d: vectors of %d and %d dimensions", m.TagID, dim, len(v))
		}
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	cal := m.Calibration
	if len(cal) == 0 {
		cal = json.RawMessage(`{}`)
	}
	_, err := q.Exec(ctx, `INSERT INTO tag_models (tag_id, model, dim, vectors, threshold, calibration)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (tag_id) DO UPDATE SET model = excluded.model, dim = excluded.dim,
			vectors = excluded.vectors, threshold = excluded.threshold,
			calibration = excluded.calibration, updated_at = now()`,
		m.TagID, m.Model, dim, buf, m.Threshold, []byte(cal))
	if err != nil {
		return fmt.Errorf("save model of tag %d: %w", m.TagID, err)
	}
	return nil
}

// Models returns every tag model by tag id.
func (s *Store) Models(ctx context.Context) (map[int64]Model, error) {
	rows, err := s.pool.Query(ctx, `SELECT tag_id, model, dim, vectors, threshold, calibration, updated_at FROM tag_models`)
	if err != nil {
		return nil, fmt.Errorf("tag models: %w", err)
	}
	defer rows.Close()
	out := map[int64]Model{}
	for rows.Next() {
		var m Model
		var dim int
		var raw, cal []byte
		if err := rows.Scan(&m.TagID, &m.Model, &dim, &raw, &m.Threshold, &cal, &m.UpdatedAt); err != nil {
			return nil, fmt.Errorf("tag models: %w", err)
		}
		if dim > 0 {
			if len(raw)%(dim*4) != 0 {
				return nil, fmt.Errorf("tag %d: model vectors of %d bytes are not a multiple of %d dimensions", m.TagID, len(raw), dim)
			}
			for off := 0; off < len(raw); off += dim * 4 {
				v := make([]float32, dim)
				for i := range v {
					v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[off+i*4:]))
				}
				m.Vectors = append(m.Vectors, v)
			}
		}
		m.Calibration = cal
		out[m.TagID] = m
	}
	return out, rows.Err()
}

// ---- reading skus ----

var rowCols = `title, coalesce(attributes->>'attr_t_product_colour', ''), ordinal, id, live, market, brand, category, product_type, currency,
	price, list_price, stock, rating, rating_count, sales_1h, sales_24h, sales_7d,
	gmv_1h, gmv_24h, gmv_7d, views_1h, views_24h, views_7d, ` + ReleasedDaySQL("released_at")

func (s *Store) scanRow(rows pgx.Rows, r *Row) error {
	var rating float32
	var listPrice int64
	var title, colour string
	n := &r.Num
	err := rows.Scan(&title, &colour, &r.Ordinal, &r.ID, &r.Live, &r.Cat[catMarket], &r.Cat[catBrand], &r.Cat[catCategory],
		&r.Cat[catProductType], &r.Cat[catCurrency], &n[numPrice], &listPrice, &n[numStock], &rating,
		&n[numRatingCount], &n[numSales1h], &n[numSales24h], &n[numSales7d], &n[numGMV1h], &n[numGMV24h],
		&n[numGMV7d], &n[numViews1h], &n[numViews24h], &n[numViews7d], &n[numReleased])
	if err != nil {
		return err
	}
	n[numListPrice] = listPrice
	n[numDiscount] = 0
	if listPrice > 0 && n[numPrice] < listPrice {
		n[numDiscount] = (listPrice - n[numPrice]) * 100 / listPrice
	}
	n[numRating] = int64(rating*100 + 0.5)
	r.Cat[catInStock] = strconv.FormatBool(n[numStock] > 0)
	s.classify(r, title, colour, n[numPrice])
	return nil
}

// Rows reads the index rows of the given SKU ids (ids that do not exist are left out).
func (s *Store) Rows(ctx context.Context, q Querier, ids []int64) ([]Row, error) {
	rows, err := q.Query(ctx, `SELECT `+rowCols+` FROM skus WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read skus: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		if err := s.scanRow(rows, &r); err != nil {
			return nil, fmt.Errorf("read skus: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Querier is a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Position is where the index stands in sku_events: every event of a transaction visible in
// Snapshot (a pg_snapshot, "xmin:xmax:xip,...") is reflected; Seq is the highest seq seen.
type Position struct {
	Snapshot string
	Seq      int64
}

const currentSnapshot = `SELECT pg_current_snapshot()::text`

// BuildFromSKUs builds the attribute part of an index from skus in one repeatable-read
// snapshot and returns it with the position it reflects. Tags are not in skus: see LoadTags.
func (s *Store) BuildFromSKUs(ctx context.Context) (*Index, Position, error) {
	var ix *Index
	var pos Position
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var n int64
		if err := tx.QueryRow(ctx, currentSnapshot).Scan(&pos.Snapshot); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM sku_events`).Scan(&pos.Seq); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(ordinal) + 1, 0) FROM skus`).Scan(&n); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+rowCols+` FROM skus`)
		if err != nil {
			return err
		}
		defer rows.Close()
		b := NewBuilder(int(n))
		var r Row
		for rows.Next() {
			if err := s.scanRow(rows, &r); err != nil {
				return err
			}
			b.Add(r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		ix = b.Index()
		return nil
	})
	if err != nil {
		return nil, pos, fmt.Errorf("build index from skus: %w", err)
	}
	return ix, pos, nil
}

// ---- snapshots in tag_bitmaps ----

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

// SaveSnapshot replaces the persisted index with s, unless a snapshot of a later position is
// already there (several replicas may save). It reports whether it wrote.
func (s *Store) SaveSnapshot(ctx context.Context, snap *Snapshot) (bool, error) {
	wrote := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE tag_index_state IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var newer bool
		err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(event_snapshot) > pg_snapshot_xmin($1::pg_snapshot)
			FROM tag_index_state`, snap.Pos.Snapshot).Scan(&newer)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if newer {
			return nil
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE tag_bitmaps_stage (key text, tag_id bigint, bitmap bytea,
			cardinality bigint) ON COMMIT DROP`); err != nil {
			return err
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"tag_bitmaps_stage"}, []string{"key", "tag_id", "bitmap", "cardinality"},
			pgx.CopyFromSlice(len(snap.Entries), func(i int) ([]any, error) {
				e := &snap.Entries[i]
				var tagID any
				if e.TagID != 0 {
					tagID = e.TagID
				}
				return []any{e.Key, tagID, e.Bytes, int64(e.Cardinality)}, nil
			}))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tag_bitmaps`); err != nil {
			return err
		}
		// Tags deleted since the snapshot was taken are left out.
		if _, err := tx.Exec(ctx, `INSERT INTO tag_bitmaps (key, tag_id, bitmap, cardinality, version, event_seq)
			SELECT st.key, st.tag_id, st.bitmap, st.cardinality, 1, $1 FROM tag_bitmaps_stage st
			WHERE st.tag_id IS NULL OR EXISTS (SELECT 1 FROM tags WHERE tags.id = st.tag_id)`, snap.Pos.Seq); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tag_index_state (id, event_snapshot, event_seq, skus, bytes, saved_at)
			VALUES (true, $1::pg_snapshot, $2, (SELECT coalesce(max(ordinal) + 1, 0) FROM skus), $3, now())
			ON CONFLICT (id) DO UPDATE SET event_snapshot = excluded.event_snapshot, event_seq = excluded.event_seq,
				skus = excluded.skus, bytes = excluded.bytes, saved_at = now()`,
			snap.Pos.Snapshot, snap.Pos.Seq, snap.Size()); err != nil {
			return err
		}
		wrote = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("save index snapshot: %w", err)
	}
	return wrote, nil
}

// LoadSnapshot rebuilds an index from tag_bitmaps plus the ordinal -> id map from skus, in one
// repeatable-read snapshot. It returns ErrNotFound when nothing was saved.
func (s *Store) LoadSnapshot(ctx context.Context) (*Index, Position, error) {
	var ix *Index
	var pos Position
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT event_snapshot::text, event_seq FROM tag_index_state`).Scan(&pos.Snapshot, &pos.Seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("index snapshot: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		tags := map[int64]TagInfo{}
		trows, err := tx.Query(ctx, `SELECT id, name, kind FROM tags`)
		if err != nil {
			return err
		}
		for trows.Next() {
			var t TagInfo
			var kind string
			if err := trows.Scan(&t.ID, &t.Name, &kind); err != nil {
				trows.Close()
				return err
			}
			t.Kind = Kind(kind)
			tags[t.ID] = t
		}
		if err := trows.Err(); err != nil {
			return err
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(ordinal) + 1, 0) FROM skus`).Scan(&n); err != nil {
			return err
		}
		ix = NewIndex()
		ix.ids = make([]int64, n)
		ix.ords = make(map[int64]int64, n)
		for _, c := range ix.cats {
			c.codes = make([]uint32, n)
		}
		rows, err := tx.Query(ctx, `SELECT ordinal, id FROM skus`)
		if err != nil {
			return err
		}
		var o, id int64
		_, err = pgx.ForEachRow(rows, []any{&o, &id}, func() error {
			if o >= 0 && o < n {
				ix.ids[o] = id
				ix.ords[id] = o
			}
			return nil
		})
		if err != nil {
			return err
		}
		brows, err := tx.Query(ctx, `SELECT key, bitmap FROM tag_bitmaps`)
		if err != nil {
			return err
		}
		var key string
		var raw []byte
		columns := map[string]bool{}
		format := false
		_, err = pgx.ForEachRow(brows, []any{&key, &raw}, func() error {
			if name, ok := strings.CutPrefix(key, "bsi:"); ok {
				columns[name] = true
			}
			if key == formatKey {
				format = true
				return nil
			}
			return ix.loadEntry(key, raw, tags)
		})
		if err != nil {
			return err
		}
		// A snapshot an older version saved (another layout, or without a numeric column
		// that exists now) cannot be trusted: build from skus instead (Tagger.Load does).
		for _, name := range numNames {
			if !columns[name] {
				return fmt.Errorf("the snapshot has no %s column: %w", name, ErrOutdated)
			}
		}
		if !format {
			return fmt.Errorf("the snapshot is not in format %s: %w", formatKey, ErrOutdated)
		}
		return nil
	})
	if err != nil {
		return nil, pos, fmt.Errorf("load index snapshot: %w", err)
	}
	return ix, pos, nil
}

// loadEntry installs one serialized tag_bitmaps row (the index is not shared yet).
func (ix *Index) loadEntry(key string, raw []byte, tags map[int64]TagInfo) error {
	kind, rest, ok := strings.Cut(key, ":")
	readBM := func() (*roaring64.Bitmap, error) {
		bm := roaring64.New()
		if err := bm.UnmarshalBinary(raw); err != nil {
			return nil, fmt.Errorf("tag_bitmaps %q: %w", key, err)
		}
		return bm, nil
	}
	readBSI := func() (*roaring64.BSI, error) {
		b := roaring64.NewDefaultBSI()
		if _, err := b.ReadFrom(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("tag_bitmaps %q: %w", key, err)
		}
		return b, nil
	}
	switch {
	case key == "live":
		bm, err := readBM()
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
		b, err := readBSI()
		if err != nil {
			return err
		}
		ix.nums[f] = &numColumn{bsi: b}
		return nil
	case (kind == "tag" || kind == "tagconf") && ok:
		id, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return nil
		}
		info, known := tags[id]
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
			bm, err := readBM()
			if err != nil {
				return err
			}
			t.members = bm
		} else {
			b, err := readBSI()
			if err != nil {
				return err
			}
			t.conf = b
		}
		return nil
	case ok:
		fk, f, err := lookupField(kind)
		if err != nil || fk != Categorical {
			return nil
		}
		bm, err := readBM()
		if err != nil {
			return err
		}
		c := ix.cats[f]
		code := c.code(rest)
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
		return nil
	}
	return nil
}
