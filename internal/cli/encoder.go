package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jsonEncoder writes jq values byte for byte as the gojq command does (sorted
// keys, 2-space indent, jq's float format, \u00XX for controls) so that
// `auditq query` and `gojq` agree. On a terminal it also escapes DEL, C1
// controls and U+2028/9, which are valid in JSON strings but steer terminals.
type jsonEncoder struct {
	indent   int // < 0: compact
	tab      bool
	terminal bool
	colors   *palette // noColors: no colour
	depth    int
	buf      [64]byte
}

// palette holds the escape sequence that starts each kind of token; nil
// writes the token plain.
type palette struct {
	null, boolean, number, str, key []byte
}

var noColors = &palette{}

var defaultPalette = &palette{
	null:    []byte("\x1b[90m"),
	boolean: []byte("\x1b[33m"),
	number:  []byte("\x1b[36m"),
	str:     []byte("\x1b[32m"),
	key:     []byte("\x1b[34;1m"),
}

var colorReset = []byte("\x1b[0m")

func (e *jsonEncoder) encode(w *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		e.write(w, []byte("null"), e.colors.null)
	case bool:
		e.write(w, []byte(strconv.FormatBool(v)), e.colors.boolean)
	case int:
		e.write(w, strconv.AppendInt(e.buf[:0], int64(v), 10), e.colors.number)
	case float64:
		e.write(w, appendFloat(e.buf[:0], v), e.colors.number)
	case *big.Int:
		e.write(w, v.Append(e.buf[:0], 10), e.colors.number)
	case json.Number:
		e.write(w, []byte(v.String()), e.colors.number)
	case string:
		e.encodeString(w, v, e.colors.str)
	case []any:
		w.WriteByte('[')
		e.depth += e.indent
		for i, x := range v {
			if i > 0 {
				w.WriteByte(',')
			}
			e.newline(w)
			if err := e.encode(w, x); err != nil {
				return err
			}
		}
		e.depth -= e.indent
		if len(v) > 0 {
			e.newline(w)
		}
		w.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.WriteByte('{')
		e.depth += e.indent
		for i, k := range keys {
			if i > 0 {
				w.WriteByte(',')
			}
			e.newline(w)
			e.encodeString(w, k, e.colors.key)
			w.WriteByte(':')
			if e.indent >= 0 {
				w.WriteByte(' ')
			}
			if err := e.encode(w, v[k]); err != nil {
				return err
			}
		}
		e.depth -= e.indent
		if len(v) > 0 {
			e.newline(w)
		}
		w.WriteByte('}')
	default:
		return fmt.Errorf("cannot encode %T", v)
	}
	return nil
}

func (e *jsonEncoder) write(w *bytes.Buffer, b, color []byte) {
	w.Write(color)
	w.Write(b)
	if color != nil {
		w.Write(colorReset)
	}
}

func (e *jsonEncoder) newline(w *bytes.Buffer) {
	if e.indent < 0 {
		return
	}
	w.WriteByte('\n')
	fill := "                                "
	if e.tab {
		fill = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t"
	}
	for n := e.depth; n > 0; n -= len(fill) {
		w.WriteString(fill[:min(n, len(fill))])
	}
}

// appendFloat formats as jq: integers without exponent below 1e21, NaN as null,
// infinities clamped, and e-7 rather than e-07.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) {
		return append(b, "null"...)
	}
	f = min(max(f, -math.MaxFloat64), math.MaxFloat64)
	format := byte('f')
	if x := math.Abs(f); x != 0 && x < 1e-6 || x >= 1e21 {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func (e *jsonEncoder) encodeString(w *bytes.Buffer, s string, color []byte) {
	w.Write(color)
	w.WriteByte('"')
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if ' ' <= b && b <= '~' && b != '"' && b != '\\' {
				i++
				continue
			}
			w.WriteString(s[start:i])
			switch b {
			case '"':
				w.WriteString(`\"`)
			case '\\':
				w.WriteString(`\\`)
			case '\b':
				w.WriteString(`\b`)
			case '\f':
				w.WriteString(`\f`)
			case '\n':
				w.WriteString(`\n`)
			case '\r':
				w.WriteString(`\r`)
			case '\t':
				w.WriteString(`\t`)
			default:
				w.WriteString(`\u00`)
				w.WriteByte(hex[b>>4])
				w.WriteByte(hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			w.WriteString(s[start:i])
			w.WriteString(`\ufffd`)
		case e.terminal && (r >= 0x80 && r <= 0x9f || r == 0x2028 || r == 0x2029):
			w.WriteString(s[start:i])
			fmt.Fprintf(w, `\u%04x`, r)
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	w.WriteString(s[start:])
	w.WriteByte('"')
	if color != nil {
		w.Write(colorReset)
	}
}

// colorizeJSON appends src, one valid JSON text, to dst with the palette's
// colours around each token, keeping the bytes and key order as they are
// (get and cat print what the server wrote).
func colorizeJSON(dst, src []byte, p *palette) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		var color []byte
		end := i + 1
		switch {
		case c == '"':
			for end < len(src) && src[end] != '"' {
				if src[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end+1, len(src))
			color = p.str
			k := end
			for k < len(src) && (src[k] == ' ' || src[k] == '\n' || src[k] == '\t' || src[k] == '\r') {
				k++
			}
			if k < len(src) && src[k] == ':' {
				color = p.key
			}
		case c == '-' || '0' <= c && c <= '9':
			for end < len(src) && strings.IndexByte("0123456789+-.eE", src[end]) >= 0 {
				end++
			}
			color = p.number
		case c == 't' || c == 'f' || c == 'n':
			for end < len(src) && 'a' <= src[end] && src[end] <= 'z' {
				end++
			}
			color = p.boolean
			if c == 'n' {
				color = p.null
			}
		}
		if color == nil {
			dst = append(dst, src[i:end]...)
		} else {
			dst = append(append(append(dst, color...), src[i:end]...), colorReset...)
		}
		i = end
	}
	return dst
}
