package auditlog

import (
	"errors"
	"fmt"
)

// The errors a [ParseError] may wrap besides *SyntaxError, *FieldError and the
// errors of the underlying reader or decompressor.
var (
	// ErrTruncated: the input ends inside an event (a final line without newline
	// that is not a complete JSON value). The active log may still be being written,
	// or the file was copied while it was.
	ErrTruncated = errors.New("event truncated at end of input")
	// ErrIncomplete: a line ends inside an event and the next line starts another;
	// the writer was interrupted (a crash, a full disk) mid-event.
	ErrIncomplete = errors.New("event cut short: line ends inside a JSON value")
	// ErrLineTooLong: a line is longer than the limit set by [WithMaxLineSize].
	// The line is skipped and reading goes on with the next one.
	ErrLineTooLong = errors.New("line too long")
	// ErrLegacyFormat: the line is in the text format of --audit-log-format=legacy,
	// which a Reader reads only given the format of package
	// auditlog/format/legacy (WithFormats). When the first line of a stream is
	// legacy, the whole stream is refused with this error.
	ErrLegacyFormat = errors.New("legacy text audit format (--audit-log-format=legacy): read it with auditlog.WithFormats(legacy.Format)")
	// ErrZeroFilled: NUL bytes where a line should start, as a crash or a full
	// disk leaves blocks of a file zero-filled. An event after them on the same
	// line is still read.
	ErrZeroFilled = errors.New("NUL bytes where events should be (zero-filled by a crash or a full disk)")
	// ErrNotEvent: the line is valid JSON but not an object or array of objects.
	ErrNotEvent = errors.New("JSON value is not an audit event object")
)

// ParseError reports a problem at a position in the input. Errors for a bad line
// do not stop a Reader; errors from the underlying reader or the decompressor do
// (see [Reader.Next]).
type ParseError struct {
	File   string // name of the input; empty for an unnamed io.Reader
	Line   int    // 1-based line of the fault, in the decompressed stream; 0 if unknown
	Column int    // 1-based byte column of the fault within Line; 0 if unknown
	Offset int64  // byte offset of the fault in the decompressed stream
	Err    error
	// Compressed is set when the input was gzip or zstd, to say that Line and
	// Offset count decompressed bytes.
	Compressed bool
	// Fatal is set when the error ended the stream: nothing after Offset was read.
	Fatal bool
}

// Error renders file:line:column: message (byte offset N), as compilers and jq
// do; errors about a whole file (it cannot be opened) have no position.
func (e *ParseError) Error() string {
	name := e.File
	if name == "" {
		name = "<input>"
	}
	if e.Line == 0 && e.Offset == 0 {
		return fmt.Sprintf("%s: %v", name, e.Err)
	}
	where := name
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", name, e.Line)
		if e.Column > 0 {
			where = fmt.Sprintf("%s:%d", where, e.Column)
		}
	}
	unit := "byte offset"
	if e.Compressed {
		unit = "decompressed byte offset"
	}
	return fmt.Sprintf("%s: %v (%s %d)", where, e.Err, unit, e.Offset)
}

func (e *ParseError) Unwrap() error { return e.Err }

// SyntaxError is malformed JSON. The position is in the enclosing ParseError.
type SyntaxError struct {
	Msg string
}

func (e *SyntaxError) Error() string { return e.Msg }

// FieldError is a known field holding a JSON value of the wrong type, such as
// "code":"200". encoding/json rejects the same events.
type FieldError struct {
	Field string // dotted path, e.g. responseStatus.code
	Msg   string
}

func (e *FieldError) Error() string { return "field " + e.Field + ": " + e.Msg }
