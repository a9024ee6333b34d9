// Package jsonscan reads JSON that auditlog's decoder has already checked
// (the raw members of an event), quickly and without validating it again:
// the common shapes of small audit values decode straight into the values
// encoding/json gives (map[string]any, []any, json.Number), and objects split
// into their members for rewriting. Anything unusual (an escape, whitespace
// between tokens, deep nesting) is declined with false, for the caller to
// hand to a full decoder. The jq layer and the policy simulation share it.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting Value decodes; deeper values are declined.
const maxDepth = 32

// Value decodes raw as encoding/json with UseNumber does into any, for the
// common shape of a small audit value (objects, arrays, strings without
// escapes, numbers, literals); false for anything else.
func Value(raw []byte) (any, bool) {
	d := scanner{data: raw}
	v, ok := d.value(0)
	if !ok || d.pos != len(raw) {
		return nil, false
	}
	return v, true
}

// Select decodes of the object raw only the members named in names, as
// Value would; false for anything Value would decline (an escaped key,
// whitespace), so that the caller decodes the whole value.
func Select(raw []byte, names []string) (map[string]any, bool) {
	if len(raw) < 2 || raw[0] != '{' {
		return nil, false
	}
	d := scanner{data: raw, pos: 1}
	m, ok := d.object(0, names)
	return m, ok && d.pos == len(raw)
}

// Member is one member of an object: its decoded key, and where its key (the
// opening quote) and its value start and end in the object's bytes.
type Member struct {
	Key                            string
	KeyStart, ValueStart, ValueEnd int
}

// Members splits a compact JSON object into its members, in order; nil when
// obj is not an object or has whitespace around a key. Whitespace after a
// value is kept in the value, so the spans still cover every byte.
func Members(obj []byte) []Member {
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil
	}
	if obj[1] == '}' {
		return []Member{}
	}
	var ms []Member
	d := scanner{data: obj, pos: 1}
	for {
		if d.pos >= len(obj) || obj[d.pos] != '"' {
			return nil
		}
		m := Member{KeyStart: d.pos}
		key, ok := d.str()
		if !ok {
			if key, ok = d.escapedKey(); !ok {
				return nil
			}
		}
		if d.pos >= len(obj) || obj[d.pos] != ':' {
			return nil
		}
		d.pos++
		m.Key, m.ValueStart = key, d.pos
		if !d.skip() {
			return nil
		}
		m.ValueEnd = d.pos
		ms = append(ms, m)
		switch obj[d.pos] {
		case ',':
			d.pos++
		case '}':
			if d.pos != len(obj)-1 {
				return nil
			}
			return ms
		default:
			return nil
		}
	}
}

// Elements returns where each element of the JSON array arr starts and
// ends, in order; false when arr is not an array.
func Elements(arr []byte) (spans [][2]int, ok bool) {
	if len(arr) < 2 || arr[0] != '[' {
		return nil, false
	}
	d := scanner{data: arr, pos: 1}
	for d.pos < len(arr) && arr[d.pos] != ']' {
		start := d.pos
		if !d.skip() {
			return nil, false
		}
		spans = append(spans, [2]int{start, d.pos})
		if d.pos < len(arr) && arr[d.pos] == ',' {
			d.pos++
		}
	}
	return spans, true
}

// scanner walks checked JSON from pos.
type scanner struct {
	data []byte
	pos  int
}

func (d *scanner) value(depth int) (any, bool) {
	if d.pos >= len(d.data) || depth > maxDepth {
		return nil, false
	}
	switch c := d.data[d.pos]; {
	case c == '"':
		s, ok := d.str()
		return s, ok
	case c == '{':
		d.pos++
		m, ok := d.object(depth, nil)
		return m, ok
	case c == '[':
		d.pos++
		a := []any{}
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			return a, true
		}
		for {
			v, ok := d.value(depth + 1)
			if !ok || d.pos >= len(d.data) {
				return nil, false
			}
			a = append(a, v)
			switch d.data[d.pos] {
			case ',':
				d.pos++
			case ']':
				d.pos++
				return a, true
			default:
				return nil, false
			}
		}
	case c == '-' || '0' <= c && c <= '9':
		start := d.pos
		for d.pos < len(d.data) && strings.IndexByte("+-.eE0123456789", d.data[d.pos]) >= 0 {
			d.pos++
		}
		return json.Number(d.data[start:d.pos]), true
	}
	for _, lit := range [...]struct {
		s string
		v any
	}{{"null", nil}, {"true", true}, {"false", false}} {
		if bytes.HasPrefix(d.data[d.pos:], []byte(lit.s)) {
			d.pos += len(lit.s)
			return lit.v, true
		}
	}
	return nil, false
}

// object decodes the members of an object whose '{' has been read, through
// its '}': all of them, or with only set, those named there (the others are
// skipped).
func (d *scanner) object(depth int, only []string) (map[string]any, bool) {
	m := make(map[string]any, len(only))
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, true
	}
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, false
		}
		k, ok := d.str()
		if !ok || d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, false
		}
		d.pos++
		if only == nil || slices.Contains(only, k) {
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			m[k] = v
		} else if !d.skip() {
			return nil, false
		}
		if d.pos >= len(d.data) {
			return nil, false
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, true
		default:
			return nil, false
		}
	}
}

// skip moves past one value to the ',' or '}' or ']' after it.
func (d *scanner) skip() bool {
	depth := 0
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case '"':
			i := d.pos + 1
			for {
				j := bytes.IndexByte(d.data[i:], '"')
				if j < 0 {
					return false
				}
				i += j
				backslashes := 0
				for k := i - 1; d.data[k] == '\\'; k-- {
					backslashes++
				}
				i++
				if backslashes%2 == 0 {
					break
				}
			}
			d.pos = i
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return true
			}
			depth--
		case ',':
			if depth == 0 {
				return true
			}
		}
		d.pos++
	}
	return false
}

// str reads a string without escapes, control bytes or invalid UTF-8.
func (d *scanner) str() (string, bool) {
	body := d.data[d.pos+1:]
	end := bytes.IndexByte(body, '"')
	if end < 0 {
		return "", false
	}
	body = body[:end]
	if bytes.IndexByte(body, '\\') >= 0 || HasControl(body) || !utf8.Valid(body) {
		return "", false
	}
	d.pos += end + 2
	return string(body), true
}

// escapedKey reads a key with escapes (rare in logs) with encoding/json.
func (d *scanner) escapedKey() (string, bool) {
	i := d.pos + 1
	for i < len(d.data) {
		switch d.data[i] {
		case '\\':
			i += 2
			continue
		case '"':
			var s string
			if json.Unmarshal(d.data[d.pos:i+1], &s) != nil {
				return "", false
			}
			d.pos = i + 1
			return s, true
		}
		i++
	}
	return "", false
}

// HasControl reports whether b holds a byte below 0x20, which a JSON string
// must escape.
func HasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}
