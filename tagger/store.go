package tagger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/filter"
)

// ErrNotFound is returned (wrapped) for a tag or SKU that does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned (wrapped) by CreateTag for a name taken (compared without case).
var ErrExists = errors.New("already exists")

// ErrNoVectors is returned (wrapped) by Tagger.Define for a tag whose members are found by
// embedding (prototype, propagated) when the tagger has no vector index.
var ErrNoVectors = errors.New("tags of this kind need the vector index, which this server does not have")

// ErrInUse is returned (wrapped) by Tagger.Delete for a tag other tags or pools refer to.
var ErrInUse = errors.New("in use")

// Store reads and writes tags and tag_models, and reads skus for the tagger (the index rows and
// the product types); the saved index is filter.Store's.
type Store struct {
	pool  *pgxpool.Pool
	types types
	words titleWords
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
	if _, ok := filter.TypeOfTag(n); ok {
		return fmt.Errorf("tag name %q: names starting with %q are the product types' tags", name, filter.TypeTagPrefix)
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
