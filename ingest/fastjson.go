package ingest

import (
	"encoding/json"
	"strconv"
)

// A fast path for the common event shape. Events are small flat objects; decoding them with
// encoding/json into maps costs about 9 us and 58 allocations each, which at 50,000 events/s is
// a sizeable share of two cores. scanObject reads an object whose keys and strings are plain
// ASCII without escapes and validates every value against the JSON grammar; anything else
// (escapes, non-ASCII, duplicate keys, deep nesting) makes it decline, and the encoding/json
// path decides. FuzzFastPathAgrees checks that both paths give the same result.

const maxFastDepth = 32

// noFastPath turns the fast path off (tests compare both paths).
var noFastPath bool

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanPlainString reads a string at b[i] holding printable ASCII only, no escapes. It returns
// the index after the closing quote.
func scanPlainString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			return j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return 0, false
		}
	}
	return 0, false
}

// scanNumber reads a JSON number at b[i].
func scanNumber(b []byte, i int) (int, bool) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return 0, false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return 0, false
		}
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return 0, false
		}
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	return j, true
}

// skipValue validates the value at b[i] and returns the index after it.
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > maxFastDepth {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		return scanPlainString(b, i)
	case c == '{':
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			j, ok := scanPlainString(b, i)
			if !ok {
				return 0, false
			}
			i = skipWS(b, j)
			if i >= len(b) || b[i] != ':' {
				return 0, false
			}
			if i, ok = skipValue(b, skipWS(b, i+1), depth+1); !ok {
				return 0, false
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return 0, false
			}
			if b[i] == '}' {
				return i + 1, true
			}
			if b[i] != ',' {
				return 0, false
			}
			i = skipWS(b, i+1)
		}
	case c == '[':
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = skipValue(b, i, depth+1); !ok {
				return 0, false
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return 0, false
			}
			if b[i] == ']' {
				return i + 1, true
			}
			if b[i] != ',' {
				return 0, false
			}
			i = skipWS(b, i+1)
		}
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return lit(b, i, "true")
	case c == 'f':
		return lit(b, i, "false")
	case c == 'n':
		return lit(b, i, "null")
	}
	return 0, false
}

func lit(b []byte, i int, s string) (int, bool) {
	if len(b)-i >= len(s) && string(b[i:i+len(s)]) == s {
		return i + len(s), true
	}
	return 0, false
}

// scanObject reads the JSON object b (with nothing but whitespace around it) into its fields,
// or declines.
func scanObject(b []byte) (fields, bool) {
	if noFastPath {
		return nil, false
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	f := make(fields, 8)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return f, skipWS(b, i+1) == len(b)
	}
	for {
		j, ok := scanPlainString(b, i)
		if !ok {
			return nil, false
		}
		key := string(b[i+1 : j-1])
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		start := skipWS(b, i+1)
		end, ok := skipValue(b, start, 1)
		if !ok {
			return nil, false
		}
		if _, dup := f[key]; dup {
			return nil, false
		}
		f[key] = json.RawMessage(b[start:end])
		i = skipWS(b, end)
		if i >= len(b) {
			return nil, false
		}
		if b[i] == '}' {
			return f, skipWS(b, i+1) == len(b)
		}
		if b[i] != ',' {
			return nil, false
		}
		i = skipWS(b, i+1)
	}
}

// jsonString decodes a JSON string value; ok is false when raw is not a string.
func jsonString(raw json.RawMessage) (string, bool) {
	if n, ok := scanPlainString(raw, 0); ok && n == len(raw) && !noFastPath {
		return string(raw[1 : n-1]), true
	}
	if firstByte(raw) != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonFloat decodes a JSON number value; ok is false when raw is not a number.
func jsonFloat(raw json.RawMessage) (float64, bool) {
	if n, ok := scanNumber(raw, 0); ok && n == len(raw) && !noFastPath {
		f, err := strconv.ParseFloat(string(raw), 64)
		return f, err == nil
	}
	c := firstByte(raw)
	if c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	return f, true
}
