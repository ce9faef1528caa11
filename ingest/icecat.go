package ingest

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"selection/catalog"
)

// IcecatProduct is one product of the Icecat open catalogue (as prepared by the Chorus project).
type IcecatProduct struct {
	ID               int64      `json:"id,string"` // Icecat product id; it is also the SKU id
	Name             string     `json:"name"`      // the manufacturer's model code
	Title            string     `json:"title"`
	EAN              []string   `json:"ean,omitempty"`
	ShortDescription string     `json:"short_description,omitempty"`
	Supplier         string     `json:"supplier"` // the brand
	Price            int64      `json:"price"`    // US cents
	DateReleased     *time.Time `json:"date_released,omitempty"`
	// Attributes are the sparse attr_t_* (text), attr_n_* (number) and attr_b_* (boolean)
	// attributes, keys with their prefix.
	Attributes map[string]json.RawMessage `json:"-"`
	// ProductType is attr_t_product_type when present (1,532 of 19,406 products).
	ProductType string `json:"product_type,omitempty"`
}

// ProductError is one product that could not be decoded; the others are read regardless.
type ProductError struct {
	Path  string // file (and zip entry) it came from
	Index int    // position in that file's array, from 0
	ID    string // its "id", when it had one
	Err   error
	Raw   []byte // the product's JSON
}

func (e *ProductError) Error() string {
	id := ""
	if e.ID != "" {
		id = " (id " + e.ID + ")"
	}
	return fmt.Sprintf("%s: product %d%s: %v", e.Path, e.Index, id, e.Err)
}

func (e *ProductError) Unwrap() error { return e.Err }

// ProductErrors lists the products that could not be decoded. ReadIcecat returns it (after
// every good product was passed on) when there were any; use errors.As to tell it apart from a
// failure that stopped the read.
type ProductErrors []*ProductError

func (es ProductErrors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	return fmt.Sprintf("%d products could not be decoded; first: %v", len(es), es[0])
}

// ReadIcecat streams the products of one Icecat file to fn: path is a .json file holding one
// JSON array, or a .zip holding such files (read in name order). The array is decoded one
// product at a time. A product that cannot be decoded does not stop the others: they are
// collected and returned as ProductErrors at the end. An error from fn, a broken file or a
// canceled ctx stops the read and is returned.
func ReadIcecat(ctx context.Context, path string, fn func(IcecatProduct) error) error {
	var bad ProductErrors
	err := readIcecatFile(ctx, path, fn, func(e *ProductError) { bad = append(bad, e) })
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return bad
	}
	return nil
}

// ReadIcecatDir reads every products_*.json.zip (or, when there are none, products_*.json) of
// dir in numeric order (products_1, products_2, ...), as ReadIcecat does.
func ReadIcecatDir(ctx context.Context, dir string, fn func(IcecatProduct) error) error {
	files, err := IcecatFiles(dir)
	if err != nil {
		return err
	}
	var bad ProductErrors
	for _, f := range files {
		if err := readIcecatFile(ctx, f, fn, func(e *ProductError) { bad = append(bad, e) }); err != nil {
			return err
		}
	}
	if len(bad) > 0 {
		return bad
	}
	return nil
}

// IcecatFiles lists the products_*.json.zip files of dir (or products_*.json when there are no
// zips) in numeric order.
func IcecatFiles(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "products_*.json.zip"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		files, _ = filepath.Glob(filepath.Join(dir, "products_*.json"))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("icecat: no products_*.json.zip or products_*.json in %s", dir)
	}
	num := func(p string) int {
		b := strings.TrimPrefix(filepath.Base(p), "products_")
		if i := strings.IndexByte(b, '.'); i >= 0 {
			b = b[:i]
		}
		n, err := strconv.Atoi(b)
		if err != nil {
			return 1 << 30
		}
		return n
	}
	sort.SliceStable(files, func(i, j int) bool {
		ni, nj := num(files[i]), num(files[j])
		if ni != nj {
			return ni < nj
		}
		return files[i] < files[j]
	})
	return files, nil
}

func readIcecatFile(ctx context.Context, path string, fn func(IcecatProduct) error, bad func(*ProductError)) error {
	if strings.HasSuffix(strings.ToLower(path), ".zip") {
		zr, err := zip.OpenReader(path)
		if err != nil {
			return fmt.Errorf("icecat: open %s: %w", path, err)
		}
		defer zr.Close()
		var entries []*zip.File
		for _, f := range zr.File {
			name := f.Name
			if f.FileInfo().IsDir() || strings.HasPrefix(name, "__MACOSX/") ||
				!strings.HasSuffix(strings.ToLower(name), ".json") {
				continue
			}
			entries = append(entries, f)
		}
		if len(entries) == 0 {
			return fmt.Errorf("icecat: %s holds no .json file", path)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
		for _, f := range entries {
			rc, err := f.Open()
			if err != nil {
				return fmt.Errorf("icecat: open %s:%s: %w", path, f.Name, err)
			}
			err = DecodeIcecat(ctx, path+":"+f.Name, rc, fn, bad)
			rc.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("icecat: %w", err)
	}
	defer f.Close()
	return DecodeIcecat(ctx, path, f, fn, bad)
}

// DecodeIcecat streams one JSON array of Icecat products from r to fn. name labels errors.
// Each product that cannot be decoded goes to bad (when nil, the first one stops the read) and
// the rest continue; malformed JSON, an error from fn or a canceled ctx stop the read.
func DecodeIcecat(ctx context.Context, name string, r io.Reader, fn func(IcecatProduct) error, bad func(*ProductError)) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("icecat: %s: %w", name, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("icecat: %s: expected a JSON array, found %v", name, tok)
	}
	for i := 0; dec.More(); i++ {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("icecat: %s: product %d: %w", name, i, err)
		}
		p, id, err := decodeIcecatProduct(raw)
		if err != nil {
			pe := &ProductError{Path: name, Index: i, ID: id, Err: err, Raw: raw}
			if bad == nil {
				return pe
			}
			bad(pe)
			continue
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("icecat: %s: end of array: %w", name, err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("icecat: %s: after the array: %w", name, err)
		}
		return fmt.Errorf("icecat: %s: unexpected %v after the array", name, tok)
	}
	return nil
}

// decodeIcecatProduct decodes one array element. It returns the raw id (for error reports).
func decodeIcecatProduct(raw []byte) (IcecatProduct, string, error) {
	var p IcecatProduct
	var obj icecatObject
	if err := json.Unmarshal(raw, &obj); err != nil {
		return p, "", fmt.Errorf("not a JSON object: %w", err)
	}
	var idStr string
	if v, ok := obj["id"]; ok {
		idStr = strings.Trim(string(v), `"`)
	}
	id, err := jsonInt(obj["id"], true)
	if err != nil {
		return p, idStr, fmt.Errorf("id: %w", err)
	}
	if id <= 0 {
		return p, idStr, fmt.Errorf("id %d is not positive", id)
	}
	p.ID = id
	if err := obj.texts(&p); err != nil {
		return p, idStr, err
	}
	if p.EAN, err = obj.ean(); err != nil {
		return p, idStr, err
	}
	if p.Price, err = obj.price(); err != nil {
		return p, idStr, err
	}
	if p.DateReleased, err = obj.released(); err != nil {
		return p, idStr, err
	}
	if err := obj.attributes(&p); err != nil {
		return p, idStr, err
	}
	return p, idStr, nil
}

// icecatObject is one product of an Icecat file, by key.
type icecatObject map[string]json.RawMessage

// str reads the string at key into dst; a missing or null key leaves dst alone.
func (obj icecatObject) str(key string, dst *string) error {
	v, ok := obj[key]
	if !ok || string(v) == "null" {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("%s is not a string", key)
	}
	return nil
}

// texts reads the name, title (the name when there is none), short description and supplier.
func (obj icecatObject) texts(p *IcecatProduct) error {
	for _, f := range []struct {
		key string
		dst *string
	}{{"name", &p.Name}, {"title", &p.Title}, {"short_description", &p.ShortDescription}, {"supplier", &p.Supplier}} {
		if err := obj.str(f.key, f.dst); err != nil {
			return err
		}
	}
	p.Title = strings.TrimSpace(p.Title)
	if p.Title == "" {
		p.Title = strings.TrimSpace(p.Name)
	}
	if p.Title == "" {
		return errors.New("no title and no name")
	}
	return nil
}

// ean reads the EANs: a list of strings or one string.
func (obj icecatObject) ean() ([]string, error) {
	v, ok := obj["ean"]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	var eans []string
	if err := json.Unmarshal(v, &eans); err != nil {
		var one string
		if json.Unmarshal(v, &one) != nil {
			return nil, errors.New("ean is neither a list of strings nor a string")
		}
		eans = []string{one}
	}
	return eans, nil
}

// price reads the price, required and not negative.
func (obj icecatObject) price() (int64, error) {
	v, ok := obj["price"]
	if !ok || string(v) == "null" {
		return 0, errors.New("no price")
	}
	price, err := jsonInt(v, false)
	if err != nil {
		return 0, fmt.Errorf("price: %w", err)
	}
	if price < 0 {
		return 0, fmt.Errorf("negative price %d", price)
	}
	return price, nil
}

// released reads date_released, an RFC 3339 time or a date, as UTC; nil when there is none.
func (obj icecatObject) released() (*time.Time, error) {
	var released string
	if err := obj.str("date_released", &released); err != nil {
		return nil, err
	}
	if released == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, released)
	if err != nil {
		if t, err = time.Parse("2006-01-02", released); err != nil {
			return nil, fmt.Errorf("date_released %q is not an RFC 3339 time", released)
		}
	}
	t = t.UTC()
	return &t, nil
}

// attributes keeps the non-null attr_ keys as they are, and reads the product type from
// attr_t_product_type.
func (obj icecatObject) attributes(p *IcecatProduct) error {
	for k, v := range obj {
		if !strings.HasPrefix(k, "attr_") || string(v) == "null" {
			continue
		}
		if p.Attributes == nil {
			p.Attributes = make(map[string]json.RawMessage)
		}
		p.Attributes[k] = v
	}
	if v, ok := p.Attributes["attr_t_product_type"]; ok {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return errors.New("attr_t_product_type is not a string")
		}
		p.ProductType = strings.TrimSpace(s)
	}
	return nil
}

// jsonInt reads an integer given as a JSON number or (when quoted is allowed, or always for
// ids) a decimal string. A number with a fraction is rejected unless the fraction is zero.
func jsonInt(v json.RawMessage, quoted bool) (int64, error) {
	if len(v) == 0 || string(v) == "null" {
		return 0, errors.New("missing")
	}
	s := string(v)
	if s[0] == '"' {
		if !quoted {
			return 0, fmt.Errorf("%s is a string, not a number", s)
		}
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, fmt.Errorf("%s: %w", v, err)
		}
		s = strings.TrimSpace(s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return n, nil
	}
	f, ferr := strconv.ParseFloat(s, 64)
	if ferr != nil || f != float64(int64(f)) || f > 9e18 || f < -9e18 {
		return 0, fmt.Errorf("%s is not an integer", v)
	}
	return int64(f), nil
}

// Generated marketplace facts. Icecat has no markets, stock, list prices, ratings or sales, so
// the demo and the evals get deterministic values derived from a hash of the product id: every
// run, on every machine, gives the same ones. The attributes of the SKU say which fields are
// generated (GeneratedKey).
const (
	// GeneratedKey is the attribute listing the generated fields of an Icecat SKU.
	GeneratedKey = "_generated"
	// IcecatSource labels the Icecat catalogue in attributes (the license asks for credit).
	IcecatSource = "icecat"
)

// GeneratedFields are the SKU fields an Icecat SKU's values were generated for.
var GeneratedFields = []string{"market", "list_price", "stock", "rating", "sales", "gmv", "views"}

// IcecatFacts are the generated marketplace facts of an Icecat product.
type IcecatFacts struct {
	Market    string // one of catalog.Markets, spread evenly by the id's hash
	ListPrice int64  // >= Price; 30% of products are discounted 5..50%
	Stock     int64  // 8% out of stock, the rest 1..500 with most under 60
	Metrics   catalog.Metrics
}

// splitmix64 is a well-mixed 64-bit hash (the finaliser of SplitMix64).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// factRand draws uniform numbers from a hash of (id, field salt): the same id always gets the
// same facts, and facts for different fields are independent.
type factRand struct{ id uint64 }

func (r factRand) u(salt uint64) uint64 { return splitmix64(r.id ^ splitmix64(salt)) }

// f returns a float in [0, 1).
func (r factRand) f(salt uint64) float64 { return float64(r.u(salt)>>11) / (1 << 53) }

// Facts returns the product's generated marketplace facts.
func (p IcecatProduct) Facts() IcecatFacts {
	r := factRand{uint64(p.ID)}
	var f IcecatFacts
	f.Market = catalog.Markets[r.u(1)%uint64(len(catalog.Markets))]

	f.ListPrice = p.Price
	if r.f(2) < 0.30 { // discounted: the Icecat price is the sale price
		pct := 5 + int64(r.u(3)%46) // 5..50
		f.ListPrice = p.Price * 100 / (100 - pct)
	}

	if r.f(4) >= 0.08 {
		// Skewed towards small stock: 1 + 500*u^3.
		u := r.f(5)
		f.Stock = 1 + int64(499*u*u*u)
	}

	m := &f.Metrics
	// Popularity: a heavy-tailed weekly sales rate (most products sell a few a week).
	pop := r.f(6)
	m.Sales7d = int64(200 * pop * pop * pop * pop)
	if m.Sales7d > 0 {
		m.Sales24h = int64(float64(m.Sales7d) * (0.05 + 0.25*r.f(7)))
		m.Sales1h = int64(float64(m.Sales24h) * 0.1 * r.f(8) * 2)
	}
	m.GMV1h, m.GMV24h, m.GMV7d = m.Sales1h*p.Price, m.Sales24h*p.Price, m.Sales7d*p.Price
	conv := 0.01 + 0.05*r.f(9) // views to orders
	m.Views7d = int64(float64(m.Sales7d)/conv) + int64(r.u(10)%50)
	m.Views24h = m.Views7d / 7
	m.Views1h = m.Views24h / 24
	if r.f(11) < 0.85 { // 15% are unrated
		m.RatingCount = 1 + int64(float64(m.Sales7d)*4*r.f(12)) + int64(r.u(13)%20)
		// Ratings cluster between 3.5 and 5, rounded to one decimal.
		m.Rating = float32(int(10*(3.0+2.0*(1-r.f(14)*r.f(15)))+0.5)) / 10
		if m.Rating > 5 {
			m.Rating = 5
		}
	}
	return f
}

// Patch returns the catalogue patch for the product as of event time at: its Icecat content
// (title, brand, description, product type, attributes, release date) and price in US cents
// (currency USD, whatever the generated market), plus the generated market, list price, stock
// and metrics (see Facts). Every field group is stamped with at.
func (p IcecatProduct) Patch(at time.Time) catalog.Patch {
	f := p.Facts()
	attrs := make(map[string]any, len(p.Attributes)+2)
	for k, v := range p.Attributes {
		attrs[k] = v
	}
	attrs[GeneratedKey] = GeneratedFields
	attrs["_source"] = IcecatSource
	// Map values are raw JSON from a decoded document or plain strings: Marshal cannot fail.
	buf, _ := json.Marshal(attrs)
	out := catalog.Patch{
		ID: p.ID,
		Fields: catalog.FieldMarket | catalog.FieldTitle | catalog.FieldDescription | catalog.FieldBrand |
			catalog.FieldCategory | catalog.FieldProductType | catalog.FieldAttributes | catalog.FieldReleasedAt |
			catalog.FieldCurrency | catalog.FieldPrice | catalog.FieldListPrice | catalog.FieldStock |
			catalog.FieldMetrics,
		Market:      f.Market,
		Title:       p.Title,
		Description: p.ShortDescription,
		Brand:       p.Supplier,
		ProductType: p.ProductType,
		Attributes:  buf,
		ReleasedAt:  p.DateReleased,
		Currency:    "USD",
		Price:       p.Price,
		ListPrice:   f.ListPrice,
		Stock:       f.Stock,
		Metrics:     f.Metrics,
		ContentAt:   at,
		PriceAt:     at,
		StockAt:     at,
		MetricsAt:   at,
	}
	return out
}

// Event returns the product as a sku.upsert event at event time at (the same content as
// Patch). Its id is derived from the product's content and at, so loading the same file twice
// records nothing new, while a changed product is a new event.
func (p IcecatProduct) Event(at time.Time) (Event, error) {
	pt := p.Patch(at)
	m := MetricsDataOf(pt.Metrics)
	data := UpsertData{
		Title: &pt.Title, Description: &pt.Description, Brand: &pt.Brand, Category: &pt.Category,
		ProductType: &pt.ProductType, Attributes: pt.Attributes, ReleasedAt: pt.ReleasedAt,
		Currency: &pt.Currency, Price: &pt.Price, ListPrice: &pt.ListPrice, Stock: &pt.Stock, Metrics: &m,
	}
	b, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("icecat product %d: %w", p.ID, err)
	}
	id := contentID("icecat-"+strconv.FormatInt(p.ID, 10), b, at)
	return Event{V: SchemaVersion, EventID: id, Kind: KindUpsert, SKUID: p.ID, Market: pt.Market,
		EventTime: at.UTC(), Data: b}, nil
}
