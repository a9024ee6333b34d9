package auditlog

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Defaults of the Reader options.
const (
	// DefaultMaxLineSize bounds the memory one Reader uses for one line. A
	// RequestResponse event for a large list can be tens of MB, so the default is
	// generous; a longer line is reported with ErrLineTooLong and skipped.
	DefaultMaxLineSize = 64 << 20
	// DefaultMaxZstdWindow bounds the memory of a zstd frame's window. `zstd --long`
	// uses up to 128 MiB; a frame that asks for more is rejected, not allocated.
	DefaultMaxZstdWindow = 128 << 20

	// MinMaxLineSize and MaxMaxLineSize bound what WithMaxLineSize accepts.
	MinMaxLineSize = 64
	MaxMaxLineSize = 1 << 30 // positions inside a line are int32-safe
)

type config struct {
	name          string
	maxLineSize   int
	maxZstdWindow uint64
	progress      *atomic.Int64
	concurrency   int  // 0: GOMAXPROCS
	noBodies      bool // WithoutBodies
	chunkSize     int  // parallel reading: target size of a chunk (tests make it small)
	literals      *literalSet
	rawFields     bool
	formats       []Format
	pipelineOnly  string // the first option given that only ScanFiles, ScanReader and ReadFiles take

	// Following (FollowFiles).
	follow       bool          // the stream grows: detect the format on its first line
	pollInterval time.Duration // how often an idle followed log is looked at
	watermark    time.Duration // WithMerge: how long an event waits for other streams

	skip func(*Candidate) bool // WithSkip
}

func defaultConfig() config {
	return config{maxLineSize: DefaultMaxLineSize, maxZstdWindow: DefaultMaxZstdWindow, chunkSize: defaultChunkSize, pollInterval: DefaultPollInterval}
}

// configOf applies opts to the defaults.
func configOf(opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// Option configures a Reader. Options are checked when the Reader is made, and
// [Reader.Reset] keeps them.
type Option func(*config) error

// WithName names the input in positions and errors (for files, ReadFiles uses
// the path). The default is empty, printed as "<input>".
func WithName(name string) Option {
	return func(c *config) error { c.name = name; return nil }
}

// WithMaxLineSize sets the longest line, in bytes, that the Reader will hold in
// memory (default DefaultMaxLineSize, 64 MiB; at least 64 B, at most 1 GiB).
// A longer line yields ErrLineTooLong and is skipped.
func WithMaxLineSize(n int) Option {
	return func(c *config) error {
		if n < MinMaxLineSize || n > MaxMaxLineSize {
			return fmt.Errorf("auditlog: WithMaxLineSize(%d): must be between %d and %d", n, MinMaxLineSize, MaxMaxLineSize)
		}
		c.maxLineSize = n
		return nil
	}
}

// WithMaxZstdWindow sets the largest zstd window the Reader will allocate
// (default DefaultMaxZstdWindow, 128 MiB; at least 1 MiB).
func WithMaxZstdWindow(n uint64) Option {
	return func(c *config) error {
		if n < 1<<20 {
			return fmt.Errorf("auditlog: WithMaxZstdWindow(%d): must be at least 1 MiB", n)
		}
		c.maxZstdWindow = n
		return nil
	}
}

// WithProgress adds the number of bytes the Reader reads from its source (as
// stored: compressed bytes for a compressed file) to n as it reads, so another
// goroutine can show progress. The default is none; Reset keeps it.
func WithProgress(n *atomic.Int64) Option {
	return func(c *config) error { c.progress = n; return nil }
}

// offsetReader counts the bytes read through it (the source's offset, for
// positions in a compressed stream) and adds them to progress, if set.
type offsetReader struct {
	r        io.Reader
	n        int64
	progress *atomic.Int64
}

func (o *offsetReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.n += int64(n)
	if o.progress != nil {
		o.progress.Add(int64(n))
	}
	return n, err
}

// WithConcurrency sets how many goroutines ScanFiles, ScanReader and ReadFiles
// use to decompress and decode: 0 (the default) means runtime.GOMAXPROCS(0),
// 1 reads sequentially on the caller's goroutine. A Reader is always
// sequential: NewReader refuses this option.
func WithConcurrency(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("auditlog: WithConcurrency(%d): must be 0 (all cores) or more", n)
		}
		c.concurrency = n
		c.notForReader("WithConcurrency")
		return nil
	}
}

// notForReader notes an option that a Reader would silently ignore.
func (c *config) notForReader(name string) {
	if c.pipelineOnly == "" {
		c.pipelineOnly = name
	}
}

// WithChunkSize sets the size of the runs of whole lines that parallel
// reading hands its workers (default 512 KiB; at least 4 KiB). Smaller
// chunks spread a small input over more workers; each costs a little to
// hand over, and ScanFolded merges one partial per chunk.
func WithChunkSize(n int) Option {
	return func(c *config) error {
		if n < 4<<10 {
			return fmt.Errorf("auditlog: WithChunkSize(%d): want at least 4096", n)
		}
		c.chunkSize = n
		return nil
	}
}

// WithoutBodies leaves requestObject and responseObject unread, for callers that
// need only the metadata (a summary, a filter): RequestObject and ResponseObject
// return nil. On lines in kube-apiserver's own shape (its member order, with
// the members it always writes) the bodies, most of a line's bytes, are
// stepped over without being scanned, so a body damaged in place (not cut
// short) is not reported, and a member that is not kube-apiserver's own and
// sits between the bodies is not seen by RawField; use the default to check
// every byte. Lines in any other order are decoded in full.
func WithoutBodies() Option {
	return func(c *config) error { c.noBodies = true; return nil }
}

// WithLiterals is a prefilter for callers that keep only events holding one of
// lits in a string value (an auditID, a name): the parallel pipeline then
// decodes only chunks of the input where one of them, spelled plainly or with
// JSON escapes, may occur, and skips the rest unread, ripgrep-style. Events
// without a literal may still be delivered; the caller filters as before.
// The first and last chunk of each input are always decoded, so a file in
// the wrong format or cut short is still reported, but a malformed line in a
// skipped chunk is not. The sequential path (WithConcurrency(1)) reads all.
// NewReader refuses this option: a Reader reads every line.
func WithLiterals(lits ...string) Option {
	return func(c *config) error {
		c.notForReader("WithLiterals")
		if len(lits) == 0 {
			c.literals = nil
			return nil
		}
		c.literals = newLiteralSet(lits)
		return nil
	}
}

// WithRawFields makes the Reader note where each top-level member of an event
// is as it decodes, so that Event.RawField costs nothing. Without it, RawField
// finds them on its first call.
func WithRawFields() Option {
	return func(c *config) error { c.rawFields = true; return nil }
}

// DefaultPollInterval is how often FollowFiles looks at an idle log for new
// lines and for a rotation: new events are delivered within about this long.
const DefaultPollInterval = 50 * time.Millisecond

// WithPollInterval sets how often FollowFiles looks at an idle log (default
// DefaultPollInterval; at least 1 ms). A log that is being written is read
// without waiting.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("auditlog: WithPollInterval(%v): must be at least 1ms", d)
		}
		c.pollInterval = d
		c.notForReader("WithPollInterval")
		return nil
	}
}

// WithMerge makes FollowFiles treat each path as one stream (one
// control-plane node's logs) and interleave the streams by Event.Time, as
// Merge does. Live logs are merged with a watermark: an event is held until
// every other stream has delivered one at least as late, or for the
// watermark, whichever comes first, so a quiet node delays the others by at
// most that much; an event that arrives more than the watermark late is
// delivered as it comes, after later ones.
func WithMerge(watermark time.Duration) Option {
	return func(c *config) error {
		if watermark <= 0 {
			return fmt.Errorf("auditlog: WithMerge(%v): the watermark must be positive", watermark)
		}
		c.watermark = watermark
		c.notForReader("WithMerge")
		return nil
	}
}

// WithSkip lets ScanFiles and FollowFiles leave rotated backups unread: skip
// is called for each backup (never for an active log) before reading
// begins, concurrently for different backups, and returning true leaves it
// out. An index or the time range of a query decides; see Candidate.
func WithSkip(skip func(*Candidate) bool) Option {
	return func(c *config) error {
		c.skip = skip
		c.notForReader("WithSkip")
		return nil
	}
}
