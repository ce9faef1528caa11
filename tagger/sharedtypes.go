package tagger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"

	"selection/internal/pg"
	"selection/prodtype"
)

// Shared product types. Several replicas of the service on one database must give a SKU the
// same type, or the same scenario means other SKUs on each. Two things decide a type beyond
// the SKU's own row, and both live in Postgres:
//
//   - the model (type_models): learned once and stored; every replica classifies with the
//     newest stored model. A load learns a new one only when none is stored, the stored one
//     knows no type while the catalogue has live SKUs (it was learned over an empty
//     catalogue), or the catalogue has grown past RelearnGrowth times the live SKUs it was
//     learned on; an advisory lock makes replicas that start together learn once. A replica
//     that sees a newer model than its own reloads.
//   - the neighbours' votes (sku_types): only the leader (Config.Leader) votes; it writes each
//     batch of votes to sku_types, and every replica, the leader too, applies the votes in
//     seq order. A vote records the type the SKU's text gave it when voted on (was) and
//     applies while the text still says that, whatever the replica thinks of weak types now.

// RelearnGrowth is how many times the live SKUs a stored model was learned on the catalogue
// must exceed for a load to learn a new model.
const RelearnGrowth = 2

// votePage bounds the votes one read of sku_types takes.
const votePage = 10_000

// typeVote is a neighbours' vote for one SKU: the type, why, and the text's type it replaces.
type typeVote struct {
	prodtype.Assignment
	was string
}

// LoadTypes makes the stored product-type model current, learning and storing a new one when
// none fits the catalogue (see above), and loads the votes cast under it. It returns the model
// and its id.
func (s *Store) LoadTypes(ctx context.Context) (*prodtype.Model, int64, error) {
	var m *prodtype.Model
	var id, learnedOn int64
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext('type model' || current_schema()))`, pg.LeaseClass); err != nil {
			return err
		}
		var live int64
		var raw []byte
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM skus WHERE live`).Scan(&live); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT id, skus, model FROM type_models ORDER BY id DESC LIMIT 1`).Scan(&id, &learnedOn, &raw)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err == nil {
			m = new(prodtype.Model)
			if err := json.Unmarshal(raw, m); err != nil {
				return fmt.Errorf("model %d: %w", id, err)
			}
			if !outgrown(m, learnedOn, live) {
				return nil
			}
		}
		if m, err = learnTypes(ctx, tx); err != nil {
			return err
		}
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO type_models (skus, model) VALUES ($1, $2) RETURNING id`, live, b).Scan(&id); err != nil {
			return err
		}
		learnedOn = live
		// The votes of older models go with them.
		_, err = tx.Exec(ctx, `DELETE FROM type_models WHERE id < $1`, id)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("load product types: %w", err)
	}
	votes, seq, err := s.readVotes(ctx, id, 0, 0)
	if err != nil {
		return nil, 0, err
	}
	nb := make(map[int64]typeVote, len(votes))
	for _, v := range votes {
		nb[v.ordinal] = v.typeVote
	}
	s.types.mu.Lock()
	s.types.model, s.types.modelID, s.types.learnedOn, s.types.neighbour, s.types.voteSeq = m, id, learnedOn, nb, seq
	s.types.mu.Unlock()
	return m, id, nil
}

// outgrown reports whether a catalogue of live SKUs needs a new model instead of m, learned on
// learnedOn of them: m knows no type while SKUs exist, the catalogue has grown past
// RelearnGrowth times what m was learned on, or an older learner learned m.
func outgrown(m *prodtype.Model, learnedOn, live int64) bool {
	return (m.Len() == 0 && live > 0) || live > RelearnGrowth*learnedOn || m.Learner() < prodtype.LearnerVersion
}

// learnTypes learns the product-type model from the live catalogue.
func learnTypes(ctx context.Context, q Querier) (*prodtype.Model, error) {
	rows, err := q.Query(ctx, typesSQL)
	if err != nil {
		return nil, fmt.Errorf("learn product types: %w", err)
	}
	docs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (prodtype.Doc, error) {
		var d prodtype.Doc
		err := r.Scan(&d.Title, &d.Brand, &d.Feed, &d.Colour, &d.Device, &d.Price)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("learn product types: %w", err)
	}
	return prodtype.Learn(docs, prodtype.Config{}), nil
}

// newestModel is the id of the newest stored model (0: none).
func (s *Store) newestModel(ctx context.Context) (int64, error) {
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM type_models`).Scan(&id); err != nil {
		return 0, fmt.Errorf("newest product-type model: %w", err)
	}
	return id, nil
}

// storedVote is a row of sku_types.
type storedVote struct {
	ordinal int64
	typeVote
}

// readVotes reads the votes of model id with seq above after, at most limit of them (0: all),
// in seq order, and the highest seq read (after when none).
func (s *Store) readVotes(ctx context.Context, id, after int64, limit int) ([]storedVote, int64, error) {
	q := `SELECT ordinal, was, type, why, seq FROM sku_types WHERE model_id = $1 AND seq > $2 ORDER BY seq`
	args := []any{id, after}
	if limit > 0 {
		q += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, after, fmt.Errorf("read type votes: %w", err)
	}
	defer rows.Close()
	var out []storedVote
	seq := after
	for rows.Next() {
		var v storedVote
		if err := rows.Scan(&v.ordinal, &v.was, &v.Type, &v.Why, &seq); err != nil {
			return nil, after, fmt.Errorf("read type votes: %w", err)
		}
		v.Source = prodtype.SourceNeighbour
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("read type votes: %w", err)
	}
	return out, seq, nil
}

// writeVotes stores votes cast under model id (a later vote for the same SKU replaces the
// earlier and takes a new seq).
func (s *Store) writeVotes(ctx context.Context, id int64, votes map[int64]typeVote) error {
	if len(votes) == 0 {
		return nil
	}
	ords := make([]int64, 0, len(votes))
	was, types, whys := make([]string, 0, len(votes)), make([]string, 0, len(votes)), make([]string, 0, len(votes))
	for o, v := range votes {
		ords, was, types, whys = append(ords, o), append(was, v.was), append(types, v.Type), append(whys, v.Why)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sku_types (model_id, ordinal, was, type, why)
		SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[])
		ON CONFLICT (model_id, ordinal) DO UPDATE SET was = excluded.was, type = excluded.type, why = excluded.why,
			seq = nextval('sku_types_seq'), voted_at = now()`, id, ords, was, types, whys)
	if err != nil {
		return fmt.Errorf("write type votes: %w", err)
	}
	return nil
}

// leader reports whether this tagger votes on types (Config.Leader; nil: always).
func (t *Tagger) leader() bool { return t.cfg.Leader == nil || t.cfg.Leader() }

// followVotesLocked applies the votes stored since the last read: each SKU whose type in the
// index differs from its vote is read again (classify applies the vote while the SKU's text
// still says what it said when voted on). It returns how many SKUs it read again.
func (t *Tagger) followVotesLocked(ctx context.Context) (int, error) {
	total := 0
	for {
		t.store.types.mu.RLock()
		id, after := t.store.types.modelID, t.store.types.voteSeq
		t.store.types.mu.RUnlock()
		votes, seq, err := t.store.readVotes(ctx, id, after, votePage)
		if err != nil || len(votes) == 0 {
			return total, err
		}
		n, err := t.applyVotesLocked(ctx, id, votes, seq)
		total += n
		if err != nil || len(votes) < votePage {
			return total, err
		}
	}
}

// applyVotesLocked records votes of model id (read up to seq) and reads again the SKUs whose
// indexed type differs from their vote.
func (t *Tagger) applyVotesLocked(ctx context.Context, id int64, votes []storedVote, seq int64) (int, error) {
	var ids []int64
	done := roaring64.New()
	t.store.types.mu.Lock()
	if t.store.types.modelID != id {
		t.store.types.mu.Unlock()
		return 0, nil // the model changed meanwhile: its votes are read afresh
	}
	if t.store.types.neighbour == nil {
		t.store.types.neighbour = map[int64]typeVote{}
	}
	for _, v := range votes {
		t.store.types.neighbour[v.ordinal] = v.typeVote
		if t.ix.TypeOf(v.ordinal) == v.Type {
			done.Add(uint64(v.ordinal))
			continue
		}
		if sku, ok := t.ix.SKUID(v.ordinal); ok {
			ids = append(ids, sku)
		}
	}
	t.store.types.voteSeq = max(t.store.types.voteSeq, seq)
	if t.store.types.pending != nil {
		t.store.types.pending.AndNot(done)
	}
	t.store.types.mu.Unlock()
	if len(ids) == 0 {
		return 0, nil
	}
	rows, err := t.store.Rows(ctx, t.store.pool, ids)
	if err != nil {
		return 0, fmt.Errorf("tagger: apply type votes: %w", err)
	}
	// A new type can move the SKU in or out of rule tags on product_type and of prototype tags
	// that admit the types they name below their threshold.
	return len(rows), t.applyRowsLocked(ctx, rows)
}

// checkModelLocked reloads the index when another replica stored a newer model, or, on the
// leader, when the catalogue has grown past RelearnGrowth times what the model was learned on
// (the load learns the new one). It reports whether it reloaded.
func (t *Tagger) checkModelLocked(ctx context.Context) (bool, error) {
	newest, err := t.store.newestModel(ctx)
	if err != nil {
		return false, err
	}
	t.store.types.mu.RLock()
	id, m, learnedOn := t.store.types.modelID, t.store.types.model, t.store.types.learnedOn
	t.store.types.mu.RUnlock()
	load := t.loadLocked
	switch {
	case newest != id:
	case t.leader() && m != nil && outgrown(m, learnedOn, int64(t.ix.LiveCount())):
		// Grown by the index's count: LoadTypes decides on the table's (and learns); the
		// index is built again only when it did.
		_, now, err := t.store.LoadTypes(ctx)
		if err != nil || now == id {
			return false, err
		}
		load = t.loadIndexLocked
	default:
		return false, nil
	}
	start := time.Now()
	if _, err := load(ctx); err != nil {
		return false, err
	}
	t.store.types.mu.RLock()
	t.cfg.Logger.Info("tagger: product-type model changed; index reloaded", "model", t.store.types.modelID,
		"types", t.store.types.model.Len(), "took", time.Since(start).Round(time.Millisecond))
	t.store.types.mu.RUnlock()
	return true, nil
}

// modelCheckInterval is how often a poll looks for a newer stored model (one indexed query).
const modelCheckInterval = 5 * time.Second

// applyAllVotesLocked applies every vote of the current model (a load's: the index may come
// from a snapshot older than some votes).
func (t *Tagger) applyAllVotesLocked(ctx context.Context) (int, error) {
	t.store.types.mu.RLock()
	id, seq := t.store.types.modelID, t.store.types.voteSeq
	votes := make([]storedVote, 0, len(t.store.types.neighbour))
	for o, v := range t.store.types.neighbour {
		votes = append(votes, storedVote{ordinal: o, typeVote: v})
	}
	t.store.types.mu.RUnlock()
	return t.applyVotesLocked(ctx, id, votes, seq)
}

// snapshotModel reports an error when the saved index snapshot's product types were made with
// another model than the current one (the load then builds from skus).
func (s *Store) snapshotModel(ctx context.Context) error {
	var made int64
	if err := s.pool.QueryRow(ctx, `SELECT type_model FROM tag_index_state`).Scan(&made); err != nil {
		return fmt.Errorf("index snapshot's product-type model: %w", err)
	}
	s.types.mu.RLock()
	id := s.types.modelID
	s.types.mu.RUnlock()
	if made != id {
		return fmt.Errorf("the snapshot's product types come from model %d, not the current %d", made, id)
	}
	return nil
}

// markSnapshotModel records the current model as the one the saved snapshot was made with.
func (s *Store) markSnapshotModel(ctx context.Context) error {
	s.types.mu.RLock()
	id := s.types.modelID
	s.types.mu.RUnlock()
	if _, err := s.pool.Exec(ctx, `UPDATE tag_index_state SET type_model = $1`, id); err != nil {
		return fmt.Errorf("index snapshot's product-type model: %w", err)
	}
	return nil
}
