package auditlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/klauspost/compress/zstd"
)

// Framing: cutting the decompressed stream into records (a line, or the
// lines of a pretty-printed document), with the positions of their bytes.

// nextRecord frames the next JSON document: normally one line; a document that a
// line leaves open continues over the following lines (pretty-printed JSON) as
// long as none of them starts a new document at column 1.
func (rd *Reader) nextRecord() (record, error) {
	if rd.done {
		return record{}, io.EOF
	}
	if rd.startErr != nil {
		return record{}, rd.fatal(0, 0, rd.startErr)
	}
	rd.start()
	for {
		if rd.skipping {
			if done := rd.skipLongLine(); !done {
				return record{}, rd.endOfStream()
			}
		}
		end, nl, err := rd.lineEnd(0)
		if err == errFull {
			perr := &ParseError{File: rd.cfg.name, Line: rd.line + 1, Column: 1, Offset: rd.base + int64(rd.r),
				Err: fmt.Errorf("%w: more than %d bytes; skipped", ErrLineTooLong, rd.cfg.maxLineSize), Compressed: rd.compressed}
			if nl {
				rd.consume(end, nl)
			} else {
				rd.skipping = true
				rd.r = rd.w
			}
			return record{}, perr
		}
		if !nl && end == 0 {
			return record{}, rd.endOfStream()
		}
		lineBytes := rd.buf[rd.r : rd.r+end]
		rec := record{data: lineBytes, off: rd.base + int64(rd.r), line: rd.line + 1}
		if isBlank(lineBytes) {
			rd.consume(end, nl)
			continue
		}
		seenBefore := rd.started
		rd.started = true
		rec.first = !seenBefore
		c := lineBytes[firstNonBlank(lineBytes)]
		if rd.format == nil && c != '{' && c != '[' && looksLegacy(lineBytes) {
			rd.consume(end, nl)
			perr := rd.errAt(rec, 0, ErrLegacyFormat)
			if !seenBefore {
				// The whole stream is legacy: one error, not one per line.
				perr.Fatal = true
				rd.done = true
			}
			return record{}, perr
		}
		rec.fresh, rec.nl = true, nl
		rd.lastStart, rd.lastLine = rd.r, rd.line
		rd.consume(end, nl)
		return rec, nil
	}
}

// start skips a byte-order mark at the start of the stream and chooses
// its format from its head, once.
func (rd *Reader) start() {
	if !rd.bomDone {
		rd.bomDone = true
		want := 3
		if !rd.detected && len(rd.cfg.formats) > 0 && !rd.cfg.follow {
			want = DetectHead
		}
		for rd.w-rd.r < want && !rd.eof && rd.readErr == nil {
			if err := rd.fill(); err != nil {
				break
			}
		}
		if bytes.HasPrefix(rd.buf[rd.r:rd.w], []byte("\xef\xbb\xbf")) {
			rd.r += 3
		}
	}
	if !rd.detected {
		if rd.cfg.follow && len(rd.cfg.formats) > 0 {
			// A followed log grows a line at a time: decide on its first
			// whole line rather than wait for DetectHead bytes.
			for bytes.IndexByte(rd.buf[rd.r:rd.w], '\n') < 0 && rd.w-rd.r < DetectHead && !rd.eof && rd.readErr == nil {
				if rd.fill() != nil {
					break
				}
			}
		}
		rd.detected = true
		rd.format = detectFormat(rd.buf[rd.r:min(rd.w, rd.r+DetectHead)], rd.cfg.formats)
	}
}

// continueRecord extends a record whose first line (of length firstEnd) leaves a
// JSON value open with the lines that follow, until the value closes.
func (rd *Reader) continueRecord(firstEnd int) (record, error) {
	var ds depthScanner
	firstLine := rd.buf[rd.r : rd.r+firstEnd]
	ds.feed(firstLine)
	inArray := firstLine[firstNonBlank(firstLine)] == '['

	rel := firstEnd + 1
	startLine, startOff := rd.line+1, rd.base+int64(rd.r)
	for {
		end, nl, err := rd.lineEnd(rel)
		next := rd.buf[rd.r+rel : rd.r+end]
		// A line starting a new object ends an object record (the next event
		// after one cut short); arrays list one object per line.
		newDoc := len(next) > 0 && (next[0] == '[' || next[0] == '{' && !inArray)
		// A parallel chunk ends where the next line starts an object.
		chunkEnd := !nl && len(next) == 0 && rd.midStream && !inArray
		if err != nil || newDoc || chunkEnd {
			// Not a multi-line document: the first line alone is an event cut short.
			first := record{data: rd.buf[rd.r : rd.r+firstEnd], off: startOff, line: startLine}
			rd.consume(firstEnd, true)
			return record{}, rd.errAt(first, 0, ErrIncomplete)
		}
		if ds.feed(next) || !nl {
			// Closed, or the input ended: the decoder says which.
			rec := record{data: rd.buf[rd.r : rd.r+end], off: startOff, line: startLine}
			rd.consume(end, nl)
			return rec, nil
		}
		rel = end + 1
	}
}

// newLineAfterDamage counts the data after a damaged compressed stream as a
// new line, once for the partial line before the damage, however many
// damaged members follow one another.
func (rd *Reader) newLineAfterDamage() {
	if at := rd.base + int64(rd.r); at != rd.damagedAt {
		rd.line++
		rd.damagedAt = at
	}
}

// endOfStream reports the end: io.EOF, or the read error that ended the stream.
func (rd *Reader) endOfStream() error {
	if rd.readErr != nil {
		off := rd.base + int64(rd.r)
		err := rd.readErr
		rd.readErr = nil
		if resumable(err) {
			perr := &ParseError{File: rd.cfg.name, Line: rd.line + 1, Offset: off, Err: describeReadErr(err, rd.compressed), Compressed: rd.compressed}
			if rd.r > 0 && rd.buf[rd.r-1] != '\n' {
				rd.newLineAfterDamage()
			}
			return perr
		}
		return rd.fatal(rd.line+1, off, describeReadErr(err, rd.compressed))
	}
	rd.done = true
	return io.EOF
}

func describeReadErr(err error, compressed bool) error {
	if compressed && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) {
		return fmt.Errorf("compressed stream is truncated: %w", err)
	}
	var ge *GzipMemberError
	if errors.As(err, &ge) {
		return err
	}
	if errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return fmt.Errorf("zstd frame asks for a decoding window over the memory limit (128 MiB by default): %w", err)
	}
	if compressed {
		return fmt.Errorf("decompression failed: %w", err)
	}
	return fmt.Errorf("read failed: %w", err)
}

// consume marks a line of length end, plus its newline, as read.
func (rd *Reader) consume(end int, nl bool) {
	seg := rd.buf[rd.r : rd.r+end]
	rd.line += bytes.Count(seg, []byte{'\n'})
	rd.r += end
	if nl {
		rd.r++
		rd.line++
	}
}

// lineEnd returns the offset, relative to rd.r, of the newline that ends the line
// starting at rd.r+rel, reading more input as needed. nl is false when the input
// ends first; then end is where the data ends. Relative offsets survive the
// buffer compaction that reading may do.
func (rd *Reader) lineEnd(rel int) (end int, nl bool, err error) {
	searched := rel
	for {
		if i := bytes.IndexByte(rd.buf[rd.r+searched:rd.w], '\n'); i >= 0 {
			if searched+i > rd.cfg.maxLineSize {
				return searched + i, true, errFull
			}
			return searched + i, true, nil
		}
		searched = rd.w - rd.r
		if searched > rd.cfg.maxLineSize {
			return searched, false, errFull
		}
		if rd.eof || rd.readErr != nil {
			return searched, false, nil
		}
		if err := rd.fill(); err != nil {
			return searched, false, err
		}
	}
}

// fill reads more input into buf, compacting and growing it (up to the line limit).
func (rd *Reader) fill() error {
	if rd.r > 0 && (rd.w == len(rd.buf) || rd.r > len(rd.buf)/2) {
		copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.base += int64(rd.r)
		rd.w -= rd.r
		rd.r = 0
	}
	if rd.w == len(rd.buf) {
		limit := rd.cfg.maxLineSize + 1
		if len(rd.buf) >= limit {
			return errFull
		}
		nb := make([]byte, min(2*len(rd.buf), limit))
		copy(nb, rd.buf[:rd.w])
		rd.buf = nb
	}
	for range 100 {
		n, err := rd.in.Read(rd.buf[rd.w:])
		rd.w += n
		if err == io.EOF {
			rd.eof = true
			return nil
		}
		if err != nil {
			rd.readErr = err
			return nil
		}
		if n > 0 {
			return nil
		}
	}
	rd.readErr = io.ErrNoProgress
	return nil
}

// skipLongLine discards input through the next newline. It reports false when the
// input ended first.
func (rd *Reader) skipLongLine() bool {
	for {
		if i := bytes.IndexByte(rd.buf[rd.r:rd.w], '\n'); i >= 0 {
			rd.r += i + 1
			rd.line++
			rd.skipping = false
			return true
		}
		rd.r = rd.w
		if rd.eof || rd.readErr != nil {
			rd.skipping = false
			return false
		}
		rd.fill()
	}
}

func isBlank(b []byte) bool { return firstNonBlank(b) == len(b) }

func firstNonBlank(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return i
		}
	}
	return len(b)
}

// looksLegacy recognizes `<RFC3339 time> AUDIT: id="..."` lines of the legacy format.
func looksLegacy(line []byte) bool {
	head := line[:min(len(line), 64)]
	i := bytes.Index(head, []byte(" AUDIT: "))
	return i >= 10 && line[0] >= '0' && line[0] <= '9'
}

// depthScanner follows JSON nesting across lines without decoding values.
type depthScanner struct {
	depth        int
	inStr, esc   bool
	sawContainer bool
}

// feed scans b and reports whether the outermost value closed within it.
func (s *depthScanner) feed(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if s.inStr {
			if s.esc {
				s.esc = false
				continue
			}
			i += plainRun(b[i:])
			if i >= len(b) {
				return false
			}
			switch b[i] {
			case '\\':
				s.esc = true
			case '"':
				s.inStr = false
			}
			continue
		}
		switch b[i] {
		case '"':
			s.inStr = true
		case '{', '[':
			s.depth++
			s.sawContainer = true
		case '}', ']':
			s.depth--
			if s.depth <= 0 && s.sawContainer {
				return true
			}
		}
	}
	return false
}

// plainRun returns the length of the run of bytes at the start of b that
// are not '"', '\\' or control bytes, eight at a time.
func plainRun(b []byte) int {
	i := 0
	for i+8 <= len(b) {
		if m := specialBytes(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && plainStringByte[b[i]] {
		i++
	}
	return i
}
