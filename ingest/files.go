package ingest

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Format is a batch file format.
type Format string

// The batch file formats.
const (
	FormatIcecat Format = "icecat" // one JSON array of Icecat products, plain or zipped
	FormatJSONL  Format = "jsonl"  // one event envelope per line
	FormatCSV    Format = "csv"    // a header row, then one sku.upsert per row
)

// ParseFormat reads a format name; "" and "auto" mean detect from the file.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "", "auto":
		return "", nil
	case FormatIcecat, FormatJSONL, FormatCSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (icecat, jsonl or csv)", s)
}

// DetectFormat tells a file's format from its name, and for .json files from its first byte:
// .zip is Icecat, .jsonl and .ndjson are JSONL, .csv is CSV, and a .json file is Icecat when it
// starts with '[' and JSONL when it starts with '{'.
func DetectFormat(path string) (Format, error) {
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".zip"):
		return FormatIcecat, nil
	case strings.HasSuffix(lower, ".jsonl"), strings.HasSuffix(lower, ".ndjson"):
		return FormatJSONL, nil
	case strings.HasSuffix(lower, ".csv"):
		return FormatCSV, nil
	case strings.HasSuffix(lower, ".json"):
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		br := bufio.NewReader(f)
		for {
			c, err := br.ReadByte()
			if err != nil {
				return "", fmt.Errorf("%s: empty file", path)
			}
			switch c {
			case ' ', '\t', '\r', '\n', 0xEF, 0xBB, 0xBF: // whitespace, a UTF-8 byte order mark
				continue
			case '[':
				return FormatIcecat, nil
			case '{':
				return FormatJSONL, nil
			}
			return "", fmt.Errorf("%s: neither a JSON array nor JSON lines", path)
		}
	}
	return "", fmt.Errorf("%s: unknown file type (want .zip, .json, .jsonl, .ndjson or .csv; or say --format)", path)
}

// contentID is a deterministic event id: prefix, then a digest of the content and event time.
func contentID(prefix string, content []byte, at time.Time) string {
	h := sha256.New()
	h.Write(content)
	h.Write([]byte(at.UTC().Format(time.RFC3339Nano)))
	return prefix + "-" + hex.EncodeToString(h.Sum(nil)[:10])
}

// MaxLineBytes bounds one JSONL line; a longer one is a dead letter.
const MaxLineBytes = 1 << 20

// ReadJSONL streams the events of a JSON-lines file to fn, one Record per non-blank line:
// decoded, or (Err set) rejected with the reason. name labels the records' sources
// (file:<name>:<line>). Only a read error, fn's error or ctx stop it.
func ReadJSONL(ctx context.Context, name string, r io.Reader, o DecodeOptions, fn func(Record) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		if line%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		b, tooLong, err := readLine(br)
		if len(b) > 0 || tooLong {
			src := "file:" + name + ":" + strconv.Itoa(line)
			b = bytes.TrimSpace(b)
			var rec Record
			switch {
			case tooLong:
				rec = Reject(src, b[:min(len(b), 1024)], &ValidationError{Reason: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)})
			case len(b) == 0:
			default:
				d, derr := DecodeEvent(b, o)
				if derr != nil {
					rec = Reject(src, slicesClone(b), derr)
				} else {
					rec = Record{Source: src, Event: d, Partition: -1, Offset: -1}
				}
			}
			if rec.Source != "" {
				if ferr := fn(rec); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", name, line, err)
		}
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// readLine returns the next line without its newline. A line longer than MaxLineBytes is
// returned cut, with tooLong set, and the rest of it skipped.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes {
			tooLong = true
			if len(buf) < MaxLineBytes {
				buf = append(buf, chunk[:MaxLineBytes-len(buf)]...)
			}
		} else {
			buf = append(buf, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		return buf, tooLong, err
	}
}

// CSVColumns are the columns a CSV file may have (header names, any case, any order). sku_id is
// required; every other cell may be empty, meaning "not given". Each row is one sku.upsert
// event (or sku.delete with kind=sku.delete) validated as a JSON event would be.
var CSVColumns = []string{"event_id", "kind", "sku_id", "market", "event_time", "title", "description",
	"brand", "category", "product_type", "attributes", "released_at", "currency", "price", "list_price", "stock"}

// CSVOptions tune ReadCSV.
type CSVOptions struct {
	// EventTime is the event time of rows without an event_time cell (a file's modification
	// time is the natural choice). Required when rows lack it.
	EventTime time.Time
	// Market of rows without a market cell. Default: ALL.
	Market string
	Decode DecodeOptions
}

// ReadCSV streams the rows of a CSV file to fn as Records. Columns: see CSVColumns; besides
// them, every column named attr_* becomes an attribute (key = column name, value = the cell as
// a string). Prices are integers in minor units. A row without an event_id gets one derived from
// its content and event time, so loading a file twice records nothing new. A bad row becomes a
// rejected Record; a bad header stops the read.
func ReadCSV(ctx context.Context, name string, r io.Reader, o CSVOptions, fn func(Record) error) error {
	if o.Market == "" {
		o.Market = "ALL"
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%s: header row: %w", name, err)
	}
	col := map[string]int{}
	var attrCols []int
	known := map[string]bool{}
	for _, c := range CSVColumns {
		known[c] = true
	}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
		header[i] = h
		if _, dup := col[h]; dup {
			return fmt.Errorf("%s: column %q appears twice", name, h)
		}
		switch {
		case known[h]:
			col[h] = i
		case strings.HasPrefix(h, "attr_") && len(h) > 5:
			col[h] = i
			attrCols = append(attrCols, i)
		default:
			return fmt.Errorf("%s: unknown column %q (known: %s, and attr_*)", name, h, strings.Join(CSVColumns, ", "))
		}
	}
	if _, ok := col["sku_id"]; !ok {
		return fmt.Errorf("%s: no sku_id column", name)
	}
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var rec Record
		var pe *csv.ParseError
		if err != nil && (!errors.As(err, &pe) || errors.Is(pe.Err, csv.ErrFieldCount)) {
			return fmt.Errorf("%s: %w", name, err)
		}
		var line int
		if err != nil {
			line = pe.StartLine
		} else {
			line, _ = cr.FieldPos(0)
		}
		src := "file:" + name + ":" + strconv.Itoa(line)
		if err != nil {
			// A quoting error spoils this row only; csv.Reader goes on with the next line.
			rec = Reject(src, []byte(strings.Join(row, ",")), &ValidationError{Reason: "malformed CSV: " + pe.Err.Error()})
		} else if len(row) != len(header) {
			rec = Reject(src, []byte(strings.Join(row, ",")), &ValidationError{Reason: fmt.Sprintf("%d cells, the header has %d", len(row), len(header))})
		} else {
			rec = csvRecord(src, header, row, col, attrCols, o)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// csvRecord turns one CSV row into the record of its event (the envelope the JSONL form would
// carry, decoded like one), or a rejected record naming the cell at fault.
func csvRecord(src string, header, row []string, col map[string]int, attrCols []int, o CSVOptions) Record {
	r := csvRow{header: header, row: row, col: col}
	raw := []byte(strings.Join(row, ","))
	reject := func(field, format string, a ...any) Record {
		return Reject(src, raw, &ValidationError{Field: field, Reason: fmt.Sprintf(format, a...)})
	}
	env := map[string]any{"v": SchemaVersion}
	id, _ := r.cell("sku_id")
	env["sku_id"] = id
	market := o.Market
	if v, ok := r.cell("market"); ok {
		market = v
	}
	env["market"] = market
	kind := string(KindUpsert)
	if v, ok := r.cell("kind"); ok {
		kind = v
	}
	env["kind"] = kind
	at := o.EventTime
	if v, ok := r.cell("event_time"); ok {
		t, err := parseTime(v)
		if err != nil {
			return reject("event_time", "%v", err)
		}
		at = t
	}
	if at.IsZero() {
		return reject("event_time", "required (no event_time cell and no default event time)")
	}
	env["event_time"] = at.UTC().Format(time.RFC3339Nano)
	data, err := r.data(attrCols)
	if err != nil {
		return Reject(src, raw, err)
	}
	if kind != string(KindDelete) || len(data) > 0 {
		env["data"] = data
	}
	content, _ := json.Marshal([]any{env, row}) // maps and strings: cannot fail
	if v, ok := r.cell("event_id"); ok {
		env["event_id"] = v
	} else {
		env["event_id"] = contentID("csv", content, at)
	}
	b, err := json.Marshal(env)
	if err != nil {
		return reject("", "%v", err)
	}
	d, err := DecodeEvent(b, o.Decode)
	if err != nil {
		return Reject(src, raw, err)
	}
	return Record{Source: src, Event: d, Partition: -1, Offset: -1}
}

// csvRow is one row of a CSV file with its header and the header's column indexes.
type csvRow struct {
	header, row []string
	col         map[string]int
}

// cell returns the trimmed cell of the named column, and whether it is there and not empty.
func (r csvRow) cell(name string) (string, bool) {
	i, ok := r.col[name]
	if !ok {
		return "", false
	}
	v := strings.TrimSpace(r.row[i])
	return v, v != ""
}

// data returns the event's data object: the text and integer cells, and the attributes (the
// attributes cell's JSON object, with the attr_* cells, at attrCols, added). A cell that does
// not read is a *ValidationError.
func (r csvRow) data(attrCols []int) (map[string]any, error) {
	data := map[string]any{}
	for _, name := range []string{"title", "description", "brand", "category", "product_type", "currency", "released_at"} {
		if v, ok := r.cell(name); ok {
			data[name] = v
		}
	}
	for _, name := range []string{"price", "list_price", "stock"} {
		if v, ok := r.cell(name); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, &ValidationError{Field: "data." + name, Reason: fmt.Sprintf("%q is not an integer (money is in minor units)", v)}
			}
			data[name] = n
		}
	}
	var attrs map[string]any
	if v, ok := r.cell("attributes"); ok {
		if err := json.Unmarshal([]byte(v), &attrs); err != nil || attrs == nil {
			return nil, &ValidationError{Field: "data.attributes", Reason: "not a JSON object"}
		}
	}
	for _, i := range attrCols {
		if v := strings.TrimSpace(r.row[i]); v != "" {
			if attrs == nil {
				attrs = map[string]any{}
			}
			attrs[r.header[i]] = v
		}
	}
	if attrs != nil {
		data["attributes"] = attrs
	}
	return data, nil
}

// LoadConfig configures LoadFile.
type LoadConfig struct {
	// Tier recorded in sku_events. Default: batch.
	Tier Tier
	// Format of the file; empty detects it (DetectFormat).
	Format Format
	// BatchSize is the records per transaction. Default: 2,000.
	BatchSize int
	// EventTime of Icecat products and of CSV rows without event_time. Default: the file's
	// modification time (the time the snapshot was taken).
	EventTime time.Time
	// Progress, when set, is called after each batch.
	Progress func(LoadProgress)
}

// LoadProgress is where a load stands.
type LoadProgress struct {
	Path             string
	Bytes, Total     int64 // input bytes read (uncompressed) and their total
	Records          int
	Applied          int
	Duplicates       int
	DeadLetters      int
	Elapsed          time.Duration
	CurrentBatchSize int
}

// LoadResult is what a load did.
type LoadResult = LoadProgress

// WithDefaults fills zero fields with their defaults.
func (c LoadConfig) WithDefaults() LoadConfig {
	if c.Tier == "" {
		c.Tier = TierBatch
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 2000
	}
	return c
}

func (c LoadConfig) validate() error {
	if _, err := ParseTier(string(c.Tier)); err != nil {
		return err
	}
	if c.Format != "" {
		if _, err := ParseFormat(string(c.Format)); err != nil {
			return err
		}
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// LoadFile loads one batch file through w: every record goes through ApplyBatch in batches of
// BatchSize, so duplicates are no-ops and bad records become dead letters, and the tier is
// recorded. It returns what it did; an error means the file could not be read or the database
// failed beyond retrying (the batches committed before stay).
func LoadFile(ctx context.Context, w *Writer, path string, cfg LoadConfig) (LoadResult, error) {
	cfg = cfg.WithDefaults()
	res := LoadResult{Path: path}
	if err := cfg.validate(); err != nil {
		return res, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return res, err
	}
	if st.IsDir() {
		return res, fmt.Errorf("%s is a directory", path)
	}
	format := cfg.Format
	if format == "" {
		if format, err = DetectFormat(path); err != nil {
			return res, err
		}
	}
	at := cfg.EventTime
	if at.IsZero() {
		at = st.ModTime()
	}
	at = at.UTC().Truncate(time.Microsecond) // Postgres keeps microseconds
	start := time.Now()
	var read atomic.Int64
	var batch []Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		r, err := w.Write(ctx, cfg.Tier, batch)
		if err != nil {
			return err
		}
		res.Records += len(batch)
		res.Applied += len(r.Applied)
		res.Duplicates += r.Duplicates
		res.DeadLetters += r.DeadLetters
		res.Bytes, res.Elapsed, res.CurrentBatchSize = read.Load(), time.Since(start), len(batch)
		batch = batch[:0]
		if cfg.Progress != nil {
			cfg.Progress(res)
		}
		return nil
	}
	add := func(r Record) error {
		batch = append(batch, r)
		if len(batch) >= cfg.BatchSize {
			return flush()
		}
		return nil
	}
	err = readFile(ctx, path, format, at, &read, &res.Total, add)
	if err == nil {
		err = flush()
	}
	res.Bytes, res.Elapsed = read.Load(), time.Since(start)
	return res, err
}

// readFile opens path (a zip's .json entries, or the file itself) and streams its records.
func readFile(ctx context.Context, path string, format Format, at time.Time, read *atomic.Int64, total *int64, add func(Record) error) error {
	type entry struct {
		name string
		size int64
		open func() (io.ReadCloser, error)
	}
	var entries []entry
	if strings.HasSuffix(strings.ToLower(path), ".zip") {
		zr, err := zip.OpenReader(path)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			if f.FileInfo().IsDir() || strings.HasPrefix(f.Name, "__MACOSX/") {
				continue
			}
			entries = append(entries, entry{path + ":" + f.Name, int64(f.UncompressedSize64), f.Open})
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	} else {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		entries = append(entries, entry{path, st.Size(), func() (io.ReadCloser, error) { return os.Open(path) }})
	}
	for _, e := range entries {
		*total += e.size
	}
	for _, e := range entries {
		rc, err := e.open()
		if err != nil {
			return fmt.Errorf("open %s: %w", e.name, err)
		}
		r := countingReader{rc, read}
		name := filepath.ToSlash(e.name)
		switch format {
		case FormatJSONL:
			err = ReadJSONL(ctx, name, r, DecodeOptions{}, add)
		case FormatCSV:
			err = ReadCSV(ctx, name, r, CSVOptions{EventTime: at}, add)
		case FormatIcecat:
			// Sources name the product's index in the array; a failed add stops the read at the
			// next product.
			idx := 0
			var addErr error
			err = DecodeIcecat(ctx, name, r, func(p IcecatProduct) error {
				if addErr != nil {
					return addErr
				}
				idx++
				return add(icecatRecord(name+":"+strconv.Itoa(idx-1), p, at))
			}, func(pe *ProductError) {
				idx++
				if addErr == nil {
					addErr = add(Reject("file:"+name+":"+strconv.Itoa(pe.Index), pe.Raw,
						&ValidationError{Reason: "icecat product: " + pe.Err.Error()}))
				}
			})
			if err == nil {
				err = addErr
			}
		default:
			err = fmt.Errorf("unknown format %q", format)
		}
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func icecatRecord(name string, p IcecatProduct, at time.Time) Record {
	src := "file:" + name
	e, err := p.Event(at)
	if err != nil {
		return Reject(src, nil, err)
	}
	b, err := e.Marshal()
	if err != nil {
		return Reject(src, nil, err)
	}
	d, err := DecodeEvent(b, DecodeOptions{MaxSkew: -1})
	if err != nil {
		return Reject(src, b, err)
	}
	return Record{Source: src, Event: d, Partition: -1, Offset: -1}
}
