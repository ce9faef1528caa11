package ingest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/internal/testdb"
	"selection/vectorindex"
)

func collect(t *testing.T, read func(fn func(Record) error) error) (good, bad []Record) {
	t.Helper()
	require.NoError(t, read(func(r Record) error {
		if r.Err != nil {
			bad = append(bad, r)
		} else {
			good = append(good, r)
		}
		return nil
	}))
	return good, bad
}

func TestReadJSONL(t *testing.T) {
	f, err := os.Open("testdata/events.jsonl")
	require.NoError(t, err)
	defer f.Close()
	good, bad := collect(t, func(fn func(Record) error) error {
		return ReadJSONL(context.Background(), "events.jsonl", f, DecodeOptions{}, fn)
	})
	require.Len(t, good, 6)
	require.Len(t, bad, 2)
	require.Equal(t, "file:events.jsonl:5", bad[0].Source, "line numbers count blank lines")
	require.Contains(t, bad[0].Err.Error(), "data.stock")
	require.Equal(t, "file:events.jsonl:6", bad[1].Source)
	require.Equal(t, []byte("not json"), bad[1].Value)
	require.Equal(t, "file:events.jsonl:9", good[5].Source)
}

func TestReadJSONLLongLine(t *testing.T) {
	in := `{"v":1,"event_id":"a","kind":"stock.update","sku_id":"1","market":"SG","event_time":"2025-01-01T00:00:00Z","data":{"stock":1}}` + "\n" +
		strings.Repeat("x", MaxLineBytes+10) + "\n" +
		`{"v":1,"event_id":"b","kind":"stock.update","sku_id":"1","market":"SG","event_time":"2025-01-01T00:00:00Z","data":{"stock":2}}`
	good, bad := collect(t, func(fn func(Record) error) error {
		return ReadJSONL(context.Background(), "x", strings.NewReader(in), DecodeOptions{}, fn)
	})
	require.Len(t, good, 2, "the lines around a too long one are read")
	require.Len(t, bad, 1)
	require.Contains(t, bad[0].Err.Error(), "longer than")
	require.Equal(t, "file:x:3", good[1].Source)
}

func TestReadCSV(t *testing.T) {
	f, err := os.Open("testdata/skus.csv")
	require.NoError(t, err)
	defer f.Close()
	at := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	good, bad := collect(t, func(fn func(Record) error) error {
		return ReadCSV(context.Background(), "skus.csv", f, CSVOptions{EventTime: at}, fn)
	})
	require.Len(t, good, 4)
	require.Len(t, bad, 3)
	require.Equal(t, "file:skus.csv:5", bad[0].Source)
	require.Contains(t, bad[0].Err.Error(), "minor units")
	require.Contains(t, bad[1].Err.Error(), "market")
	require.Contains(t, bad[2].Err.Error(), "cells")

	p := good[0].Event.Patch
	require.Equal(t, int64(601), p.ID)
	require.Equal(t, "SG", p.Market)
	require.Equal(t, "Computers > Mice", p.Category)
	require.Equal(t, int64(2990), p.Price)
	require.Equal(t, int64(3490), p.ListPrice)
	require.Equal(t, int64(25), p.Stock)
	require.JSONEq(t, `{"attr_colour":"black"}`, string(p.Attributes))
	require.Equal(t, at, p.ContentAt)
	require.Equal(t, "Mechanical keyboard, RGB", good[1].Event.Patch.Title)
	require.Equal(t, time.Date(2025, 11, 2, 0, 0, 0, 0, time.UTC), good[1].Event.Patch.PriceAt, "an event_time cell wins")
	require.False(t, good[1].Event.Patch.Has(catalog.FieldListPrice), "an empty cell is not given")
	require.True(t, strings.HasPrefix(good[0].Event.EventID, "csv-"))

	// The same file read again gives the same event ids.
	f2, _ := os.Open("testdata/skus.csv")
	defer f2.Close()
	again, _ := collect(t, func(fn func(Record) error) error {
		return ReadCSV(context.Background(), "skus.csv", f2, CSVOptions{EventTime: at}, fn)
	})
	require.Equal(t, good[0].Event.EventID, again[0].Event.EventID)
}

func TestReadCSVBadHeader(t *testing.T) {
	for _, in := range []string{"", "title,price\nx,1\n", "sku_id,colour\n1,red\n", "sku_id,sku_id\n1,2\n"} {
		err := ReadCSV(context.Background(), "x", strings.NewReader(in), CSVOptions{EventTime: time.Now()}, func(Record) error { return nil })
		require.Error(t, err, "%q", in)
	}
}

func TestDetectFormat(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	for path, want := range map[string]Format{
		"testdata/icecat_sample.json.zip":     FormatIcecat,
		"testdata/icecat_sample.json":         FormatIcecat,
		"testdata/events.jsonl":               FormatJSONL,
		"testdata/skus.csv":                   FormatCSV,
		write("lines.json", "\n {\"v\":1}\n"): FormatJSONL,
	} {
		got, err := DetectFormat(path)
		require.NoError(t, err, path)
		require.Equal(t, want, got, path)
	}
	_, err := DetectFormat(write("x.txt", "hello"))
	require.Error(t, err)
	_, err = DetectFormat(write("empty.json", "  "))
	require.Error(t, err)
}

func TestLoadFiles(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	w, err := NewWriter(db.Pool, WriterConfig{})
	require.NoError(t, err)
	var progress []LoadProgress
	res, err := LoadFile(ctx, w, "testdata/icecat_sample.json.zip", LoadConfig{BatchSize: 3,
		Progress: func(p LoadProgress) { progress = append(progress, p) }})
	require.NoError(t, err)
	require.Equal(t, 8, res.Records)
	require.Equal(t, 5, res.Applied)
	require.Equal(t, 3, res.DeadLetters)
	require.Len(t, progress, 3, "8 records in batches of 3")
	require.Equal(t, res.Total, res.Bytes, "the whole file was read")

	again, err := LoadFile(ctx, w, "testdata/icecat_sample.json.zip", LoadConfig{})
	require.NoError(t, err)
	require.Equal(t, 5, again.Duplicates, "the same products at the same event time are the same events")
	require.Zero(t, again.DeadLetters, "and the dead letters are not recorded twice")
	require.Zero(t, again.Applied)

	st, err := os.Stat("testdata/icecat_sample.json.zip")
	require.NoError(t, err)
	k, err := catalog.NewStore(db.Pool).Get(ctx, 3920564)
	require.NoError(t, err)
	require.Equal(t, "Xerox", k.Brand)
	require.Equal(t, "USD", k.Currency)
	require.Equal(t, int64(4995), k.Price)
	require.Equal(t, st.ModTime().UTC().Truncate(time.Microsecond), k.ContentAt.UTC(), "event time defaults to the file's modification time")

	res, err = LoadFile(ctx, w, "testdata/events.jsonl", LoadConfig{Tier: TierHourly})
	require.NoError(t, err)
	require.Equal(t, LoadResult{Path: "testdata/events.jsonl", Records: 8, Applied: 5, Duplicates: 1, DeadLetters: 2,
		Bytes: res.Total, Total: res.Total, Elapsed: res.Elapsed, CurrentBatchSize: 8}, res)
	k, err = catalog.NewStore(db.Pool).Get(ctx, 501)
	require.NoError(t, err)
	require.Equal(t, int64(990), k.Price)
	require.Equal(t, int64(1590), k.ListPrice)
	require.Equal(t, float32(4.6), k.Rating)
	_, err = catalog.NewStore(db.Pool).Get(ctx, 502)
	require.ErrorIs(t, err, catalog.ErrNotFound, "deleted")

	res, err = LoadFile(ctx, w, "testdata/skus.csv", LoadConfig{Tier: TierHourly, EventTime: time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Equal(t, 4, res.Applied)
	require.Equal(t, 3, res.DeadLetters)
	k, err = catalog.NewStore(db.Pool).Get(ctx, 607)
	require.NoError(t, err)
	require.Equal(t, "Headset", k.Title)

	var tiers string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT string_agg(tier || '=' || n, ',' ORDER BY tier) FROM
		(SELECT tier, count(*) n FROM sku_events GROUP BY tier) x`).Scan(&tiers))
	require.Equal(t, "batch=5,hourly=9", tiers)
	require.Equal(t, 8, countRows(t, db.Pool, `SELECT count(*) FROM dead_letters WHERE source LIKE 'file:%'`))
}

// The whole Icecat catalogue through the apply path (what the demo and the evals load).
func TestLoadIcecatFull(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 19,406 products")
	}
	dir := icecatDir(t)
	db := testdb.New(t)
	ctx := context.Background()
	w, err := NewWriter(db.Pool, WriterConfig{})
	require.NoError(t, err)
	files, err := IcecatFiles(dir)
	require.NoError(t, err)
	total := 0
	for _, f := range files {
		res, err := LoadFile(ctx, w, f, LoadConfig{BatchSize: 5000, EventTime: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
		require.NoError(t, err)
		require.Zero(t, res.DeadLetters)
		total += res.Applied
	}
	require.Equal(t, 19406, total)
	n, err := catalog.NewStore(db.Pool).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 19406, int(n))
	b, err := vectorindex.QueueBacklog(ctx, db.Pool)
	require.NoError(t, err)
	require.Equal(t, int64(19406), b.Count, "every new SKU waits for its embedding")
}

func FuzzReadJSONL(f *testing.F) {
	seed, err := os.ReadFile("testdata/events.jsonl")
	require.NoError(f, err)
	f.Add(seed)
	f.Add([]byte("\n\n{}\n"))
	f.Add([]byte("{\"v\":1}\r\n[1,2]"))
	f.Fuzz(func(t *testing.T, in []byte) {
		lines := 0
		for _, l := range bytes.Split(in, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines++
			}
		}
		n := 0
		err := ReadJSONL(context.Background(), "fuzz", bytes.NewReader(in), DecodeOptions{Now: testNow}, func(r Record) error {
			n++
			if r.Err == nil {
				if err := r.Event.Patch.Validate(); err != nil {
					t.Fatalf("accepted an invalid event: %v", err)
				}
			} else if r.Err.Error() == "" {
				t.Fatal("a rejection without a reason")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != lines {
			t.Fatalf("%d records for %d non-blank lines", n, lines)
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	seed, err := os.ReadFile("testdata/skus.csv")
	require.NoError(f, err)
	f.Add(seed)
	f.Add([]byte("sku_id,price\n1,2\n\"3,4\n"))
	f.Add([]byte("SKU_ID,Title,attributes\n7,x,\"{\"\"a\"\":1}\"\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = ReadCSV(context.Background(), "fuzz", bytes.NewReader(in), CSVOptions{EventTime: testNow.Add(-time.Hour), Decode: DecodeOptions{Now: testNow}}, func(r Record) error {
			if r.Err == nil {
				if err := r.Event.Patch.Validate(); err != nil {
					t.Fatalf("accepted an invalid row: %v", err)
				}
				if r.Event.EventID == "" {
					t.Fatal("no event id")
				}
			} else if r.Err.Error() == "" {
				t.Fatal("a rejection without a reason")
			}
			return nil
		})
	})
}

// Finding 8: file dead letters are keyed by the file's name and line and a digest of the bad
// line, so reloading the same file records nothing new, while a corrected file of the same name
// whose line is bad in a new way keeps its new dead letter.
func TestFinding8CorrectedFileKeepsNewDeadLetters(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	w, err := NewWriter(db.Pool, WriterConfig{})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "events.jsonl")
	good := `{"v":1,"event_id":"f1","kind":"sku.upsert","sku_id":"9001","market":"SG","event_time":"2025-11-01T00:00:00Z","data":{"title":"A"}}`
	load := func(second string) LoadResult {
		t.Helper()
		require.NoError(t, os.WriteFile(path, []byte(good+"\n"+second+"\n"), 0o600))
		res, err := LoadFile(ctx, w, path, LoadConfig{})
		require.NoError(t, err)
		return res
	}

	first := `{"v":1,"event_id":"f2","kind":"price.update","sku_id":"9001","market":"SG","event_time":"2025-11-01T00:00:00Z","data":{"price":-1}}`
	require.Equal(t, 1, load(first).DeadLetters)
	require.Zero(t, load(first).DeadLetters, "reloading the same file records nothing new")
	corrected := `{"v":1,"event_id":"f2","kind":"price.update","sku_id":"9001","market":"SG","event_time":"2025-11-01T00:00:00Z","data":{"price":"5"}}`
	require.Equal(t, 1, load(corrected).DeadLetters, "the corrected file's line is bad in a new way")
	require.Zero(t, load(corrected).DeadLetters)

	rows, err := db.Pool.Query(ctx, `SELECT source, value FROM dead_letters ORDER BY id`)
	require.NoError(t, err)
	var sources, values []string
	for rows.Next() {
		var s string
		var v []byte
		require.NoError(t, rows.Scan(&s, &v))
		sources, values = append(sources, s), append(values, string(v))
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{first, corrected}, values)
	for _, s := range sources {
		require.True(t, strings.HasPrefix(s, "file:"+filepath.ToSlash(path)+":2#"), s)
	}
}
