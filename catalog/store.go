package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DBTX is what the store needs from a pool or a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error)
}

// Store reads and writes the skus table.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Pool is the store's pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// ApplyResult says what an Apply did.
type ApplyResult struct {
	Inserted int // new SKUs (each got an ordinal)
	Updated  int // existing SKUs with at least one group applied
	Stale    int // patches whose every group was older than what is stored
	// TextChanged are the SKUs whose embeddable text changed; they were queued in embed_queue.
	TextChanged []int64
}

func (r *ApplyResult) add(o ApplyResult) {
	r.Inserted += o.Inserted
	r.Updated += o.Updated
	r.Stale += o.Stale
	r.TextChanged = append(r.TextChanged, o.TextChanged...)
}

// Upsert applies patches in one transaction of its own.
func (s *Store) Upsert(ctx context.Context, patches []Patch) (ApplyResult, error) {
	var res ApplyResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		res, err = Apply(ctx, tx, patches)
		return err
	})
	return res, err
}

// Delete tombstones a SKU as of event time at. The row, its ordinal and its history stay.
func (s *Store) Delete(ctx context.Context, id int64, at time.Time) (ApplyResult, error) {
	return s.Upsert(ctx, []Patch{{ID: id, DeleteAt: &at}})
}

const stageDDL = `CREATE TEMP TABLE IF NOT EXISTS sku_stage (
	n bigint, id bigint, fields integer,
	market text, title text, description text, brand text, category text, product_type text,
	attributes jsonb, released_at timestamptz, content_at timestamptz,
	currency text, price bigint, list_price bigint, price_at timestamptz,
	stock bigint, stock_at timestamptz,
	sales_1h bigint, sales_24h bigint, sales_7d bigint, gmv_1h bigint, gmv_24h bigint, gmv_7d bigint,
	views_1h bigint, views_24h bigint, views_7d bigint, rating real, rating_count bigint,
	metrics_at timestamptz, delete_at timestamptz
) ON COMMIT DELETE ROWS`

var stageCols = []string{"n", "id", "fields",
	"market", "title", "description", "brand", "category", "product_type",
	"attributes", "released_at", "content_at",
	"currency", "price", "list_price", "price_at",
	"stock", "stock_at",
	"sales_1h", "sales_24h", "sales_7d", "gmv_1h", "gmv_24h", "gmv_7d",
	"views_1h", "views_24h", "views_7d", "rating", "rating_count",
	"metrics_at", "delete_at"}

// Apply applies patches inside tx (which the caller commits). Patches for the same SKU are
// applied in order; each field group is written only when its event time is at least the stored
// one, so an older event never overwrites newer data and applying the same patches twice
// changes nothing. New SKUs get the next ordinals in arrival order. Work is set-based: one COPY
// into a temporary staging table and three statements per round (a round holds at most one patch
// per SKU; several patches for one SKU merge into one round where the guard allows).
func Apply(ctx context.Context, tx DBTX, patches []Patch) (ApplyResult, error) {
	var total ApplyResult
	if len(patches) == 0 {
		return total, nil
	}
	for i := range patches {
		if err := patches[i].Validate(); err != nil {
			return total, fmt.Errorf("sku %d: %w", patches[i].ID, err)
		}
	}
	if _, err := tx.Exec(ctx, stageDDL); err != nil {
		return total, fmt.Errorf("create staging table: %w", err)
	}
	for _, round := range rounds(patches) {
		res, err := applyRound(ctx, tx, round)
		if err != nil {
			return total, err
		}
		total.add(res)
	}
	return total, nil
}

func nullTime(t time.Time, present bool) any {
	if !present || t.IsZero() {
		return nil
	}
	return t
}

// applyRound applies one round of patches (at most one per SKU) through the staging table:
// an UPDATE of the existing SKUs, then an INSERT of the new ones.
func applyRound(ctx context.Context, tx DBTX, round []Patch) (ApplyResult, error) {
	var res ApplyResult
	if err := copyStage(ctx, tx, round); err != nil {
		return res, err
	}
	// Existing SKUs first: one UPDATE with the guards, which also says which stage rows exist.
	// Only when some do not is the INSERT run (price and stock streams rarely bring new SKUs).
	exists, err := applyUpdate(ctx, tx, nil, &res)
	if err != nil {
		return res, err
	}
	var missing []int64
	for i := range round {
		if !exists[round[i].ID] {
			missing = append(missing, round[i].ID)
		}
	}
	if len(missing) == 0 {
		res.Stale = len(round) - res.Inserted - res.Updated
		return res, nil
	}
	inserted, err := applyInsert(ctx, tx, missing, &res)
	if err != nil {
		return res, err
	}
	// A SKU another transaction inserted meanwhile is updated like any existing one.
	var raced []int64
	for _, id := range missing {
		if !inserted[id] {
			raced = append(raced, id)
		}
	}
	if len(raced) > 0 {
		if _, err := applyUpdate(ctx, tx, raced, &res); err != nil {
			return res, err
		}
	}
	res.Stale = len(round) - res.Inserted - res.Updated
	return res, nil
}

// copyStage replaces the staging table's rows with the round's patches.
func copyStage(ctx context.Context, tx DBTX, round []Patch) error {
	if _, err := tx.Exec(ctx, "TRUNCATE sku_stage"); err != nil {
		return fmt.Errorf("clear staging table: %w", err)
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"sku_stage"}, stageCols, pgx.CopyFromSlice(len(round), func(i int) ([]any, error) {
		p := &round[i]
		var attrs any
		if p.Has(FieldAttributes) {
			if len(p.Attributes) == 0 {
				attrs = "{}"
			} else {
				attrs = string(p.Attributes)
			}
		}
		var del any
		if p.DeleteAt != nil {
			del = *p.DeleteAt
		}
		var rel any
		if p.ReleasedAt != nil {
			rel = *p.ReleasedAt
		}
		m := &p.Metrics
		return []any{int64(i), p.ID, int32(p.Fields),
			p.Market, p.Title, p.Description, p.Brand, p.Category, p.ProductType,
			attrs, rel, nullTime(p.ContentAt, p.Fields&contentFields != 0),
			p.Currency, p.Price, p.ListPrice, nullTime(p.PriceAt, p.Fields&priceFields != 0),
			p.Stock, nullTime(p.StockAt, p.Fields&stockFields != 0),
			m.Sales1h, m.Sales24h, m.Sales7d, m.GMV1h, m.GMV24h, m.GMV7d,
			m.Views1h, m.Views24h, m.Views7d, m.Rating, m.RatingCount,
			nullTime(p.MetricsAt, p.Fields&metricsFields != 0), del}, nil
	}))
	if err != nil {
		return fmt.Errorf("copy to staging table: %w", err)
	}
	return nil
}

// applyInsert inserts the stage rows of the missing ids, counting inserts and text changes into
// res, and returns the ids it inserted. New SKUs are inserted in arrival order, so ordinals
// follow it. A patch that only deletes an unknown SKU still records it (as a tombstone) so that
// a late upsert older than the delete stays deleted.
func applyInsert(ctx context.Context, tx DBTX, missing []int64, res *ApplyResult) (map[int64]bool, error) {
	rows, err := tx.Query(ctx, insertSQL, missing)
	if err != nil {
		return nil, fmt.Errorf("insert new skus: %w", err)
	}
	inserted := map[int64]bool{}
	for rows.Next() {
		var id int64
		var textual bool
		if err := rows.Scan(&id, &textual); err != nil {
			rows.Close()
			return nil, fmt.Errorf("insert new skus: %w", err)
		}
		inserted[id] = true
		if textual {
			res.TextChanged = append(res.TextChanged, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("insert new skus: %w", err)
	}
	res.Inserted = len(inserted)
	return inserted, nil
}

// applyUpdate runs updateSQL over the stage rows (only ids, when given), counting updates and
// text changes into res, and returns the ids that exist in skus.
func applyUpdate(ctx context.Context, tx DBTX, ids []int64, res *ApplyResult) (map[int64]bool, error) {
	rows, err := tx.Query(ctx, updateSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("update skus: %w", err)
	}
	defer rows.Close()
	exists := map[int64]bool{}
	for rows.Next() {
		var id int64
		var applied, textual bool
		if err := rows.Scan(&id, &applied, &textual); err != nil {
			return nil, fmt.Errorf("update skus: %w", err)
		}
		exists[id] = true
		if applied {
			res.Updated++
		}
		if textual {
			res.TextChanged = append(res.TextChanged, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("update skus: %w", err)
	}
	return exists, nil
}

// Bits as SQL literals (kept in step with the Field constants by TestFieldBits).
const insertSQL = `
WITH ins AS (
	INSERT INTO skus AS s (id, market, title, description, brand, category, product_type, attributes,
		released_at, content_at, currency, price, list_price, price_at, stock, stock_at,
		sales_1h, sales_24h, sales_7d, gmv_1h, gmv_24h, gmv_7d, views_1h, views_24h, views_7d,
		rating, rating_count, metrics_at, deleted_at)
	SELECT id,
		CASE WHEN fields & 1 <> 0 THEN market ELSE 'ALL' END,
		CASE WHEN fields & 2 <> 0 THEN title ELSE '' END,
		CASE WHEN fields & 4 <> 0 THEN description ELSE '' END,
		CASE WHEN fields & 8 <> 0 THEN brand ELSE '' END,
		CASE WHEN fields & 16 <> 0 THEN category ELSE '' END,
		CASE WHEN fields & 32 <> 0 THEN product_type ELSE '' END,
		coalesce(attributes, '{}'),
		released_at,
		coalesce(content_at, '-infinity'),
		CASE WHEN fields & 256 <> 0 THEN currency ELSE '' END,
		CASE WHEN fields & 512 <> 0 THEN price ELSE 0 END,
		CASE WHEN fields & 1024 <> 0 THEN list_price ELSE 0 END,
		coalesce(price_at, '-infinity'),
		CASE WHEN fields & 2048 <> 0 THEN stock ELSE 0 END,
		coalesce(stock_at, '-infinity'),
		coalesce(sales_1h, 0), coalesce(sales_24h, 0), coalesce(sales_7d, 0),
		coalesce(gmv_1h, 0), coalesce(gmv_24h, 0), coalesce(gmv_7d, 0),
		coalesce(views_1h, 0), coalesce(views_24h, 0), coalesce(views_7d, 0),
		coalesce(rating, 0), coalesce(rating_count, 0),
		coalesce(metrics_at, '-infinity'),
		delete_at
	FROM sku_stage st
	WHERE st.id = ANY($1)
	  AND NOT EXISTS (SELECT 1 FROM skus WHERE skus.id = st.id) -- keeps the sequence dense
	ORDER BY n
	ON CONFLICT (id) DO NOTHING
	RETURNING s.id, s.content_hash, s.live AND s.content_at > '-infinity' AS textual
)
, queued AS (
	INSERT INTO embed_queue (sku_id, content_hash)
	SELECT id, content_hash FROM ins WHERE textual
	ON CONFLICT (sku_id) DO UPDATE SET content_hash = excluded.content_hash, enqueued_at = now()
)
SELECT id, textual FROM ins`

// updateSQL applies each group whose event time is at least the stored one. Deletion is a group
// of its own (the newest delete time wins); a SKU is live while its content is newer than its
// newest delete, so the outcome does not depend on the order events arrive in.
const updateSQL = `
WITH d AS (
	SELECT st.*,
		(st.content_at IS NOT NULL AND st.content_at >= s.content_at) AS c_ok,
		(st.price_at IS NOT NULL AND st.price_at >= s.price_at) AS p_ok,
		(st.stock_at IS NOT NULL AND st.stock_at >= s.stock_at) AS s_ok,
		(st.metrics_at IS NOT NULL AND st.metrics_at >= s.metrics_at) AS m_ok,
		(st.delete_at IS NOT NULL AND st.delete_at > coalesce(s.deleted_at, '-infinity')) AS d_ok,
		s.content_hash AS old_hash, s.live AS old_live
	FROM sku_stage st JOIN skus s USING (id)
	WHERE $1::bigint[] IS NULL OR st.id = ANY($1)
	FOR UPDATE OF s
), upd AS (
	UPDATE skus s SET
		market       = CASE WHEN c_ok AND d.fields & 1 <> 0 THEN d.market ELSE s.market END,
		title        = CASE WHEN c_ok AND d.fields & 2 <> 0 THEN d.title ELSE s.title END,
		description  = CASE WHEN c_ok AND d.fields & 4 <> 0 THEN d.description ELSE s.description END,
		brand        = CASE WHEN c_ok AND d.fields & 8 <> 0 THEN d.brand ELSE s.brand END,
		category     = CASE WHEN c_ok AND d.fields & 16 <> 0 THEN d.category ELSE s.category END,
		product_type = CASE WHEN c_ok AND d.fields & 32 <> 0 THEN d.product_type ELSE s.product_type END,
		attributes   = CASE WHEN c_ok AND d.fields & 64 <> 0 THEN d.attributes ELSE s.attributes END,
		released_at  = CASE WHEN c_ok AND d.fields & 128 <> 0 THEN d.released_at ELSE s.released_at END,
		content_at   = CASE WHEN c_ok THEN d.content_at ELSE s.content_at END,
		currency     = CASE WHEN p_ok AND d.fields & 256 <> 0 THEN d.currency ELSE s.currency END,
		price        = CASE WHEN p_ok AND d.fields & 512 <> 0 THEN d.price ELSE s.price END,
		list_price   = CASE WHEN p_ok AND d.fields & 1024 <> 0 THEN d.list_price ELSE s.list_price END,
		price_at     = CASE WHEN p_ok THEN d.price_at ELSE s.price_at END,
		stock        = CASE WHEN s_ok THEN d.stock ELSE s.stock END,
		stock_at     = CASE WHEN s_ok THEN d.stock_at ELSE s.stock_at END,
		sales_1h     = CASE WHEN m_ok THEN d.sales_1h ELSE s.sales_1h END,
		sales_24h    = CASE WHEN m_ok THEN d.sales_24h ELSE s.sales_24h END,
		sales_7d     = CASE WHEN m_ok THEN d.sales_7d ELSE s.sales_7d END,
		gmv_1h       = CASE WHEN m_ok THEN d.gmv_1h ELSE s.gmv_1h END,
		gmv_24h      = CASE WHEN m_ok THEN d.gmv_24h ELSE s.gmv_24h END,
		gmv_7d       = CASE WHEN m_ok THEN d.gmv_7d ELSE s.gmv_7d END,
		views_1h     = CASE WHEN m_ok THEN d.views_1h ELSE s.views_1h END,
		views_24h    = CASE WHEN m_ok THEN d.views_24h ELSE s.views_24h END,
		views_7d     = CASE WHEN m_ok THEN d.views_7d ELSE s.views_7d END,
		rating       = CASE WHEN m_ok THEN d.rating ELSE s.rating END,
		rating_count = CASE WHEN m_ok THEN d.rating_count ELSE s.rating_count END,
		metrics_at   = CASE WHEN m_ok THEN d.metrics_at ELSE s.metrics_at END,
		deleted_at   = CASE WHEN d_ok THEN d.delete_at ELSE s.deleted_at END,
		updated_at   = now()
	FROM d
	WHERE s.id = d.id AND (c_ok OR p_ok OR s_ok OR m_ok OR d_ok)
	RETURNING s.id, s.live AND s.content_at > '-infinity'
		AND (s.content_hash IS DISTINCT FROM d.old_hash OR NOT d.old_live) AS textual, s.content_hash
), queued AS (
	INSERT INTO embed_queue (sku_id, content_hash)
	SELECT id, content_hash FROM upd WHERE textual
	ON CONFLICT (sku_id) DO UPDATE SET content_hash = excluded.content_hash, enqueued_at = now()
)
SELECT d.id, upd.id IS NOT NULL, coalesce(upd.textual, false) FROM d LEFT JOIN upd USING (id)`

const skuCols = `id, ordinal, market, title, description, brand, category, product_type, attributes,
	content_hash, currency, price, list_price, stock, rating, rating_count,
	sales_1h, sales_24h, sales_7d, gmv_1h, gmv_24h, gmv_7d, views_1h, views_24h, views_7d,
	released_at, nullif(content_at, '-infinity'), nullif(price_at, '-infinity'),
	nullif(stock_at, '-infinity'), nullif(metrics_at, '-infinity'), deleted_at, live, created_at, updated_at`

func scanSKU(row pgx.Row, s *SKU) error {
	m := &s.Metrics
	var attrs []byte
	var cAt, pAt, sAt, mAt *time.Time
	err := row.Scan(&s.ID, &s.Ordinal, &s.Market, &s.Title, &s.Description, &s.Brand, &s.Category,
		&s.ProductType, &attrs, &s.ContentHash, &s.Currency, &s.Price, &s.ListPrice, &s.Stock,
		&m.Rating, &m.RatingCount, &m.Sales1h, &m.Sales24h, &m.Sales7d, &m.GMV1h, &m.GMV24h, &m.GMV7d,
		&m.Views1h, &m.Views24h, &m.Views7d, &s.ReleasedAt, &cAt, &pAt, &sAt,
		&mAt, &s.DeletedAt, &s.Live, &s.CreatedAt, &s.UpdatedAt)
	for _, f := range []struct {
		src *time.Time
		dst *time.Time
	}{{cAt, &s.ContentAt}, {pAt, &s.PriceAt}, {sAt, &s.StockAt}, {mAt, &s.MetricsAt}} {
		if f.src != nil {
			*f.dst = *f.src
		} else {
			*f.dst = time.Time{}
		}
	}
	if len(attrs) > 0 && string(attrs) != "{}" {
		s.Attributes = attrs
	}
	return err
}

// Get returns a live (not deleted) SKU, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (SKU, error) {
	var out SKU
	err := scanSKU(s.pool.QueryRow(ctx, `SELECT `+skuCols+` FROM skus WHERE id = $1 AND live`, id), &out)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fmt.Errorf("sku %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return out, fmt.Errorf("get sku %d: %w", id, err)
	}
	return out, nil
}

// GetMany returns the live SKUs among ids, in the order of ids; missing and deleted ids are
// left out.
func (s *Store) GetMany(ctx context.Context, ids []int64) ([]SKU, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+skuCols+` FROM skus
		WHERE id = ANY($1) AND live`, ids)
	if err != nil {
		return nil, fmt.Errorf("get skus: %w", err)
	}
	defer rows.Close()
	byID := make(map[int64]SKU, len(ids))
	for rows.Next() {
		var k SKU
		if err := scanSKU(rows, &k); err != nil {
			return nil, fmt.Errorf("get skus: %w", err)
		}
		byID[k.ID] = k
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get skus: %w", err)
	}
	out := make([]SKU, 0, len(byID))
	for _, id := range ids {
		if k, ok := byID[id]; ok {
			out = append(out, k)
			delete(byID, id) // repeated ids come once
		}
	}
	return out, nil
}

// ListOptions pages through the catalogue in id order.
type ListOptions struct {
	AfterID        int64 // exclusive cursor; 0 starts at the beginning (ids may be negative: use MinID)
	First          bool  // true: start from the smallest id, ignoring AfterID
	Limit          int   // default 100, at most 10,000
	Market         string
	IncludeDeleted bool
}

// List returns up to Limit SKUs after the cursor, in id order.
func (s *Store) List(ctx context.Context, o ListOptions) ([]SKU, error) {
	if o.Limit <= 0 {
		o.Limit = 100
	}
	if o.Limit > 10000 {
		o.Limit = 10000
	}
	rows, err := s.pool.Query(ctx, `SELECT `+skuCols+` FROM skus
		WHERE ($1 OR id > $2) AND ($3 OR live) AND ($4 = '' OR market = $4)
		ORDER BY id LIMIT $5`, o.First, o.AfterID, o.IncludeDeleted, o.Market, o.Limit)
	if err != nil {
		return nil, fmt.Errorf("list skus: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SKU, error) {
		var k SKU
		err := scanSKU(r, &k)
		return k, err
	})
}

// Count returns the number of live SKUs.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM skus WHERE live`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count skus: %w", err)
	}
	return n, nil
}

// Ordinals maps SKU ids to their ordinals (ids never seen are left out).
func (s *Store) Ordinals(ctx context.Context, ids []int64) (map[int64]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, ordinal FROM skus WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("ordinals: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]int64, len(ids))
	for rows.Next() {
		var id, ord int64
		if err := rows.Scan(&id, &ord); err != nil {
			return nil, fmt.Errorf("ordinals: %w", err)
		}
		out[id] = ord
	}
	return out, rows.Err()
}
