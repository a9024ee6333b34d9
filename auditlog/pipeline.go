package auditlog

// The parallel pipeline. Each input is read by one goroutine that
// decompresses it and cuts the stream into chunks of whole lines; workers
// decode the chunks (and run the caller's WorkFunc on each event); the
// caller's goroutine takes the chunks back in input order. Several inputs are
// read at once, so rotated backups decompress concurrently. Memory is bounded
// by the chunks in flight: at most chunksPerInput for each of the inputs open
// at once.

import (
	"bytes"
	"context"
	"io"
	"sync"
	"unsafe"
)

const (
	defaultChunkSize = 512 << 10
	// A chunk may grow to chunkSpan times its size to reach a line boundary
	// where a new object starts. An input without one that near (a huge
	// pretty-printed EventList, a line of many MB) is read on sequentially.
	chunkSpan      = 8
	chunksPerInput = 3
)

// chunk is a run of whole lines of one input and, once a worker is done with
// it, its events and errors.
type chunk[T any] struct {
	buf        []byte // storage of data, kept when the chunk is reused
	data       []byte
	off        int64 // stream offset of data[0]
	lines      int   // newlines in data: positions in items count from data[0], and the caller adds the lines before
	last       bool  // nothing of the input follows
	readErr    error // the error that ended the input after data (last only)
	compressed bool
	name       string
	format     Format
	ready      bool // needs no worker: an error, or rest

	// rest, when set, is the input from data on, to be read sequentially by
	// the caller's goroutine (no boundary to cut at was found).
	rest   *Reader
	closer func()

	events []Event
	outs   []T
	items  []item
	done   chan struct{}
}

// item is an event (an index into events and outs), an error, or the
// chunk's folded partial (outs[0]).
type item struct {
	ev      int
	err     error
	partial bool
}

// input is one source being read: its chunks, in order.
type input[T any] struct {
	name   string
	chunks chan *chunk[T]
}

type pipeline[T any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	cfg    config
	work   WorkFunc[T]
	// With fold set, a chunk's events that work keeps are folded into its
	// outs[0] (reset by start) instead of being delivered one by one
	// (ScanFolded).
	start func(*T)
	fold  func(*Event, *T)

	inputs  chan *input[T] // in input order, at most `open` ahead of the caller
	current *input[T]      // the input being delivered
	halted  bool           // the caller stopped the iteration
	jobs    chan *chunk[T]
	free    chan *chunk[T]
	wg      sync.WaitGroup
}

func newPipeline[T any](ctx context.Context, cfg config, work WorkFunc[T], workers int) *pipeline[T] {
	p := &pipeline[T]{cfg: cfg, work: work}
	p.ctx, p.cancel = context.WithCancel(ctx)
	open := workers + 1 // inputs read at once: one more than cores keeps them busy
	p.inputs = make(chan *input[T], open-1)
	p.jobs = make(chan *chunk[T], open*chunksPerInput)
	p.free = make(chan *chunk[T], workers+2) // the chunks in flight are bounded by the channels; these are spares
	for range workers {
		p.wg.Add(1)
		go p.worker()
	}
	return p
}

// stop ends every goroutine and waits for them.
func (p *pipeline[T]) stop() {
	p.cancel()
	drain := func(in *input[T]) {
		for c := range in.chunks {
			if c.rest != nil {
				c.rest.Close()
				c.closer()
			}
		}
	}
	if p.current != nil {
		drain(p.current)
	}
	for in := range p.inputs { // unblock the launcher and the readers
		drain(in)
	}
	p.wg.Wait()
}

// launch starts a reader for each source, in order; the channel's capacity
// bounds how many are open at once.
func (p *pipeline[T]) launch(srcs []source) {
	defer close(p.inputs)
	for _, src := range srcs {
		in := &input[T]{name: src.name, chunks: make(chan *chunk[T], chunksPerInput)}
		select {
		case p.inputs <- in:
		case <-p.ctx.Done():
			return
		}
		p.wg.Add(1)
		go p.read(src, in)
	}
}

func (p *pipeline[T]) getChunk() *chunk[T] {
	select {
	case c := <-p.free:
		return c
	default:
		return &chunk[T]{done: make(chan struct{}, 1)}
	}
}

func (p *pipeline[T]) putChunk(c *chunk[T]) {
	c.rest, c.closer, c.readErr, c.ready = nil, nil, nil, false
	c.items = c.items[:0]
	c.data = nil
	if cap(c.buf) > 2*p.cfg.chunkSize {
		c.buf = nil // an outsized chunk is not kept
	}
	select {
	case p.free <- c:
	default:
	}
}

// send passes c to the caller (in order) and, unless it is read sequentially,
// to the workers.
func (p *pipeline[T]) send(in *input[T], c *chunk[T]) bool {
	select {
	case in.chunks <- c:
	case <-p.ctx.Done():
		return false
	}
	if c.ready {
		c.done <- struct{}{}
		return true
	}
	select {
	case p.jobs <- c:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// read decompresses one source and cuts it into chunks at line boundaries
// where a new object starts, so that every chunk decodes on its own.
func (p *pipeline[T]) read(src source, in *input[T]) {
	defer p.wg.Done()
	defer close(in.chunks)
	r, closeFn, err := src.open()
	if err != nil {
		c := p.getChunk()
		c.items, c.ready = append(c.items[:0], item{ev: -1, err: fileError(err)}), true
		p.send(in, c)
		return
	}
	handedOff := false
	defer func() {
		if !handedOff {
			closeFn()
		}
	}()
	cfg := p.cfg
	if src.name != "" {
		cfg.name = src.name
	}
	rd := &Reader{cfg: cfg}
	rd.evp = &rd.ev
	rd.Reset(r)
	defer rd.Close()
	if rd.startErr != nil {
		c := p.getChunk()
		_, err := rd.nextRecord()
		c.items, c.ready = append(c.items[:0], item{ev: -1, err: err}), true
		p.send(in, c)
		return
	}
	var (
		carry    []byte // the start of a line not yet cut off
		off      int64
		readErr  error
		eof      bool
		format   Format // the input's, chosen from its first bytes
		detected bool
	)
	detect := func(buf []byte) {
		if !detected {
			detected = true
			head := bytes.TrimPrefix(buf, []byte("\xef\xbb\xbf"))
			format = detectFormat(head[:min(len(head), DetectHead)], p.cfg.formats)
		}
	}
	for !eof {
		c := p.getChunk()
		size := p.cfg.chunkSize
		buf := c.buf[:0]
		if cap(buf) < size+len(carry) {
			// Headroom for the carried line, so that a recycled chunk fits the
			// next one's carry too instead of being replaced every time.
			buf = make([]byte, 0, size+max(len(carry), size/8))
		}
		buf = append(buf, carry...)
		searched := max(len(carry)-1, 0)
		cut := 0
		for {
			if len(buf) == cap(buf) {
				if len(buf) >= chunkSpan*size {
					break
				}
				nb := make([]byte, len(buf), 2*cap(buf))
				copy(nb, buf)
				buf = nb
			}
			n, err := rd.in.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if resumable(err) {
				readErr = err // the chunk ends at the damage; reading goes on after it
				break
			}
			if err != nil {
				eof = true
				if err != io.EOF {
					readErr = err
				}
				break
			}
			if len(buf) >= size {
				detect(buf)
				if cut = cutPointFor(format, buf, searched); cut > 0 {
					break
				}
				searched = max(len(buf)-1, 0)
			}
		}
		detect(buf)
		c.buf, c.data, c.off, c.compressed, c.name, c.last = buf, buf, off, rd.compressed, cfg.name, eof
		c.format = format
		if eof {
			c.readErr = readErr
			p.send(in, c)
			return
		}
		if readErr != nil { // resumable: a chunk of its own, ended by the error
			c.readErr, readErr = readErr, nil
			carry = carry[:0]
			off += int64(len(buf))
			if !p.send(in, c) {
				return
			}
			continue
		}
		if cut == 0 {
			// No boundary within chunkSpan*size: the caller reads the rest in order.
			restCfg := cfg
			restCfg.progress = nil // the source is already counted
			rest := &Reader{cfg: restCfg}
			rest.evp = &rest.ev
			rest.Reset(io.MultiReader(bytes.NewReader(buf), rd.in))
			rest.base, rest.bomDone, rest.started = off, off != 0, off != 0
			rest.compressed = rd.compressed
			rest.format, rest.detected = format, true
			c.data, c.rest, c.closer, c.ready = nil, rest, closeFn, true
			// rd's decompressor now belongs to rest.
			rest.zd, rd.zd = rd.zd, nil
			handedOff = p.send(in, c)
			return
		}
		carry = append(carry[:0], buf[cut:]...)
		c.data = buf[:cut:cut]
		off += int64(cut)
		if !p.send(in, c) {
			return
		}
	}
}

// cutPointFor is cutPoint for a stream in format f: any line end for a
// format of lines, none for YAML documents (read in order).
func cutPointFor(f Format, b []byte, from int) int {
	if f == nil {
		return cutPoint(b, from)
	}
	switch f.Framing() {
	case FrameLines:
		if i := bytes.LastIndexByte(b[from:max(len(b)-1, from)], '\n'); i >= 0 {
			return from + i + 1
		}
		return 0
	case FrameYAML:
		return 0
	}
	return cutPoint(b, from)
}

// cutPoint returns the length of the longest prefix of b that ends with a
// newline after a line ending in '}' and before a line starting with '{' (a
// boundary between two events, in any format the Reader accepts), or 0. The
// first `from` bytes were searched before.
func cutPoint(b []byte, from int) int {
	end := len(b) - 1 // the byte after a newline must be present
	for end > from {
		i := bytes.LastIndexByte(b[from:end], '\n')
		if i < 0 {
			return 0
		}
		i += from
		if b[i+1] == '{' && endsObject(b[:i]) {
			return i + 1
		}
		end = i
	}
	return 0
}

func endsObject(b []byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case '\r', ' ', '\t':
			continue
		case '}':
			return true
		}
		return false
	}
	return false
}

// worker decodes chunks.
func (p *pipeline[T]) worker() {
	defer p.wg.Done()
	rd := &Reader{cfg: p.cfg}
	for {
		select {
		case c := <-p.jobs:
			p.decode(rd, c)
			c.done <- struct{}{}
		case <-p.ctx.Done():
			return
		}
	}
}

// decode reads the events of c into its slots, exactly as a sequential Reader
// reads the same bytes at the same position.
func (p *pipeline[T]) decode(rd *Reader, c *chunk[T]) {
	c.items = c.items[:0]
	c.lines = bytes.Count(c.data, []byte{'\n'}) // here, not in the reader: it is the one goroutine per input
	if c.readErr != nil && len(c.data) > 0 && c.data[len(c.data)-1] != '\n' && resumable(c.readErr) {
		c.lines++ // as the Reader counts: what follows the damage starts a new line
	}
	if ls := p.cfg.literals; ls != nil && c.off != 0 && !c.last && c.readErr == nil && literalsVisible(c.format) && !ls.mayContain(c.data) {
		return // the caller keeps only events with a literal; none is here
	}
	rd.resetChunk(c.name, c.data, c.off, 0, c.last, c.readErr, c.compressed, c.format)
	if p.fold != nil {
		p.decodeFolded(rd, c)
		return
	}
	k := 0
	for {
		if k == len(c.events) {
			c.events = append(c.events, Event{})
			var zero T
			c.outs = append(c.outs, zero)
		}
		rd.evp = &c.events[k]
		ev, err := rd.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			c.items = append(c.items, item{ev: -1, err: err})
			continue
		}
		if p.work != nil && !p.work(ev, &c.outs[k]) {
			continue
		}
		c.items = append(c.items, item{ev: k})
		k++
	}
}

// decodeFolded folds the events of c into c.outs[0]. An event's slot is
// reused for the next unless its Raw lives in the slot (an envelope's
// unwrapped JSON), so that every folded event's Raw stays valid until the
// chunk is delivered.
func (p *pipeline[T]) decodeFolded(rd *Reader, c *chunk[T]) {
	if len(c.outs) == 0 {
		var zero T
		c.outs = append(c.outs, zero)
	}
	p.start(&c.outs[0])
	k := 0
	for {
		if k == len(c.events) {
			c.events = append(c.events, Event{})
		}
		rd.evp = &c.events[k]
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if pe, ok := err.(*ParseError); ok && pe.Fatal {
				// A sequential Reader ends here: the partial holds what
				// came before, and comes before the error (which ends
				// the delivery).
				c.items = append(c.items, item{partial: true}, item{ev: -1, err: err})
				return
			}
			c.items = append(c.items, item{ev: -1, err: err})
			continue
		}
		if p.work != nil && !p.work(ev, &c.outs[0]) {
			continue
		}
		p.fold(ev, &c.outs[0])
		if !within(ev.raw, c.data) {
			k++ // its Raw is in the slot (an unwrapped envelope): keep the slot
		}
	}
	c.items = append(c.items, item{partial: true})
}

// within reports whether b lies in buf's memory.
func within(b, buf []byte) bool {
	if len(b) == 0 || len(buf) == 0 {
		return len(b) == 0
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(buf))
}

// deliver yields the results of one input in order, and reports whether to go on.
func (p *pipeline[T]) deliver(in *input[T], yield func(Result[T]) bool) bool {
	fatal := false
	lineBase := 0 // lines of the input before the chunk
	for c := range in.chunks {
		select {
		case <-c.done:
		case <-p.ctx.Done():
			return false
		}
		if c.rest != nil {
			ok := fatal || p.deliverRest(c, lineBase, yield)
			c.rest.Close()
			c.closer()
			p.putChunk(c)
			if !ok {
				return false
			}
			continue
		}
		for _, it := range c.items {
			if fatal {
				break // a sequential Reader stops at a fatal error
			}
			r := Result[T]{Err: it.err}
			if it.partial {
				r.Out = &c.outs[0]
				if !yield(r) {
					return false
				}
				continue
			}
			if it.err == nil {
				r.Event, r.Out = &c.events[it.ev], &c.outs[it.ev]
				r.Event.pos.Line += lineBase
			} else if pe, ok := it.err.(*ParseError); ok {
				pe.Line += lineBase
				fatal = pe.Fatal
			}
			if !yield(r) {
				return false
			}
		}
		lineBase += c.lines
		c.items = c.items[:0]
		p.putChunk(c)
	}
	return p.ctx.Err() == nil
}

// deliverRest reads an input's remainder on the caller's goroutine.
func (p *pipeline[T]) deliverRest(c *chunk[T], lineBase int, yield func(Result[T]) bool) bool {
	rd := c.rest
	if len(c.outs) == 0 {
		var zero T
		c.outs = append(c.outs, zero)
	}
	for k := 0; ; k++ {
		if k&255 == 0 && p.ctx.Err() != nil {
			return false
		}
		ev, err := rd.Next()
		if err == io.EOF {
			return true
		}
		if err == nil && p.work != nil && !p.work(ev, &c.outs[0]) {
			continue
		}
		r := Result[T]{Event: ev, Out: &c.outs[0], Err: err}
		if err != nil {
			r.Event, r.Out = nil, nil
			if pe, ok := err.(*ParseError); ok {
				pe.Line += lineBase
			}
		} else {
			ev.pos.Line += lineBase
		}
		if !yield(r) {
			return false
		}
	}
}

// resetChunk makes rd read data, whole lines at stream offset off after line
// lines, in place: no copy, no reads. A stream that goes on after data
// (!last) makes a value left open at the end an event cut short, not one
// still being written.
func (rd *Reader) resetChunk(name string, data []byte, off int64, line int, last bool, readErr error, compressed bool, format Format) {
	rd.cfg.name = name
	rd.buf = data[:len(data):len(data)]
	rd.r, rd.w, rd.base, rd.line, rd.damagedAt = 0, len(data), off, line, -1
	rd.eof, rd.readErr = readErr == nil, readErr
	rd.skipping, rd.done, rd.startErr = false, false, nil
	rd.bomDone, rd.started = off != 0, off != 0
	rd.pending, rd.list = rd.pending[:0], listState{}
	rd.format, rd.detected, rd.env = format, true, envState{}
	rd.compressed, rd.midStream = compressed, !last
	rd.in = eofReader{}
}

// literalsVisible reports whether the values of events in format f are
// written in the stream as JSON (or Go) strings, where the literal
// prefilter can find them: kube-apiserver's lines, and formats that say so.
// An envelope that compresses or encodes its events hides them.
func literalsVisible(f Format) bool {
	if f == nil {
		return true
	}
	v, ok := f.(interface{ LiteralsVisible() bool })
	return ok && v.LiteralsVisible()
}
