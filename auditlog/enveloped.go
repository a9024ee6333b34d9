package auditlog

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
)

// auditIDPattern finds the auditID of an event that does not decode, to
// name it in the error.
var auditIDPattern = regexp.MustCompile(`"auditID":"([0-9a-zA-Z-]{1,64})"`)

// FindAuditID returns the auditID written in the JSON of an event that does
// not decode (cut short, damaged), or nil: for errors that name the event
// lost.
func FindAuditID(event []byte) []byte {
	if m := auditIDPattern.FindSubmatch(event); m != nil {
		return m[1]
	}
	return nil
}

// Reading a stream in a Format: framing its records, and decoding the
// events the format finds in each.

// envState walks the events of one record of a formatted stream.
type envState struct {
	active   bool
	rec      record
	at       int  // where the format reads next; -1: the record is done
	deferred bool // the event decoded is due after the warning just returned

	// The position of rec.data[markOff:], the last one asked for: items
	// come in order, so lines are counted from there, not from the start
	// of a record that may hold thousands of them (a pretty-printed page).
	mark    record
	markOff int

	// A record an Unwrapper decoded: its events are read from inner with
	// innerFormat, all at the record's offset innerAt.
	inner       []byte
	innerFormat Format
	innerAt     int
	innerField  string
}

// unwrap decodes the current record with u; the events of what it holds
// are read next.
func (rd *Reader) unwrap(u Unwrapper) (err error) {
	s := &rd.env
	defer func() {
		if p := recover(); p != nil {
			err = rd.errAtPos(rd.envPos(0), fmt.Errorf("the %s format failed on this record (%v); please report it", rd.format.Name(), p))
		}
	}()
	w, err := u.Unwrap(s.rec.data, s.inner[:0])
	if err != nil {
		return rd.errAtPos(rd.envPos(faultAt(err, w.Offset)), err)
	}
	if w.Format == nil {
		s.at = -1 // nothing to read (a control message)
		return nil
	}
	s.inner, s.innerFormat, s.innerAt, s.innerField = w.Data, w.Format, w.Offset, w.Field
	return nil
}

// envPos returns the position of the current record's byte off.
func (rd *Reader) envPos(off int) record {
	s := &rd.env
	off = max(min(off, len(s.rec.data)), 0)
	if off < s.markOff {
		s.mark, s.markOff = s.rec, 0
	}
	s.mark, s.markOff = rd.subRecord(s.mark, off-s.markOff), off
	return s.mark
}

// formatRecord frames the next record of a stream in rd.format.
func (rd *Reader) formatRecord() (record, error) {
	switch rd.format.Framing() {
	case FrameLines:
		return rd.nextRecord()
	case FrameYAML:
		return rd.yamlRecord()
	}
	rec, err := rd.pendingOrNextRecord()
	if err != nil {
		return rec, err
	}
	return rd.jsonValue(rec)
}

// jsonValue cuts a record down to the JSON value it starts with: a line
// that leaves the value open takes the lines after it (a pretty-printed
// document), and what follows the value on its line (`}{`, as Firehose
// writes records) is the next record.
func (rd *Reader) jsonValue(rec record) (record, error) {
	d := decoder{data: rec.data}
	d.ws()
	start := d.pos
	err := d.skip()
	if de, ok := err.(*decodeError); ok && de.incomplete && rec.fresh && rec.nl {
		rd.r, rd.line = rd.lastStart, rd.lastLine
		joined, jerr := rd.continueRecord(len(rec.data))
		if jerr != nil {
			return record{}, jerr
		}
		rec = joined
		d = decoder{data: rec.data}
		d.ws()
		start = d.pos
		err = d.skip()
	}
	if err != nil {
		de := err.(*decodeError)
		if de.incomplete {
			return record{}, rd.truncated(rec, start)
		}
		return record{}, rd.errAt(rec, de.off, de.err)
	}
	end := d.pos
	d.ws()
	if d.pos < len(rec.data) {
		rd.pending = append(rd.pending, rd.subRecord(rec, d.pos))
	}
	out := rd.subRecord(rec, start)
	out.data = rec.data[start:end:end]
	return out, nil
}

// yamlRecord frames the next YAML document: the lines up to a `---` line
// or the end of the stream.
func (rd *Reader) yamlRecord() (record, error) {
	if rd.done {
		return record{}, io.EOF
	}
	if rd.startErr != nil {
		return record{}, rd.fatal(0, 0, rd.startErr)
	}
	rd.start()
	rel := 0
	for {
		end, nl, err := rd.lineEnd(rel)
		if err == errFull {
			perr := &ParseError{File: rd.cfg.name, Line: rd.line + 1, Column: 1, Offset: rd.base + int64(rd.r),
				Err: fmt.Errorf("%w: a YAML document of more than %d bytes; skipped", ErrLineTooLong, rd.cfg.maxLineSize), Compressed: rd.compressed}
			rd.consume(end, nl)
			rd.skipping = !nl
			return record{}, perr
		}
		line := rd.buf[rd.r+rel : rd.r+end]
		sep := isYAMLSeparator(line)
		if !sep && nl {
			rel = end + 1
			continue
		}
		docEnd := end
		if sep {
			docEnd = max(rel-1, 0)
		}
		rec := record{data: rd.buf[rd.r : rd.r+docEnd], off: rd.base + int64(rd.r), line: rd.line + 1}
		rd.consume(end, nl)
		if !isBlank(rec.data) {
			rec.first = !rd.started
			rd.started = true
			return rec, nil
		}
		if !nl {
			return record{}, rd.endOfStream()
		}
		rel = 0
	}
}

func isYAMLSeparator(line []byte) bool {
	line = bytes.TrimRight(line, " \t\r")
	return bytes.Equal(line, []byte("---")) || bytes.HasPrefix(line, []byte("--- "))
}

// nextEnveloped returns the next event the format finds in the current
// record; (nil, nil) when the record holds no more.
func (rd *Reader) nextEnveloped() (*Event, error) {
	s := &rd.env
	if s.deferred {
		s.deferred = false
		return rd.evp, nil
	}
	for s.at >= 0 {
		ev := rd.evp
		ev.wrap = ev.wrap[:0]
		f, data := rd.format, s.rec.data
		if s.innerFormat != nil {
			f, data = s.innerFormat, s.inner
		}
		item, next := safeRead(f, data, s.at, &ev.wrap)
		if s.innerFormat != nil {
			// Positions in the decoded record are not positions in the
			// input: report the record's, and where in the decoded one.
			if item.Err != nil {
				s.at = next
				return nil, rd.errAtPos(rd.envPos(s.innerAt), fmt.Errorf("%s: %w (byte %d of it decoded)", s.innerField, item.Err, faultAt(item.Err, item.Offset)))
			}
			item.Offset = s.innerAt
		}
		if next >= 0 && next <= s.at && item.Err == nil && len(item.JSON) == 0 {
			next = -1 // a format that does not move on would loop forever
		}
		s.at = next
		if item.Err != nil {
			return nil, rd.errAtPos(rd.envPos(faultAt(item.Err, item.Offset)), item.Err)
		}
		if len(item.JSON) == 0 {
			continue
		}
		d, err := decodeEvent(ev, item.JSON, rd.cfg.noBodies, rd.cfg.rawFields)
		if err == nil && (d.itemsOff >= 0 && d.isList() || !d.isAuditEvent()) {
			err = &decodeError{err: notEventError(item.JSON)}
		}
		if err != nil {
			de := err.(*decodeError)
			inner := de.err
			if de.incomplete {
				inner = ErrIncomplete
			}
			where := item.Field
			switch {
			case s.innerFormat != nil && where != "":
				where = s.innerField + ": " + where
			case s.innerFormat != nil:
				where = s.innerField
			case where == "":
				where = rd.format.Name() + " record"
			}
			id := ""
			if found := FindAuditID(item.JSON); found != nil {
				id = fmt.Sprintf("auditID %s, ", found)
			}
			return nil, rd.errAtPos(rd.envPos(item.Offset), fmt.Errorf("%s: %w (%sbyte %d of the event)", where, inner, id, de.off))
		}
		p := rd.envPos(item.Offset)
		ev.pos = Position{File: rd.cfg.name, Line: p.line, Offset: p.off}
		ev.set = rd.set()
		ev.origin = item.Origin
		ev.origin.Format = rd.format.Name()
		if item.Warn != nil && (item.Placeholder == nil ||
			bytes.Equal(ev.requestObject, item.Placeholder) || bytes.Equal(ev.responseObject, item.Placeholder)) {
			s.deferred = true
			return nil, rd.errAtPos(rd.envPos(item.Offset), item.Warn)
		}
		return ev, nil
	}
	s.active = false
	return nil, nil
}

// safeRead calls f.Read, turning a panic (a bug in the format, met on some
// record) into an error about that record, so that one record cannot end
// the read of everything else.
func safeRead(f Format, rec []byte, at int, buf *[]byte) (item Item, next int) {
	defer func() {
		if p := recover(); p != nil {
			item, next = Item{Offset: at, Err: fmt.Errorf("the %s format failed on this record (%v); please report it", f.Name(), p)}, -1
		}
	}()
	return f.Read(rec, at, buf)
}
