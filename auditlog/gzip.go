package auditlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

// GzipMemberError is a gzip member that failed to decompress (corrupt
// deflate data, a CRC or length mismatch, a bad header, garbage after the
// last member). The Reader skips to the next member header and goes on, so
// events after the damage are still read; what the damaged member held after
// the fault is lost. Line and offset positions after it count the bytes that
// could be decompressed.
type GzipMemberError struct {
	Err error // the decompressor's error
	// At is the compressed byte offset the decompressor had read to when it
	// failed; the damage is at or before it.
	At int64
	// Resumed is set when a later member was found, at compressed offset ResumedAt.
	Resumed   bool
	ResumedAt int64
}

func (e *GzipMemberError) Error() string {
	if e.Resumed && e.ResumedAt == e.At {
		return fmt.Sprintf("corrupt gzip member (%v) by compressed byte %d; reading goes on with the next member", e.Err, e.At)
	}
	if e.Resumed {
		return fmt.Sprintf("corrupt gzip member (%v) by compressed byte %d; skipped %d compressed bytes to the next member",
			e.Err, e.At, e.ResumedAt-e.At)
	}
	return fmt.Sprintf("corrupt gzip data (%v) by compressed byte %d; no gzip member follows, the rest of the file is lost", e.Err, e.At)
}

func (e *GzipMemberError) Unwrap() error { return e.Err }

// resumable reports whether err leaves more of the stream to read.
func resumable(err error) bool {
	var ge *GzipMemberError
	return errors.As(err, &ge) && ge.Resumed
}

// gzipMembers decompresses a gzip stream of one or more members. When a member
// is corrupt it returns a *GzipMemberError once, then carries on with the next
// member header found after the damage (like gzip -d's "trailing garbage"
// handling, but for the middle of the file too).
type gzipMembers struct {
	br   *bufio.Reader
	src  *offsetReader // under br: counts the compressed bytes read
	gz   *gzip.Reader
	dead bool // no member follows a failure
}

// offset is the compressed offset of the next byte the decompressor will read.
func (g *gzipMembers) offset() int64 { return g.src.n - int64(g.br.Buffered()) }

func (g *gzipMembers) reset(br *bufio.Reader, src *offsetReader) error {
	g.br, g.src, g.dead = br, src, false
	if g.gz == nil {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		g.gz = gz
		return nil
	}
	return g.gz.Reset(br)
}

func (g *gzipMembers) Read(p []byte) (int, error) {
	if g.dead {
		return 0, io.EOF
	}
	n, err := g.gz.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return n, err // the file ends inside a member: truncated, nothing follows
	}
	ge := &GzipMemberError{Err: err, At: g.offset()}
	if at, ok := g.nextMember(); ok {
		ge.Resumed, ge.ResumedAt = true, at
	} else {
		g.dead = true
	}
	return n, ge
}

var gzipMagic = []byte{0x1f, 0x8b, 8}

// nextMember moves past the bytes before the next plausible member header and
// starts decompressing it, returning its offset; false when none is left.
func (g *gzipMembers) nextMember() (int64, bool) {
	for {
		buf, err := g.br.Peek(g.br.Size())
		if i := bytes.Index(buf, gzipMagic); i >= 0 {
			g.br.Discard(i)
			if hdr, _ := g.br.Peek(10); len(hdr) == 10 && hdr[3]&0xe0 == 0 { // reserved flag bits clear
				at := g.offset()
				if g.gz.Reset(g.br) == nil {
					return at, true
				}
				continue // not a header after all; Reset consumed it
			}
			g.br.Discard(1)
			continue
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			g.br.Discard(len(buf))
			return 0, false
		}
		g.br.Discard(len(buf) - len(gzipMagic) + 1)
	}
}

// nestedGzip reads a decompressed stream that may itself be gzip: Amazon
// Data Firehose gzips each record and, with compression on, the object too.
type nestedGzip struct {
	br  *bufio.Reader // over the outer decompressed stream
	src offsetReader  // counts it, for the inner members' offsets
	gz  gzipMembers
}

// over returns the stream to read: outer, or what its gzip holds.
func (n *nestedGzip) over(outer io.Reader) io.Reader {
	n.src = offsetReader{r: outer}
	if n.br == nil {
		n.br = bufio.NewReaderSize(&n.src, peekBufSize)
	} else {
		n.br.Reset(&n.src)
	}
	if magic, _ := n.br.Peek(3); bytes.Equal(magic, gzipMagic) && n.gz.reset(n.br, &n.src) == nil {
		return &n.gz
	}
	return n.br
}
