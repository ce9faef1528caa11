package selection

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// decodePlanStrict decodes a plan as the API does (unknown fields and trailing data refused).
func decodePlanStrict(b []byte) (Plan, error) {
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Plan{}, err
	}
	if dec.More() {
		return Plan{}, errors.New("data after the plan")
	}
	return p, nil
}

// FuzzPlanJSON feeds arbitrary bytes to the plan's JSON decoding (the filter's, the ids' and the
// intent's decoders with it) and Validate. Neither may panic; an error message is valid UTF-8
// whatever the input; a plan that decodes and validates encodes to JSON that decodes to a plan
// that validates and encodes to the same bytes (so a stored pool's plan reads back as it was
// written).
func FuzzPlanJSON(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"query":"gaming accessories","filter":{"and":[{"range":{"field":"price","lte":5000}},` +
			`{"attr":{"field":"in_stock","value":"true"}},{"not":{"tag":"refurbished"}}]},"exclude_terms":["refurbished"],` +
			`"ranking":{"by":"relevance"},"limit":100,"pins":["3920564"],"exclusions":[],"currency":"USD","campaign":"11.11 sale"}`,
		`{"version":1,"query":"","ranking":{"by":"blend","weights":{"sales":1,"cheap":0.5}},"limit":1,"pins":[1,"2"]}`,
		`{"version":1,"query":"mouse","intent":{"types":[{"name":"mice","score":0.9,"kind":"product"}],"confidence":0.9,"widen":true},` +
			`"ranking":{"by":"sales"},"limit":10000}`,
		`{"version":1,"ranking":{"by":"price_asc"},"limit":5,"filter":{"or":[{"attr":{"field":"market","in":["SG","ALL"]}},{"all":true}]}}`,
		`{"version":1,"ranking":{"by":"newest"},"limit":5,"filter":{"range":{"field":"price","gt":9223372036854775807}}}`,
		`{"version":2}`, `{"pins":["x"]}`, `{"filter":{"not":{"not":{"not":{}}}}}`, `{"version":1}{}`, `[]`, `null`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePlanStrict(b)
		if err == nil {
			err = p.Validate()
		}
		if err != nil {
			if !utf8.ValidString(err.Error()) && utf8.Valid(b) {
				t.Fatalf("error message not valid UTF-8 for valid input: %q", err.Error())
			}
			return
		}
		enc, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("a valid plan does not encode: %v", err)
		}
		q, err := decodePlanStrict(enc)
		if err != nil {
			t.Fatalf("encoded plan does not decode: %v\n%s", err, enc)
		}
		if err := q.Validate(); err != nil {
			t.Fatalf("encoded plan does not validate: %v\n%s", err, enc)
		}
		enc2, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("plan JSON is not stable:\n%s\n%s", enc, enc2)
		}
	})
}
