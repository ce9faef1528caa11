package vectorindex

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
)

// ErrNotFound is returned when a SKU has no stored vector.
var ErrNotFound = errors.New("vector not found")

// ErrDimension is wrapped by the error CheckDimension returns on a mismatch.
var ErrDimension = errors.New("embedding dimension mismatch")

// DBTX is what the store needs from a pool or a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error)
}

// Vector is one row of sku_vectors.
type Vector struct {
	SKUID       int64
	Ordinal     int64 // the SKU's ordinal (filled by the store from skus; ignored on upsert)
	Model       string
	ContentHash []byte // skus.content_hash of the text that was embedded
	Embedding   []float32
	UpdatedAt   time.Time
}

// Rejected is an input the store refused, and why; the rest of the batch is still written.
type Rejected struct {
	SKUID  int64
	Reason string
}

// UpsertResult says what an upsert did.
type UpsertResult struct {
	Written  int        // rows inserted or updated
	Unknown  int        // vectors for SKU ids that are not in skus (dropped)
	Rejected []Rejected // bad vectors (wrong dimension, NaN/Inf, zero norm), not written
}

// Store reads and writes sku_vectors.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Pool is the store's pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

const vectorStageDDL = `CREATE TEMP TABLE IF NOT EXISTS sku_vector_stage (
	sku_id bigint, model text, content_hash bytea, embedding vector
) ON COMMIT DELETE ROWS`

// checkVector says what is wrong with v for a column of dimension dim, or "".
func checkVector(v []float32, dim int) string {
	if len(v) != dim {
		return fmt.Sprintf("embedding has %d dimensions, sku_vectors.embedding has %d", len(v), dim)
	}
	var n float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return "embedding holds NaN or Inf"
		}
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return "embedding is all zeros (cosine distance undefined)"
	}
	return ""
}

// Upsert writes vectors in a transaction of its own; see UpsertTx.
func (s *Store) Upsert(ctx context.Context, vecs []Vector) (UpsertResult, error) {
	var res UpsertResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		res, err = UpsertTx(ctx, tx, vecs)
		return err
	})
	return res, err
}

// UpsertTx writes vectors inside tx: one COPY into a temporary stage, then one
// INSERT ... ON CONFLICT (sku_id) DO UPDATE that takes each SKU's ordinal from skus. Bad vectors
// (wrong dimension for the column, NaN/Inf, all zeros) are rejected and the rest written; a SKU
// listed twice keeps its last vector. updated_at is the statement's clock time, so the in-memory
// index sees the row at most one commit duration after the stamp.
func UpsertTx(ctx context.Context, tx DBTX, vecs []Vector) (UpsertResult, error) {
	var res UpsertResult
	if len(vecs) == 0 {
		return res, nil
	}
	dim, err := columnDimension(ctx, tx)
	if err != nil {
		return res, err
	}
	last := make(map[int64]int, len(vecs))
	for i := range vecs {
		if why := checkVector(vecs[i].Embedding, dim); why != "" {
			res.Rejected = append(res.Rejected, Rejected{vecs[i].SKUID, why})
			continue
		}
		last[vecs[i].SKUID] = i
	}
	good := make([]int, 0, len(last))
	for i := range vecs {
		if j, ok := last[vecs[i].SKUID]; ok && j == i {
			good = append(good, i)
		}
	}
	if len(good) == 0 {
		return res, nil
	}
	if _, err := tx.Exec(ctx, vectorStageDDL); err != nil {
		return res, fmt.Errorf("create vector stage: %w", err)
	}
	if _, err := tx.Exec(ctx, "TRUNCATE sku_vector_stage"); err != nil {
		return res, fmt.Errorf("clear vector stage: %w", err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"sku_vector_stage"}, []string{"sku_id", "model", "content_hash", "embedding"},
		pgx.CopyFromSlice(len(good), func(i int) ([]any, error) {
			v := &vecs[good[i]]
			h := v.ContentHash
			if h == nil {
				h = []byte{}
			}
			return []any{v.SKUID, v.Model, h, pgvector.NewVector(v.Embedding)}, nil
		}))
	if err != nil {
		return res, fmt.Errorf("copy to vector stage: %w", err)
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO sku_vectors AS v (sku_id, ordinal, model, content_hash, embedding, updated_at)
		SELECT st.sku_id, s.ordinal, st.model, st.content_hash, st.embedding, clock_timestamp()
		FROM sku_vector_stage st JOIN skus s ON s.id = st.sku_id
		ON CONFLICT (sku_id) DO UPDATE SET model = excluded.model, content_hash = excluded.content_hash,
			embedding = excluded.embedding, updated_at = excluded.updated_at`)
	if err != nil {
		return res, fmt.Errorf("upsert sku_vectors: %w", err)
	}
	res.Written = int(tag.RowsAffected())
	res.Unknown = len(good) - res.Written
	return res, nil
}

// Delete removes the vectors of ids and returns how many existed.
func (s *Store) Delete(ctx context.Context, ids []int64) (int, error) {
	return DeleteTx(ctx, s.pool, ids)
}

// DeleteTx is Delete inside tx.
func DeleteTx(ctx context.Context, tx DBTX, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `DELETE FROM sku_vectors WHERE sku_id = ANY($1)`, ids)
	if err != nil {
		return 0, fmt.Errorf("delete sku_vectors: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Get returns the stored vector of a SKU, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, skuID int64) (Vector, error) {
	var v Vector
	var emb pgvector.Vector
	err := s.pool.QueryRow(ctx, `SELECT sku_id, ordinal, model, content_hash, embedding, updated_at
		FROM sku_vectors WHERE sku_id = $1`, skuID).
		Scan(&v.SKUID, &v.Ordinal, &v.Model, &v.ContentHash, &emb, &v.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("sku %d: %w", skuID, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("get vector of sku %d: %w", skuID, err)
	}
	v.Embedding = emb.Slice()
	return v, nil
}

// Count returns the number of stored vectors.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM sku_vectors`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count sku_vectors: %w", err)
	}
	return n, nil
}

// columnDimension reads the declared dimension of sku_vectors.embedding (vector(N) stores N as
// its type modifier; -1 means undeclared).
func columnDimension(ctx context.Context, db DBTX) (int, error) {
	var typ string
	var mod int
	err := db.QueryRow(ctx, `SELECT format_type(a.atttypid, a.atttypmod), a.atttypmod
		FROM pg_attribute a
		WHERE a.attrelid = to_regclass('sku_vectors') AND a.attname = 'embedding' AND NOT a.attisdropped`).
		Scan(&typ, &mod)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errors.New("table sku_vectors has no embedding column: run `selection migrate up`")
	}
	if err != nil {
		return 0, fmt.Errorf("read sku_vectors.embedding type: %w", err)
	}
	if !strings.HasPrefix(typ, "vector") {
		return 0, fmt.Errorf("sku_vectors.embedding is %s, want vector(N)", typ)
	}
	return mod, nil
}

// CheckDimension verifies at start-up that sku_vectors.embedding is declared vector(dim), dim
// being the configured embedder's dimension. On a mismatch the error (wrapping ErrDimension)
// says both numbers and the two ways out: a new migration that changes the column (and
// re-embeds), or embedding settings that produce the column's dimension.
func CheckDimension(ctx context.Context, db DBTX, dim int) error {
	got, err := columnDimension(ctx, db)
	if err != nil {
		return err
	}
	if got == dim {
		return nil
	}
	col := "vector (no dimension declared)"
	if got > 0 {
		col = "vector(" + strconv.Itoa(got) + ")"
	}
	return fmt.Errorf("%w: the embedding model produces %d-dimensional vectors but sku_vectors.embedding is %s; "+
		"either add a migration that changes the column to vector(%d) (ALTER TABLE sku_vectors ALTER COLUMN embedding TYPE vector(%d), "+
		"after deleting the old vectors, and rebuild the HNSW index; then run `selection embed` to re-embed every SKU), "+
		"or change the embedding provider/model/dimension settings (SELECTION_MODEL_DIR and the embedding settings in `selection config`) "+
		"to a model with %d dimensions",
		ErrDimension, dim, col, dim, dim, got)
}
