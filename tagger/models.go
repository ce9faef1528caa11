package tagger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

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
