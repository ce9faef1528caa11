package tagger

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"selection/filter"
)

// rowCols are the columns of skus a filter.Row is read from; the title and the colour and
// device-type attributes are read for the product-type classifier (Store.classify), not stored.
var rowCols = `title, coalesce(attributes->>'attr_t_product_colour', ''), coalesce(attributes->>'attr_t_device_type', ''), ordinal, id, live, market, brand, category, product_type, currency,
	price, list_price, stock, rating, rating_count, sales_1h, sales_24h, sales_7d,
	gmv_1h, gmv_24h, gmv_7d, views_1h, views_24h, views_7d, ` + filter.ReleasedDaySQL("released_at")

func (s *Store) scanRow(rows pgx.Rows, r *filter.Row) error {
	var rating float32
	var listPrice int64
	var title, colour, device string
	n := &r.Num
	c := &r.Cat
	err := rows.Scan(&title, &colour, &device, &r.Ordinal, &r.ID, &r.Live,
		&c[filter.CatMarket], &c[filter.CatBrand], &c[filter.CatCategory], &c[filter.CatProductType], &c[filter.CatCurrency],
		&n[filter.NumPrice], &listPrice, &n[filter.NumStock], &rating, &n[filter.NumRatingCount],
		&n[filter.NumSales1h], &n[filter.NumSales24h], &n[filter.NumSales7d],
		&n[filter.NumGMV1h], &n[filter.NumGMV24h], &n[filter.NumGMV7d],
		&n[filter.NumViews1h], &n[filter.NumViews24h], &n[filter.NumViews7d], &n[filter.NumReleased])
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
	s.classify(r, title, colour, device, n[filter.NumPrice])
	s.words.note(r.Ordinal, r.Live, title)
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
