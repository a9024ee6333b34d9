package jq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/bytedance/sonic"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/jsonscan"
)

// Value decodes ev into the value gojq works on: map[string]any with numbers
// as json.Number, exactly as the gojq command reads its input, so a program's
// results print as gojq prints them.
func Value(ev *auditlog.Event) (any, error) {
	return decodeJSON(ev.Raw())
}

// ValueOf is Value for a program that reads only keys (see Program.Keys): a
// map of those of the event's top-level members, decoded as Value decodes
// them, without decoding the rest.
func ValueOf(ev *auditlog.Event, keys []string) (any, error) {
	m := make(map[string]any, len(keys))
	for _, k := range keys {
		raw, ok := ev.RawField(k)
		if !ok {
			continue
		}
		v, err := decodeScalar(raw)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// decodeScalar is decodeJSON with a fast path for the values most keys hold:
// a string without escapes, a literal, a number.
func decodeScalar(raw []byte) (any, error) {
	switch {
	case len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"':
		body := raw[1 : len(raw)-1]
		if bytes.IndexByte(body, '\\') < 0 && bytes.IndexByte(body, '"') < 0 && utf8.Valid(body) && !jsonscan.HasControl(body) {
			return string(body), nil
		}
	case string(raw) == "null":
		return nil, nil
	case string(raw) == "true":
		return true, nil
	case string(raw) == "false":
		return false, nil
	}
	if v, ok := jsonscan.Value(raw); ok {
		return v, nil
	}
	return decodeJSON(raw)
}

// ParseJSON decodes one JSON value as the gojq command does (for --argjson).
func ParseJSON(data []byte) (any, error) {
	return decodeJSON(data)
}

// sonicAPI decodes as encoding/json with UseNumber does. CopyString: the
// values outlive the Reader's buffer (-s keeps them all).
var sonicAPI = sonic.Config{UseNumber: true, CopyString: true}.Froze()

// ParseJSONStream decodes the JSON values in data, one after another, as the
// gojq command does for --slurpfile.
func ParseJSONStream(data []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	values := []any{}
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return values, nil
		}
		if err != nil {
			return nil, err
		}
		values = append(values, v)
	}
}

func decodeJSON(data []byte) (any, error) {
	// sonic is ~2x faster into map[string]any (BenchmarkValue). Invalid UTF-8 goes to
	// encoding/json, whose U+FFFD replacement gojq's output depends on, and so
	// does anything sonic rejects, for encoding/json's error message.
	if utf8.Valid(data) {
		var v any
		if err := sonicAPI.Unmarshal(data, &v); err == nil {
			return v, nil
		}
	}
	return decodeStd(data)
}

func decodeStd(data []byte) (any, error) {
	values, err := ParseJSONStream(data)
	switch {
	case err != nil:
		return nil, err
	case len(values) != 1:
		return nil, fmt.Errorf("want one JSON value, found %d", len(values))
	}
	return values[0], nil
}
