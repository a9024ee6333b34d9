package auditlog

import (
	"encoding/json"
	"strconv"
)

// The typed values of an event's fields, decoded with encoding/json's
// semantics (null, strict int32, U+FFFD for invalid UTF-8), and the
// field-type errors they report.

// str decodes a JSON string into *dst; null leaves *dst as it is (encoding/json).
func (d *decoder) str(dst *[]byte, field string) error {
	if d.pos >= len(d.data) {
		return d.incomplete()
	}
	switch d.data[d.pos] {
	case '"':
		s, err := d.stringValue()
		if err != nil {
			return err
		}
		*dst = s
		return nil
	case 'n':
		if d.null() {
			return nil
		}
	}
	return d.typeMismatch(field, "string")
}

// strList decodes an array of strings into a window of *buf; null sets *dst to nil
// and null elements become "" (encoding/json).
func (d *decoder) strList(dst *[][]byte, buf *[][]byte, field string) error {
	if d.null() {
		*dst = nil
		return nil
	}
	if d.pos < len(d.data) && d.data[d.pos] != '[' {
		return d.typeMismatch(field, "array of strings")
	}
	start := len(*buf)
	err := d.array(func() error {
		var s []byte
		if err := d.str(&s, field); err != nil {
			return err
		}
		if s == nil {
			s = []byte{}
		}
		*buf = append(*buf, s)
		return nil
	})
	*dst = (*buf)[start:len(*buf):len(*buf)]
	return err
}

func (d *decoder) int32(dst *int32, field string) error {
	if d.null() {
		return nil
	}
	start := d.pos
	if d.pos < len(d.data) {
		c := d.data[d.pos]
		if c == '-' || '0' <= c && c <= '9' {
			if err := d.number(); err != nil {
				return err
			}
			lit := d.data[start:d.pos]
			n, err := strconv.ParseInt(string(lit), 10, 32)
			if err != nil {
				d.setTypeErr(start, field, "cannot decode number "+string(lit)+" into int32")
				return nil
			}
			*dst = int32(n)
			return nil
		}
	}
	return d.typeMismatch(field, "int32")
}

// microTime decodes a metav1.MicroTime: RFC 3339 with exactly six fractional digits.
func (d *decoder) microTime(dst *timestamp, field string) error {
	if d.null() {
		*dst = timestamp{}
		return nil
	}
	if d.pos < len(d.data) && d.data[d.pos] != '"' {
		return d.typeMismatch(field, "RFC 3339 time string")
	}
	start := d.pos
	s, err := d.stringValue()
	if err != nil {
		return err
	}
	t, ok := parseMicroTime(s)
	if !ok {
		d.setTypeErr(start, field, "cannot parse "+strconv.Quote(string(s))+" as RFC 3339 time with microseconds")
		return nil
	}
	*dst = t
	return nil
}

// legacyTime decodes a v1beta1 metav1.Time. The last value of the key decides,
// and anything but a valid time clears it, as the v1 decoder ignores the field.
func (d *decoder) legacyTime(dst *timestamp) error {
	*dst = timestamp{}
	if d.pos < len(d.data) && d.data[d.pos] == '"' {
		s, err := d.stringValue()
		if err != nil {
			return err
		}
		if t, ok := parseRFC3339(s); ok {
			*dst = t
		}
		return nil
	}
	return d.skip()
}

// legacyMetadata takes creationTimestamp from the last "metadata" object.
func (d *decoder) legacyMetadata() error {
	d.ev.legacyCreation = timestamp{}
	if !d.isObject() {
		return d.skip()
	}
	return d.object(func(key []byte) error {
		if string(key) == "creationTimestamp" {
			return d.legacyTime(&d.ev.legacyCreation)
		}
		return d.skip()
	})
}

// rawValue records the raw JSON of a value; null sets *dst to nil.
func (d *decoder) rawValue(dst *[]byte) error {
	if d.null() {
		*dst = nil
		return nil
	}
	start := d.pos
	if err := d.skip(); err != nil {
		return err
	}
	*dst = d.data[start:d.pos:d.pos]
	return nil
}

// typedRaw records the raw JSON of a rarely present nested value and checks it
// against its upstream type with encoding/json, so that exactly the values
// upstream rejects are rejected. The common empty object skips the check.
func (d *decoder) typedRaw(dst *[]byte, field string, check func([]byte) error) error {
	start := d.pos
	if err := d.rawValue(dst); err != nil {
		return err
	}
	if raw := *dst; raw != nil && !(len(raw) == 2 && raw[0] == '{') {
		if err := check(raw); err != nil {
			d.setTypeErr(start, field, err.Error())
		}
	}
	return nil
}

// listMeta and authnMetadata mirror metav1.ListMeta and
// auditv1.AuthenticationMetadata field for field, so that encoding/json
// accepts and rejects exactly what it does for the upstream types without
// this package importing k8s.io (k8saudit's tests hold them to that).
type listMeta struct {
	SelfLink           string `json:"selfLink,omitempty"`
	ResourceVersion    string `json:"resourceVersion,omitempty"`
	Continue           string `json:"continue,omitempty"`
	RemainingItemCount *int64 `json:"remainingItemCount,omitempty"`
	ShardInfo          *struct {
		Selector string `json:"selector"`
	} `json:"shardInfo,omitempty"`
}

type authnMetadata struct {
	ImpersonationConstraint string `json:"impersonationConstraint,omitempty"`
}

func checkListMeta(b []byte) error      { return json.Unmarshal(b, new(listMeta)) }
func checkAuthnMetadata(b []byte) error { return json.Unmarshal(b, new(authnMetadata)) }

// typeMismatch skips a value of the wrong type, validating it, and records the
// first such error; decoding goes on so that a later syntax error still wins.
func (d *decoder) typeMismatch(field, want string) error {
	start := d.pos
	if err := d.skip(); err != nil {
		return err
	}
	d.setTypeErr(start, field, "cannot decode "+jsonKind(d.data[start])+" into "+want)
	return nil
}

func (d *decoder) setTypeErr(off int, field, msg string) {
	if d.typeErr == nil {
		d.typeErr = &decodeError{off: off, err: &FieldError{Field: field, Msg: msg}}
	}
}

func jsonKind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// nameField names a type error just recorded for a map value ("" field), only
// on the error path, so that map keys cost nothing when the value is fine.
func (d *decoder) nameField(mapField string, key []byte) {
	if d.typeErr == nil {
		return
	}
	if fe, ok := d.typeErr.err.(*FieldError); ok && fe.Field == "" {
		fe.Field = mapField + "[" + strconv.Quote(string(key)) + "]"
	}
}
