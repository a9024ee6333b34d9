package auditlog

import (
	"errors"
)

// EnvelopeReader walks the JSON of one envelope record for a Format,
// validating it as the event decoder validates events and keeping the
// position of every fault: an error it returns, passed back in Item.Err,
// is reported at its own offset in the record.
//
// The zero EnvelopeReader is ready after Reset. It is not safe for
// concurrent use: a Format makes one per call to Read (or pools them).
type EnvelopeReader struct {
	d decoder // its scratch, made when first needed, holds decoded strings
}

// Reset makes r read data from byte at.
func (r *EnvelopeReader) Reset(data []byte, at int) {
	sc := r.d.scratch
	if sc != nil {
		*sc = (*sc)[:0]
	}
	r.d = decoder{data: data, pos: at, scratch: sc, itemsOff: -1}
}

// Pos is the offset in the record of the next byte to read.
func (r *EnvelopeReader) Pos() int { return r.d.pos }

// Peek returns the first byte of the next value, after whitespace, or 0
// at the end of the record.
func (r *EnvelopeReader) Peek() byte {
	r.d.ws()
	if r.d.pos >= len(r.d.data) {
		return 0
	}
	return r.d.data[r.d.pos]
}

// Object reads an object, calling fn with each key (decoded; valid until
// the next Reset) with r at its value, which fn must read (or Skip).
func (r *EnvelopeReader) Object(fn func(key []byte) error) error {
	r.d.ws()
	if !r.d.isObject() {
		return r.mismatch("object")
	}
	return r.d.object(fn)
}

// Array reads an array, calling fn with r at each element, which fn must
// read (or Skip).
func (r *EnvelopeReader) Array(fn func() error) error {
	r.d.ws()
	if r.d.pos >= len(r.d.data) || r.d.data[r.d.pos] != '[' {
		return r.mismatch("array")
	}
	return r.d.array(fn)
}

// String reads a string and returns its decoded value: a view of the
// record, or of r's storage when it had escapes (valid until the next
// Reset). A null is an empty string.
func (r *EnvelopeReader) String() ([]byte, error) {
	r.d.ws()
	if r.d.null() {
		return nil, nil
	}
	if r.d.pos >= len(r.d.data) || r.d.data[r.d.pos] != '"' {
		return nil, r.mismatch("string")
	}
	return r.d.stringValue()
}

// AppendString reads a string and appends its decoded value to dst, as
// encoding/json decodes it (invalid UTF-8 becomes U+FFFD).
func (r *EnvelopeReader) AppendString(dst []byte) ([]byte, error) {
	r.d.ws()
	if r.d.null() {
		return dst, nil
	}
	if r.d.pos >= len(r.d.data) || r.d.data[r.d.pos] != '"' {
		return dst, r.mismatch("string")
	}
	return r.d.appendString(dst)
}

// AppendStringAt appends the decoded JSON string at offset off of data
// to dst, and returns dst and a view of what it appended: for a Format
// that noted where a string was (a node, a cluster) and copies it next to
// the event. Nothing is appended, and the view is nil, when off < 0, no
// string is there, or it is empty.
func AppendStringAt(dst, data []byte, off int) ([]byte, []byte) {
	if off < 0 {
		return dst, nil
	}
	var r EnvelopeReader
	r.Reset(data, off)
	at := len(dst)
	b, err := r.AppendString(dst)
	if err != nil || len(b) == at {
		return dst, nil
	}
	return b, b[at:len(b):len(b)]
}

// Raw reads any value and returns its JSON, a view of the record.
func (r *EnvelopeReader) Raw() ([]byte, error) {
	r.d.ws()
	start := r.d.pos
	if err := r.d.skip(); err != nil {
		return nil, err
	}
	return r.d.data[start:r.d.pos:r.d.pos], nil
}

// Skip reads a value and drops it.
func (r *EnvelopeReader) Skip() error {
	r.d.ws()
	return r.d.skip()
}

// Null reads a null if one is next.
func (r *EnvelopeReader) Null() bool {
	r.d.ws()
	return r.d.null()
}

// End reads the whitespace after the last value and reports an error if
// anything else follows it.
func (r *EnvelopeReader) End() error {
	r.d.ws()
	if r.d.pos < len(r.d.data) {
		return r.d.syntax("invalid character " + quoteChar(r.d.data[r.d.pos]) + " after top-level value")
	}
	return nil
}

// Errorf returns an error about the value at the current position, as a
// field error on field.
func (r *EnvelopeReader) Errorf(field, msg string) error {
	return &decodeError{off: r.d.pos, err: &FieldError{Field: field, Msg: msg}}
}

func (r *EnvelopeReader) mismatch(want string) error {
	at := r.d.pos
	if at >= len(r.d.data) {
		return r.d.incomplete()
	}
	return &decodeError{off: at, err: &FieldError{Msg: "want " + want + ", found " + jsonKind(r.d.data[at])}}
}

// ErrorOffset returns the offset in its record of an error from an
// EnvelopeReader (or wrapping one).
func ErrorOffset(err error) (int, bool) {
	var de *decodeError
	if errors.As(err, &de) {
		return de.off, true
	}
	return 0, false
}

// faultAt is where err says the fault is, else at.
func faultAt(err error, at int) int {
	if o, ok := ErrorOffset(err); ok {
		return o
	}
	return at
}

// Element moves into an array, or on to its next element: with r at the
// array's '[' or just after an element, it reads the '[' or ',' before the
// next element and reports true, or reads the closing ']' and reports
// false. A Format walks a record's events one Read at a time this way,
// resuming from the position it returned.
func (r *EnvelopeReader) Element() (bool, error) {
	d := &r.d
	d.ws()
	if d.pos >= len(d.data) {
		return false, d.incomplete()
	}
	switch d.data[d.pos] {
	case '[':
		d.pos++
		d.ws()
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			return false, nil
		}
		return true, nil
	case ',':
		d.pos++
		d.ws()
		return true, nil
	case ']':
		d.pos++
		return false, nil
	}
	return false, d.syntax("invalid character " + quoteChar(d.data[d.pos]) + " between array elements")
}
