package auditlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"

	"github.com/klauspost/compress/zstd"
)

const (
	initialBufSize = 256 << 10
	peekBufSize    = 64 << 10
)

// errFull is internal: the unread window reached the line-size limit without a newline.
var errFull = errors.New("line longer than the buffer limit")

// Reader reads audit events from one stream: JSON lines as kube-apiserver writes
// them (one event per line), EventList documents (webhook batches), JSON arrays
// of events, and pretty-printed multi-line events. The stream may be plain,
// gzip (including multi-member files) or zstd; the format is taken from the
// content, not a file name.
//
// A Reader is not safe for concurrent use. The caller must call Close, which
// does not close the underlying io.Reader.
type Reader struct {
	cfg config

	br         *bufio.Reader
	gz         gzipMembers
	inner      nestedGzip   // gzip inside gzip (Firehose objects of gzipped records)
	srcOffset  offsetReader // counts the source's bytes: gz's offsets, WithProgress
	zd         *zstd.Decoder
	in         io.Reader // the decompressed stream
	compressed bool
	startErr   error // a failure detected by Reset, reported by the first Next

	buf      []byte
	r, w     int   // unread bytes are buf[r:w]
	base     int64 // stream offset of buf[0]
	line     int   // lines consumed before buf[r]
	eof      bool
	readErr  error // a read or decompression error, reported after the data before it
	skipping bool  // discarding the rest of an over-long line
	bomDone  bool
	started  bool // a non-blank record has been seen
	done     bool

	lastStart, lastLine int // rd.r and rd.line before the last fresh record

	pending []record // the rest of a line after a cut-short event
	list    listState

	// format is the stream's export format (nil: kube-apiserver's lines),
	// chosen from its head once detected is set; env walks a record of it.
	format   Format
	detected bool
	env      envState

	// setOf is the rotation set of setName, computed once per name.
	setName, setOf string
	ev             Event
	evp            *Event // where events are decoded: &ev, or a parallel chunk's slot
	// midStream: buf is a chunk of whole lines that more of the stream follows
	// (parallel reading), so a value left open at its end was cut short.
	midStream bool
	damagedAt int64 // stream offset of the last newLineAfterDamage, or -1
}

// record is one framed JSON document with the position of its first byte.
type record struct {
	data []byte
	off  int64 // stream offset of data[0]
	line int   // line of data[0]
	col0 int   // 0-based column of data[0] within its line
	// fresh: a whole line just framed by nextRecord, which may be rewound to
	// join the lines after it; nl: it ended with a newline.
	fresh, nl bool
	first     bool // the first record of the stream
}

// listState walks the elements of an EventList or a JSON array of events.
type listState struct {
	active bool
	rec    record
	pos    int // offset in rec.data of the next element or the closing ']'
	first  bool
	// at is the position of rec.data[atOff], so that positions of later items
	// are found by counting lines from there, not from the record's start.
	at    record
	atOff int
}

// NewReader returns a Reader of the events in r. It reads the first bytes of r to
// detect compression; an error in doing so is returned by the first Next.
// It refuses the options that only ScanFiles, ScanReader and ReadFiles take
// (WithConcurrency, WithLiterals), rather than ignore them.
func NewReader(r io.Reader, opts ...Option) (*Reader, error) {
	cfg, err := configOf(opts)
	if err != nil {
		return nil, err
	}
	if cfg.pipelineOnly != "" {
		return nil, fmt.Errorf("auditlog: NewReader: %s applies to ScanFiles, ScanReader and ReadFiles, not to a Reader", cfg.pipelineOnly)
	}
	rd := &Reader{cfg: cfg}
	rd.evp = &rd.ev
	rd.Reset(r)
	return rd, nil
}

// Reset discards the Reader's state and makes it read from r, keeping its
// options and buffers. Views from earlier events become invalid.
func (rd *Reader) Reset(r io.Reader) {
	rd.srcOffset = offsetReader{r: r, progress: rd.cfg.progress}
	if rd.br == nil {
		rd.br = bufio.NewReaderSize(&rd.srcOffset, peekBufSize)
	} else {
		rd.br.Reset(&rd.srcOffset)
	}
	if rd.buf == nil {
		rd.buf = make([]byte, initialBufSize)
	}
	rd.r, rd.w, rd.base, rd.line, rd.damagedAt = 0, 0, 0, 0, -1
	rd.eof, rd.readErr, rd.skipping, rd.bomDone, rd.started, rd.done = false, nil, false, false, false, false
	rd.pending, rd.list, rd.startErr = rd.pending[:0], listState{}, nil
	rd.in, rd.compressed = rd.br, false
	rd.format, rd.detected, rd.env = nil, false, envState{}

	magic, err := rd.br.Peek(6)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		if pe, ok := err.(*os.PathError); ok {
			err = pe.Err // the file is named once, by the ParseError
		}
		rd.startErr = fmt.Errorf("read failed: %w", err)
		return
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		rd.compressed = true
		if err := rd.gz.reset(rd.br, &rd.srcOffset); err != nil {
			rd.startErr = fmt.Errorf("gzip: %w", err)
			return
		}
		rd.in = rd.inner.over(&rd.gz)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		rd.compressed = true
		if rd.zd == nil {
			rd.zd, err = zstd.NewReader(rd.br,
				zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxWindow(rd.cfg.maxZstdWindow),
				zstd.WithDecoderMaxMemory(1<<40)) // the output is streamed; only the window is held
		} else {
			err = rd.zd.Reset(rd.br)
		}
		if err != nil {
			rd.startErr = fmt.Errorf("zstd: %w", err)
			return
		}
		rd.in = rd.zd
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		rd.startErr = errors.New("xz-compressed input is not supported; decompress it first (xz -dc)")
	case bytes.HasPrefix(magic, []byte("BZh")):
		rd.startErr = errors.New("bzip2-compressed input is not supported; decompress it first (bzip2 -dc)")
	case bytes.HasPrefix(magic, []byte{0x04, 0x22, 0x4d, 0x18}):
		rd.startErr = errors.New("lz4-compressed input is not supported; decompress it first (lz4 -dc)")
	}
}

// Close releases the decompressors. It does not close the underlying reader.
func (rd *Reader) Close() error {
	if rd.zd != nil {
		rd.zd.Close()
		rd.zd = nil
	}
	rd.done = true
	return nil
}

// Next returns the next event, or io.EOF after the last one.
//
// The Event and every view it returns are valid until the next call to Next,
// Reset or Close; call Event.Clone to keep one.
//
// Each error is returned once, as a *ParseError with the position of the fault.
// A bad line (malformed JSON, a field of the wrong type, an over-long line, an
// event cut short) does not stop the Reader: call Next again for the events
// after it. An error of the underlying reader or decompressor ends the stream
// after every complete event before it was returned (ParseError.Fatal is set),
// and the next call returns io.EOF. So a loop that logs errors and continues
// until io.EOF is correct.
func (rd *Reader) Next() (*Event, error) {
	if !rd.detected && !rd.done && rd.startErr == nil {
		rd.start()
	}
	for {
		if rd.env.active {
			ev, err := rd.nextEnveloped()
			if ev != nil || err != nil {
				return ev, err
			}
			continue
		}
		if rd.format != nil {
			rec, err := rd.formatRecord()
			if err != nil {
				return nil, err
			}
			rd.env = envState{active: true, rec: rec, mark: rec, inner: rd.env.inner[:0]}
			if u, ok := rd.format.(Unwrapper); ok {
				if err := rd.unwrap(u); err != nil {
					rd.env.active = false
					return nil, err
				}
			}
			continue
		}
		if rd.list.active {
			ev, err := rd.nextItem()
			if ev != nil || err != nil {
				return ev, err
			}
			continue
		}
		rec, err := rd.pendingOrNextRecord()
		if err != nil {
			return nil, err
		}
		ev, err := rd.decodeRecord(rec)
		if ev != nil || err != nil {
			return ev, err
		}
	}
}

// pendingOrNextRecord returns the value left over after another on its
// line (`}{`, as Firehose writes records), else the next record.
func (rd *Reader) pendingOrNextRecord() (record, error) {
	if len(rd.pending) > 0 {
		rec := rd.pending[0]
		rd.pending = rd.pending[1:]
		return rec, nil
	}
	return rd.nextRecord()
}

// All returns a single-use iterator over the events and errors of Next, ending at
// io.EOF (which it does not yield). The same lifetime rules apply to each event.
func (rd *Reader) All() iter.Seq2[*Event, error] {
	return func(yield func(*Event, error) bool) {
		for {
			ev, err := rd.Next()
			if err == io.EOF {
				return
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// set returns the rotation set of the stream's name, for Event.Source.
func (rd *Reader) set() string {
	if rd.setName != rd.cfg.name || rd.setOf == "" && rd.cfg.name != "" {
		rd.setName = rd.cfg.name
		rd.setOf = rd.cfg.name
		if rd.cfg.name != "" && rd.cfg.name[0] != '<' {
			rd.setOf = SetOf(rd.cfg.name)
		}
	}
	return rd.setOf
}

// cutMarker starts every event kube-apiserver writes. Finding it after a syntax
// error means the line holds the start of an event that was cut short (the writer
// died) followed by a whole event written after the restart.
var cutMarker = []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/`)

// decodeRecord decodes one record into rd.ev. It returns (nil, nil) when the
// record started a list, whose items Next then returns.
func (rd *Reader) decodeRecord(rec record) (*Event, error) {
	d, err := decodeEvent(rd.evp, rec.data, rd.cfg.noBodies, rd.cfg.rawFields)
	de, _ := err.(*decodeError) // the decoder's only error type
	if de != nil && de.incomplete && rec.fresh && rec.nl {
		// A line that leaves a value open: pretty-printed JSON, or an event cut
		// short. Rewind (no read happened since it was framed) and join lines.
		rd.r, rd.line = rd.lastStart, rd.lastLine
		joined, err := rd.continueRecord(len(rec.data))
		if err != nil {
			return nil, err
		}
		return rd.decodeRecord(joined)
	}
	if d.itemsOff >= 0 && (err == nil || isSyntax(err)) && d.isList() {
		// Items before a fault are still delivered; nextItem reports the fault.
		rd.list = listState{active: true, rec: rec, pos: d.itemsOff + 1, first: true, at: rec}
		return nil, nil
	}
	if err == nil && !d.isAuditEvent() {
		perr := rd.errAt(rec, 0, notEventError(rec.data))
		if rec.first {
			// Valid JSON, but not what an audit log holds: one error for the
			// stream, not one per record.
			perr.Err = fmt.Errorf("not an audit log: %w; nothing of it was read", perr.Err)
			perr.Fatal, rd.done = true, true
		}
		return nil, perr
	}
	if err != nil {
		if de.incomplete {
			return nil, rd.truncated(rec, 0)
		}
		if isSyntax(err) && rec.data[0] == 0 {
			// Zero-filled blocks: report them, and decode what follows on the line.
			q := 0
			for q < len(rec.data) && rec.data[q] == 0 {
				q++
			}
			if q < len(rec.data) && rec.data[q] == '{' {
				rd.pending = append(rd.pending, record{data: rec.data[q:], off: rec.off + int64(q), line: rec.line, col0: rec.col0 + q})
			} else if q < len(rec.data) {
				return nil, rd.errAt(rec, q, fmt.Errorf("%w (%d bytes), then bytes that are not JSON", ErrZeroFilled, q))
			}
			return nil, rd.errAt(rec, 0, fmt.Errorf("%w (%d bytes)", ErrZeroFilled, q))
		}
		if isSyntax(err) {
			if i := bytes.Index(rec.data[1:], cutMarker); i >= 0 {
				// Report the cut event, then decode the one after it.
				q := i + 1
				rd.pending = append(rd.pending, record{data: rec.data[q:], off: rec.off + int64(q), line: rec.line, col0: rec.col0 + q})
				return nil, rd.errAt(rec, 0, ErrIncomplete)
			}
		}
		return nil, rd.errAt(rec, de.off, de.err)
	}
	rd.evp.pos = Position{File: rd.cfg.name, Line: rec.line, Offset: rec.off}
	rd.evp.set = rd.set()
	return rd.evp, nil
}

// truncated reports input that ends inside the value at rec.data[off:]: the
// read error that ended the stream, if any, else ErrTruncated.
func (rd *Reader) truncated(rec record, off int) error {
	if rd.readErr != nil {
		err := rd.readErr
		rd.readErr = nil
		p := rd.errAt(rec, off, nil)
		more := resumable(err)
		err = fmt.Errorf("%w; the incomplete event starting here was dropped", describeReadErr(err, rd.compressed))
		if more {
			rd.newLineAfterDamage()
			return &ParseError{File: rd.cfg.name, Line: p.Line, Offset: p.Offset, Err: err, Compressed: rd.compressed}
		}
		return rd.fatal(p.Line, p.Offset, err)
	}
	if rd.midStream {
		return rd.errAt(rec, off, ErrIncomplete)
	}
	return rd.errAt(rec, off, fmt.Errorf("%w (the file may still be being written)", ErrTruncated))
}

func isSyntax(err error) bool {
	var se *SyntaxError
	return errors.As(err, &se)
}

// isList reports whether the decoded document is an EventList or an array.
func (d *decoder) isList() bool {
	if d.topArray {
		return true
	}
	kind := string(d.ev.kind)
	return kind == "EventList" || kind == "" && len(d.ev.auditID) == 0
}

// nextItem returns the next element of the current list, (nil, nil) when the list
// is done.
func (rd *Reader) nextItem() (*Event, error) {
	l := &rd.list
	d := decoder{data: l.rec.data, pos: l.pos, ev: rd.evp, scratch: &rd.evp.scratch, itemsOff: -1}
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == ']' && l.first {
		l.active = false
		return nil, nil
	}
	if !l.first {
		if d.pos >= len(d.data) {
			l.active = false
			return nil, rd.truncated(l.rec, d.pos)
		}
		switch d.data[d.pos] {
		case ']':
			l.active = false
			return nil, nil
		case ',':
			d.pos++
			d.ws()
		default:
			l.active = false
			return nil, rd.errAt(l.rec, d.pos, &SyntaxError{Msg: "invalid character " + quoteChar(d.data[d.pos]) + " after array element"})
		}
	}
	l.first = false
	start := d.pos
	if err := d.skip(); err != nil {
		l.active = false
		de := err.(*decodeError)
		if de.incomplete {
			return nil, rd.truncated(l.rec, start)
		}
		return nil, rd.errAt(l.rec, de.off, de.err)
	}
	l.pos = d.pos
	item := l.rec.data[start:d.pos:d.pos]
	itemRec := rd.subRecord(l.at, start-l.atOff)
	l.at, l.atOff = itemRec, start
	itemRec.data = item

	id, err := decodeEvent(rd.evp, item, rd.cfg.noBodies, rd.cfg.rawFields)
	if err == nil && (id.itemsOff >= 0 || !id.isAuditEvent()) {
		err = &decodeError{off: 0, err: notEventError(item)}
	}
	if err != nil {
		de := err.(*decodeError)
		return nil, rd.errAt(itemRec, de.off, de.err)
	}
	rd.evp.pos = Position{File: rd.cfg.name, Line: itemRec.line, Offset: itemRec.off}
	rd.evp.set = rd.set()
	return rd.evp, nil
}

// subRecord returns the position of rec.data[off:] as a record.
func (rd *Reader) subRecord(rec record, off int) record {
	before := rec.data[:off]
	nl := bytes.Count(before, []byte{'\n'})
	col0 := rec.col0 + off
	if nl > 0 {
		col0 = off - (bytes.LastIndexByte(before, '\n') + 1)
	}
	return record{data: rec.data[off:], off: rec.off + int64(off), line: rec.line + nl, col0: col0}
}

// errAt makes a ParseError for a fault at offset off of rec.
func (rd *Reader) errAt(rec record, off int, err error) *ParseError {
	return rd.errAtPos(rd.subRecord(rec, min(off, len(rec.data))), err)
}

// errAtPos makes a ParseError for a fault at the start of p.
func (rd *Reader) errAtPos(p record, err error) *ParseError {
	return &ParseError{File: rd.cfg.name, Line: p.line, Column: p.col0 + 1, Offset: p.off, Err: err, Compressed: rd.compressed}
}

func (rd *Reader) fatal(line int, off int64, err error) *ParseError {
	rd.done = true
	return &ParseError{File: rd.cfg.name, Line: line, Offset: off, Err: err, Compressed: rd.compressed, Fatal: true}
}
