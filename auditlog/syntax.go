package auditlog

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON syntax layer of the decoder: strings, numbers, literals, objects
// and arrays, validated as encoding/json validates them, with the offset of
// every fault. decode.go and values.go give the values meaning.

// plainStringByte marks the bytes a string scan passes over: all but '"', '\\'
// and control bytes. Bytes >= 0x80 are plain here and noted separately.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 0x100; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialBytes sets the high bit of the bytes of x (little endian) that are '"',
// '\\' or control bytes. It may also set it above such a byte (borrows), never in
// a word without one.
func specialBytes(x uint64) uint64 {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	return ((q-lsb)&^q | (b-lsb)&^b | (x-lsb*0x20)&^x) & msb
}

// stringValue scans the string at d.pos and returns its decoded value: a view of
// the input when the string has no escapes and valid UTF-8, otherwise a copy
// decoded into the event's scratch buffer.
func (d *decoder) stringValue() ([]byte, error) {
	start := d.pos + 1
	end, escaped, nonASCII, err := d.scanString()
	if err != nil {
		return nil, err
	}
	return d.stringAt(start, end, escaped, nonASCII), nil
}

// stringAt returns the decoded value of the scanned string body d.data[start:end].
func (d *decoder) stringAt(start, end int, escaped, nonASCII bool) []byte {
	s := d.data[start:end:end]
	if !escaped && (!nonASCII || utf8.Valid(s)) {
		return s
	}
	sc := d.scratch
	if sc == nil {
		// An EnvelopeReader's, made here so that a reader on the stack
		// holds no pointer to itself and can stay there.
		sc = new([]byte)
		d.scratch = sc
	}
	from := len(*sc)
	*sc = unquoteAppend(*sc, s)
	return (*sc)[from:len(*sc):len(*sc)]
}

// scanString validates the string at d.pos (which holds '"') and moves past it.
// end is the offset of the closing quote.
func (d *decoder) scanString() (end int, escaped, nonASCII bool, err error) {
	data := d.data
	i := d.pos + 1
	var high uint64 // OR of the bytes passed over, for bytes >= 0x80
	for {
		// Eight bytes at a time; the lowest flagged byte is the first special one
		// (borrows only flag bytes above a special byte).
		for i+8 <= len(data) {
			x := binary.LittleEndian.Uint64(data[i:])
			if m := specialBytes(x); m != 0 {
				n := bits.TrailingZeros64(m) >> 3
				high |= x & (1<<(n*8) - 1)
				i += n
				goto special
			}
			high |= x
			i += 8
		}
		for i < len(data) && plainStringByte[data[i]] {
			high |= uint64(data[i])
			i++
		}
	special:
		if i >= len(data) {
			d.pos = i
			return 0, false, false, d.incomplete()
		}
		switch c := data[i]; {
		case c == '"':
			d.pos = i + 1
			return i, escaped, high&msb != 0, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(data) {
				d.pos = i
				return 0, false, false, d.incomplete()
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for k := 0; k < 4; k++ {
					if i >= len(data) {
						d.pos = i
						return 0, false, false, d.incomplete()
					}
					if !isHex(data[i]) {
						d.pos = i
						return 0, false, false, d.syntax("invalid character " + quoteChar(data[i]) + " in \\u hexadecimal character escape")
					}
					i++
				}
			default:
				d.pos = i
				return 0, false, false, d.syntax("invalid character " + quoteChar(data[i]) + " in string escape code")
			}
		default: // c < 0x20
			d.pos = i
			return 0, false, false, d.syntax("invalid character " + quoteChar(c) + " in string literal")
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unquoteAppend appends the decoded form of the validated string body s, with
// encoding/json's rules: invalid UTF-8 and unpaired surrogates become U+FFFD.
func unquoteAppend(dst, s []byte) []byte {
	if utf8.Valid(s) {
		// Only escapes to rewrite: copy the runs between them.
		for {
			j := bytes.IndexByte(s, '\\')
			if j < 0 {
				return append(dst, s...)
			}
			dst = append(dst, s[:j]...)
			s = s[j:]
			n := 2
			if s[1] == 'u' {
				n = 6
				if rr := getu4(s); utf16.IsSurrogate(rr) && len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
					n = 12 // a candidate pair: decodeEscapes decides whether it is one
				}
			}
			dst = decodeEscapes(dst, s[:n])
			s = s[n:]
		}
	}
	return decodeEscapes(dst, s)
}

// decodeEscapes is the general case of unquoteAppend, byte by byte.
func decodeEscapes(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			r++
			switch s[r] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(s[r-1:])
				r += 5
				if utf16.IsSurrogate(rr) {
					rr1 := getu4(s[r:])
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[r])
			}
			r++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// skip validates the value at d.pos and moves past it, without recursion so that
// deep nesting cannot exhaust the stack.
func (d *decoder) skip() error {
	// containers holds one byte per open container: '{' or '['.
	var stackBuf [64]byte
	containers := stackBuf[:0]
	data := d.data
	for {
		// A value.
		if d.pos >= len(data) {
			return d.incomplete()
		}
		switch c := data[d.pos]; {
		case c == '{' || c == '[':
			if d.depth+len(containers)+1 > maxDepth {
				return d.syntax(depthMsg)
			}
			containers = append(containers, c)
			d.pos++
			d.ws()
			if d.pos >= len(data) {
				return d.incomplete()
			}
			if data[d.pos] == c+2 { // '}' is '{'+2, ']' is '['+2
				d.pos++
				containers = containers[:len(containers)-1]
				break
			}
			if c == '{' {
				if _, _, _, _, err := d.objectKey(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, _, _, err := d.scanString(); err != nil {
				return err
			}
		case c == '-' || '0' <= c && c <= '9':
			if err := d.number(); err != nil {
				return err
			}
		case c == 't':
			if err := d.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := d.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := d.literal("null"); err != nil {
				return err
			}
		default:
			return d.syntax("invalid character " + quoteChar(c) + " looking for beginning of value")
		}
		// After a value: close containers or move to the next element.
		for {
			if len(containers) == 0 {
				return nil
			}
			d.ws()
			if d.pos >= len(data) {
				return d.incomplete()
			}
			top := containers[len(containers)-1]
			c := data[d.pos]
			if c == ',' {
				d.pos++
				d.ws()
				if top == '{' {
					if d.pos >= len(data) {
						return d.incomplete()
					}
					if _, _, _, _, err := d.objectKey(); err != nil {
						return err
					}
				}
				break
			}
			if c == top+2 {
				d.pos++
				containers = containers[:len(containers)-1]
				continue
			}
			if top == '{' {
				return d.syntax("invalid character " + quoteChar(c) + " after object key:value pair")
			}
			return d.syntax("invalid character " + quoteChar(c) + " after array element")
		}
	}
}

// objectKey validates `"key" :`, leaves d.pos at the value and returns the key
// as scanString describes it (body d.data[start:end]).
func (d *decoder) objectKey() (start, end int, escaped, nonASCII bool, err error) {
	if d.data[d.pos] != '"' {
		return 0, 0, false, false, d.syntax("invalid character " + quoteChar(d.data[d.pos]) + " looking for beginning of object key string")
	}
	start = d.pos + 1
	if end, escaped, nonASCII, err = d.scanString(); err != nil {
		return 0, 0, false, false, err
	}
	d.ws()
	if d.pos >= len(d.data) {
		return 0, 0, false, false, d.incomplete()
	}
	if d.data[d.pos] != ':' {
		return 0, 0, false, false, d.syntax("invalid character " + quoteChar(d.data[d.pos]) + " after object key")
	}
	d.pos++
	d.ws()
	if d.pos >= len(d.data) {
		return 0, 0, false, false, d.incomplete()
	}
	return start, end, escaped, nonASCII, nil
}

// number validates a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() (err error) {
	data := d.data
	i := d.pos
	if data[i] == '-' {
		i++
	}
	if i >= len(data) {
		d.pos = i
		return d.incomplete()
	}
	switch {
	case data[i] == '0':
		i++
	case '1' <= data[i] && data[i] <= '9':
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	default:
		d.pos = i
		return d.syntax("invalid character " + quoteChar(data[i]) + " in numeric literal")
	}
	if i < len(data) && data[i] == '.' {
		if i, err = d.digits(i+1, "after decimal point in numeric literal"); err != nil {
			return err
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i, err = d.digits(i, "in exponent of numeric literal"); err != nil {
			return err
		}
	}
	d.pos = i
	return nil
}

// digits moves past a run of at least one digit starting at i.
func (d *decoder) digits(i int, where string) (int, error) {
	data := d.data
	if i >= len(data) {
		d.pos = i
		return i, d.incomplete()
	}
	if data[i] < '0' || data[i] > '9' {
		d.pos = i
		return i, d.syntax("invalid character " + quoteChar(data[i]) + " " + where)
	}
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i, nil
}

func (d *decoder) literal(lit string) error {
	for k := 0; k < len(lit); k++ {
		if d.pos >= len(d.data) {
			return d.incomplete()
		}
		if d.data[d.pos] != lit[k] {
			return d.syntax("invalid character " + quoteChar(d.data[d.pos]) + " in literal " + lit + " (expecting " + strconv.QuoteRune(rune(lit[k])) + ")")
		}
		d.pos++
	}
	return nil
}

// object iterates over the members of an object at d.pos, calling fn with d.pos at
// each value. The key passed to fn is valid as long as the event's views.
func (d *decoder) object(fn func(key []byte) error) error {
	if empty, err := d.open('}'); empty || err != nil {
		return err
	}
	for {
		start, end, escaped, nonASCII, err := d.objectKey()
		if err != nil {
			return err
		}
		if err := fn(d.stringAt(start, end, escaped, nonASCII)); err != nil {
			return err
		}
		if done, err := d.afterMember('}', "object key:value pair"); done || err != nil {
			return err
		}
	}
}

// array iterates over the elements of an array at d.pos.
func (d *decoder) array(fn func() error) error {
	if empty, err := d.open(']'); empty || err != nil {
		return err
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		if done, err := d.afterMember(']', "array element"); done || err != nil {
			return err
		}
	}
}

// open enters the container at d.pos and reports whether it is empty (and
// already closed).
func (d *decoder) open(closer byte) (empty bool, err error) {
	if d.depth++; d.depth > maxDepth {
		return false, d.syntax(depthMsg)
	}
	d.pos++
	d.ws()
	if d.pos >= len(d.data) {
		return false, d.incomplete()
	}
	if d.data[d.pos] == closer {
		d.pos++
		d.depth--
		return true, nil
	}
	return false, nil
}

// afterMember moves past the ',' after a member, or past the closer, which it
// reports as done. Compact JSON takes the inlined fast path.
func (d *decoder) afterMember(closer byte, member string) (done bool, err error) {
	if d.pos+1 < len(d.data) {
		if c := d.data[d.pos]; c == closer {
			d.pos++
			d.depth--
			return true, nil
		} else if c == ',' && d.data[d.pos+1] > ' ' {
			d.pos++
			return false, nil
		}
	}
	return d.afterMemberSlow(closer, member)
}

func (d *decoder) afterMemberSlow(closer byte, member string) (done bool, err error) {
	d.ws()
	if d.pos >= len(d.data) {
		return false, d.incomplete()
	}
	switch d.data[d.pos] {
	case ',':
		d.pos++
		d.ws()
		if d.pos >= len(d.data) {
			return false, d.incomplete()
		}
		return false, nil
	case closer:
		d.pos++
		d.depth--
		return true, nil
	}
	return false, d.syntax("invalid character " + quoteChar(d.data[d.pos]) + " after " + member)
}

func (d *decoder) isObject() bool { return d.pos < len(d.data) && d.data[d.pos] == '{' }

// null consumes a null literal if one is at d.pos.
func (d *decoder) null() bool {
	if len(d.data)-d.pos >= 4 && string(d.data[d.pos:d.pos+4]) == "null" {
		d.pos += 4
		return true
	}
	return false
}

func (d *decoder) ws() {
	if d.pos < len(d.data) && d.data[d.pos] > ' ' {
		return // compact JSON: the common case
	}
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) syntax(msg string) error {
	return &decodeError{off: d.pos, err: &SyntaxError{Msg: msg}}
}

func (d *decoder) incomplete() error {
	return &decodeError{off: d.pos, err: &SyntaxError{Msg: "unexpected end of JSON input"}, incomplete: true}
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	if c >= utf8.RuneSelf {
		s = strconv.Quote(string([]byte{c}))
	}
	return "'" + s[1:len(s)-1] + "'"
}

// appendString scans the string at d.pos (which holds '"') and appends its
// decoded value to dst in one pass: what stringValue returns, for strings
// dense with escapes (an event inside an envelope's JSON string), which
// the two passes of scanString and unquoteAppend handle slowly.
func (d *decoder) appendString(dst []byte) ([]byte, error) {
	data := d.data
	i := d.pos + 1
	run := i // start of the bytes not yet appended
	for i < len(data) {
		c := data[i]
		if plainStringByte[c] && c < utf8.RuneSelf {
			i++
			continue
		}
		switch {
		case c == '"':
			d.pos = i + 1
			return append(dst, data[run:i]...), nil
		case c == '\\':
			dst = append(dst, data[run:i]...)
			if i+1 >= len(data) {
				d.pos = i + 1
				return dst, d.incomplete()
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
				i += 2
			case 'b':
				dst, i = append(dst, '\b'), i+2
			case 'f':
				dst, i = append(dst, '\f'), i+2
			case 'n':
				dst, i = append(dst, '\n'), i+2
			case 'r':
				dst, i = append(dst, '\r'), i+2
			case 't':
				dst, i = append(dst, '\t'), i+2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(data) {
						d.pos = k
						return dst, d.incomplete()
					}
					if !isHex(data[k]) {
						d.pos = k
						return dst, d.syntax("invalid character " + quoteChar(data[k]) + " in \\u hexadecimal character escape")
					}
				}
				rr := getu4(data[i:])
				i += 6
				if utf16.IsSurrogate(rr) {
					// A pair only if a valid low surrogate follows; else U+FFFD,
					// and the next escape is read on its own (encoding/json).
					if dec := utf16.DecodeRune(rr, getu4(data[i:])); dec != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						break
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
			default:
				d.pos = i + 1
				return dst, d.syntax("invalid character " + quoteChar(e) + " in string escape code")
			}
			run = i
		case c < 0x20:
			d.pos = i
			return dst, d.syntax("invalid character " + quoteChar(c) + " in string literal")
		default: // c >= 0x80
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, data[run:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				run = i
				continue
			}
			i += size
		}
	}
	d.pos = i
	return dst, d.incomplete()
}
