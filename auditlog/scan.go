package auditlog

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"iter"
	"os"
	"runtime"
	"slices"
	"time"
)

// Scanning: a rotated set, a directory or a stream read on every core, with
// the caller's work run in the workers, results in input order. pipeline.go
// holds how.

// WorkFunc is called on a worker goroutine for each event, concurrently with
// other calls, before the event is delivered. It may keep the event or read
// its views only during the call, and may fill out, a slot delivered with the
// event. Returning false drops the event: it is not delivered.
//
// The slots of type T are reused: out holds what an earlier event left in it
// (so buffers in it can be reused without allocating); overwrite what matters.
type WorkFunc[T any] func(ev *Event, out *T) bool

// Result is one event, with its WorkFunc slot, or one error, in input order.
// Event and Out are valid until the iteration continues.
type Result[T any] struct {
	Event *Event
	Out   *T
	Err   error
}

// ScanFiles reads the files that Expand(paths) lists (with the formats of
// WithFormats), as ReadFiles does, with WithConcurrency goroutines, calling
// work (if not nil) on each event in a worker. Results come in input order,
// exactly as a sequential read would give them, errors included; a
// *SkippedError names the files of a folder left out. Stopping the
// iteration early, or cancelling ctx (which yields ctx.Err()), stops every
// goroutine before ScanFiles returns.
func ScanFiles[T any](ctx context.Context, paths []string, work WorkFunc[T], opts ...Option) iter.Seq[Result[T]] {
	return func(yield func(Result[T]) bool) {
		scanPaths(ctx, paths, work, nil, nil, opts, yield)
	}
}

// scanPaths is ScanFiles and ScanFolded: the snapshot of paths, its
// listing errors, then the files' events.
func scanPaths[T any](ctx context.Context, paths []string, work WorkFunc[T], start func(*T), fold func(*Event, *T), opts []Option, yield func(Result[T]) bool) {
	cfg, err := configOf(opts)
	if err != nil {
		yield(Result[T]{Err: err})
		return
	}
	files, opened, _, errs := snapshot(paths, &cfg)
	defer func() {
		for _, f := range opened {
			f.Close() // those never reached; the others are closed already
		}
	}()
	for _, err := range errs {
		if !yield(Result[T]{Err: fileError(err)}) {
			return
		}
	}
	srcs := make([]source, len(files))
	for i, f := range files {
		srcs[i] = fileSource(f, opened[f])
	}
	scanWith(ctx, srcs, work, start, fold, opts, yield)
}

// maxOpenedAhead bounds the files snapshot holds open.
const maxOpenedAhead = 512

// snapshot is Expand(paths) with the files opened at once (up to
// maxOpenedAhead of them), so that the read sees the logs as they were when
// it began: an active log that lumberjack renames to a backup while it is
// read, a backup it compresses and removes, or the oldest one it deletes, is
// still read to its end from the open file. A rotation between listing and
// opening changes the listing, so then both are done again. Backups that
// cfg.skip leaves out are dropped; listing is every file of the sets, as
// listed without judging content.
func snapshot(paths []string, cfg *config) (files []string, opened map[string]*os.File, listing []string, errs []error) {
	for try := 0; ; try++ {
		before, _ := expand(paths, nil, false)
		files, errs = Expand(paths, cfg.formats...)
		files, opened = pruneBackups(files, cfg.skip)
		for _, path := range files[:min(len(files), maxOpenedAhead)] {
			if opened[path] != nil {
				continue
			}
			if f, err := os.Open(path); err == nil {
				opened[path] = f
			} // else the read reports it
		}
		again, _ := expand(paths, nil, false)
		// A path that is not there may be an active log between lumberjack's
		// rename and its create: look again, a little later, before saying so.
		missing := slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, fs.ErrNotExist) })
		if slices.Equal(before, again) && (!missing || try >= 4) || try == 6 {
			return files, opened, again, errs
		}
		for _, f := range opened {
			f.Close()
		}
		if missing {
			time.Sleep(time.Duration(try+1) * time.Millisecond)
		}
	}
}

// ScanReader is ScanFiles for one stream, such as standard input.
func ScanReader[T any](ctx context.Context, r io.Reader, work WorkFunc[T], opts ...Option) iter.Seq[Result[T]] {
	return func(yield func(Result[T]) bool) {
		src := source{open: func() (io.Reader, func(), error) { return r, func() {}, nil }}
		scan(ctx, []source{src}, work, opts, yield)
	}
}

// source is one input: a file, or a stream already open.
type source struct {
	name string
	open func() (io.Reader, func(), error)
}

// fileSource reads the file at path, or f when snapshot has opened it.
func fileSource(path string, f *os.File) source {
	return source{name: path, open: func() (io.Reader, func(), error) {
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				return nil, nil, err
			}
		}
		return f, func() { f.Close() }, nil
	}}
}

func scan[T any](ctx context.Context, srcs []source, work WorkFunc[T], opts []Option, yield func(Result[T]) bool) {
	scanWith(ctx, srcs, work, nil, nil, opts, yield)
}

// ScanFolded is ScanFiles for a caller that folds events into partial
// results on the workers (counting, say) instead of taking them one by one
// on its own goroutine. Each chunk of an input (a run of whole lines) gets
// a partial, its slot of type T, which start resets; keep (if not nil)
// runs on each event as a WorkFunc, and fold adds the events it keeps to
// the partial, in order. The partial then comes as one Result with Out
// set and Event nil, after the chunk's errors, in input order; the caller
// merges the partials in that order. An event given to fold is valid
// during the call; its Raw() stays valid until the iteration continues
// past its partial (DecodeRaw decodes it again). An input read
// sequentially (no line boundary to cut at: a huge pretty-printed
// document) gives its kept events one by one instead, as ScanFiles does
// (Event set): the caller handles both.
func ScanFolded[T any](ctx context.Context, paths []string, keep WorkFunc[T], start func(*T), fold func(*Event, *T), opts ...Option) iter.Seq[Result[T]] {
	return func(yield func(Result[T]) bool) {
		scanPaths(ctx, paths, keep, start, fold, opts, yield)
	}
}

// ScanReaderFolded is ScanFolded for one stream, such as standard input.
func ScanReaderFolded[T any](ctx context.Context, r io.Reader, keep WorkFunc[T], start func(*T), fold func(*Event, *T), opts ...Option) iter.Seq[Result[T]] {
	return func(yield func(Result[T]) bool) {
		src := source{open: func() (io.Reader, func(), error) { return r, func() {}, nil }}
		scanWith(ctx, []source{src}, keep, start, fold, opts, yield)
	}
}

func scanWith[T any](ctx context.Context, srcs []source, work WorkFunc[T], start func(*T), fold func(*Event, *T), opts []Option, yield func(Result[T]) bool) {
	cfg, err := configOf(opts)
	if err != nil {
		yield(Result[T]{Err: err})
		return
	}
	n := cfg.concurrency
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if n == 1 && fold == nil {
		scanSequential(ctx, srcs, work, cfg, yield)
		return
	}
	p := newPipeline(ctx, cfg, work, n)
	p.start, p.fold = start, fold
	defer p.stop()
	go p.launch(srcs)
	for in := range p.inputs {
		p.current = in
		if !p.deliver(in, func(r Result[T]) bool {
			ok := yield(r)
			p.halted = !ok
			return ok
		}) {
			break
		}
	}
	if !p.halted && ctx.Err() != nil {
		yield(Result[T]{Err: ctx.Err()})
	}
}

// scanSequential is the pipeline's work on the caller's goroutine alone.
func scanSequential[T any](ctx context.Context, srcs []source, work WorkFunc[T], cfg config, yield func(Result[T]) bool) {
	rd := &Reader{cfg: cfg}
	rd.evp = &rd.ev
	defer rd.Close()
	var out T
	done := ctx.Done()
	for _, src := range srcs {
		r, closeFn, err := src.open()
		if err != nil {
			if !yield(Result[T]{Err: fileError(err)}) {
				return
			}
			continue
		}
		if src.name != "" {
			rd.cfg.name = src.name
		}
		rd.done = false
		rd.Reset(r)
		for k := 0; ; k++ {
			if done != nil && k&255 == 0 && ctx.Err() != nil {
				closeFn()
				yield(Result[T]{Err: ctx.Err()})
				return
			}
			ev, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !yield(Result[T]{Err: err}) {
					closeFn()
					return
				}
				continue
			}
			if work != nil && !work(ev, &out) {
				continue
			}
			if !yield(Result[T]{Event: ev, Out: &out}) {
				closeFn()
				return
			}
		}
		closeFn()
	}
}
