package tagger

import (
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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/filter"
)

// ErrNotFound is returned (wrapped) for a tag or SKU that does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned (wrapped) by CreateTag for a name taken (compared without case).
var ErrExists = errors.New("already exists")

// ErrInUse is returned (wrapped) by Tagger.Delete for a tag other tags or pools refer to.
var ErrInUse = errors.New("in use")

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
func (t *TagDef) Info() filter.TagInfo {
	return filter.TagInfo{ID: t.ID, Name: t.Name, Kind: string(t.Kind)}
}

// Definition says how a tag gets its members; which fields apply depends on the kind.
type Definition struct {
	// Rule (rule tags): the members are the SKUs matching it.
	Rule *filter.Expr `json:"rule,omitempty"`

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
	Seeds     *filter.Expr `json:"seeds,omitempty"`
	SeedIDs   []int64      `json:"seed_ids,omitempty"`
	Reference *filter.Expr `json:"reference,omitempty"`
	K         int          `json:"k,omitempty"`
	MinVote   float64      `json:"min_vote,omitempty"`

	// Scope (prototype and propagated tags): only SKUs matching it may become members.
	Scope *filter.Expr `json:"scope,omitempty"`

	// Discovered tags: the clustering they came from, the cluster and its distinctive terms.
	Family  string   `json:"family,omitempty"`
	Cluster int      `json:"cluster,omitempty"`
	Terms   []string `json:"terms,omitempty"`
	NamedBy string   `json:"named_by,omitempty"`
}

// TagRefs returns the names of the tags the definition's expressions refer to.
func (d *Definition) TagRefs() []string {
	var out []string
	for _, e := range []*filter.Expr{d.Rule, d.Seeds, d.Reference, d.Scope} {
		if e != nil {
			out = append(out, e.Tags()...)
		}
	}
	return out
}

// Validate checks a definition against its kind.
func (d *Definition) Validate(kind Kind) error {
	for _, e := range []*filter.Expr{d.Rule, d.Seeds, d.Reference, d.Scope} {
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
	if errors.Is(err, filter.ErrUnknownTag) || errors.Is(err, ErrExists) {
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
		return t, fmt.Errorf("tag %q: refers to %w %q", t.Name, filter.ErrUnknownTag, missing[0])
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

// UpdateTag replaces a tag's description and definition (not its kind or name).
func (s *Store) UpdateTag(ctx context.Context, t TagDef) error {
	if err := t.Definition.Validate(t.Kind); err != nil {
		return fmt.Errorf("tag %q: %w", t.Name, err)
	}
	def, err := json.Marshal(t.Definition)
	if err != nil {
		return err
	}
	ct, err := s.pool.Exec(ctx, `UPDATE tags SET description = $2, definition = $3, updated_at = now()
		WHERE id = $1`, t.ID, t.Description, def)
	if err != nil {
		return fmt.Errorf("update tag %q: %w", t.Name, err)
	}
	if ct.RowsAffected() == 0 {
		return fmt.Errorf("tag %q: %w", t.Name, ErrNotFound)
	}
	return nil
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
	gmv_1h, gmv_24h, gmv_7d, views_1h, views_24h, views_7d, ` + filter.ReleasedDaySQL("released_at")

func (s *Store) scanRow(rows pgx.Rows, r *filter.Row) error {
	var rating float32
	var listPrice int64
	var title, colour string
	n := &r.Num
	err := rows.Scan(&title, &colour, &r.Ordinal, &r.ID, &r.Live, &r.Cat[filter.CatMarket], &r.Cat[filter.CatBrand], &r.Cat[filter.CatCategory],
		&r.Cat[filter.CatProductType], &r.Cat[filter.CatCurrency], &n[filter.NumPrice], &listPrice, &n[filter.NumStock], &rating,
		&n[filter.NumRatingCount], &n[filter.NumSales1h], &n[filter.NumSales24h], &n[filter.NumSales7d], &n[filter.NumGMV1h], &n[filter.NumGMV24h],
		&n[filter.NumGMV7d], &n[filter.NumViews1h], &n[filter.NumViews24h], &n[filter.NumViews7d], &n[filter.NumReleased])
	if err != nil {
		return err
	}
	n[filter.NumListPrice] = listPrice
	n[filter.NumDiscount] = 0
	if listPrice > 0 && n[filter.NumPrice] < listPrice {
		n[filter.NumDiscount] = (listPrice - n[filter.NumPrice]) * 100 / listPrice
	}
	n[filter.NumRating] = int64(rating*100 + 0.5)
	r.Cat[filter.CatInStock] = strconv.FormatBool(n[filter.NumStock] > 0)
	s.classify(r, title, colour, n[filter.NumPrice])
	return nil
}

// Rows reads the index rows of the given SKU ids (ids that do not exist are left out).
func (s *Store) Rows(ctx context.Context, q Querier, ids []int64) ([]filter.Row, error) {
	rows, err := q.Query(ctx, `SELECT `+rowCols+` FROM skus WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read skus: %w", err)
	}
	defer rows.Close()
	var out []filter.Row
	for rows.Next() {
		var r filter.Row
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

const currentSnapshot = `SELECT pg_current_snapshot()::text`

// BuildFromSKUs builds the attribute part of an index from skus in one repeatable-read
// snapshot and returns it with the position it reflects. Tags are not in skus: see LoadTags.
func (s *Store) BuildFromSKUs(ctx context.Context) (*filter.Index, filter.Position, error) {
	var ix *filter.Index
	var pos filter.Position
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
		b := filter.NewBuilder(int(n))
		var r filter.Row
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
