package query

import (
	"bytes"
	"context"
	"io"
	"os"
	"time"

	"github.com/auditq/auditq/auditlog"
)

// tailBytes is how much of the end of a plain file Newest reads: lines are
// written nearly in stageTimestamp order, so the newest event is among the last.
const tailBytes = 1 << 20

// Newest returns the latest stageTimestamp in the files Expand(paths) lists,
// the time from which --since 2h counts back. Plain files are read from their
// last MiB only; compressed files (older backups, as a rule) are read whole
// only when no plain file has a timestamp. Unreadable files are skipped here:
// reading them again reports them. Zero means no event had a timestamp.
func Newest(ctx context.Context, paths []string) time.Time {
	files, _ := auditlog.Expand(paths)
	var newest time.Time
	var compressed []string
	for _, path := range files {
		t, isPlain := tailNewest(path)
		if !isPlain {
			compressed = append(compressed, path)
		}
		if t.After(newest) {
			newest = t
		}
	}
	if newest.IsZero() && len(compressed) > 0 {
		for ev, err := range auditlog.ReadFiles(ctx, compressed) {
			if err == nil {
				newest = later(newest, ev)
			}
		}
	}
	return newest
}

// NewestIn returns the latest stageTimestamp of the events r holds, reading all of it.
func NewestIn(r io.Reader) time.Time {
	var newest time.Time
	rd, err := auditlog.NewReader(r)
	if err != nil {
		return newest
	}
	defer rd.Close()
	for ev, err := range rd.All() {
		if err == nil {
			newest = later(newest, ev)
		}
	}
	return newest
}

func later(t time.Time, ev *auditlog.Event) time.Time {
	if st := ev.Time(); st.After(t) {
		return st
	}
	return t
}

// tailNewest reads the newest timestamp near the end of a plain file; isPlain
// is false for a compressed file, which cannot be read from the middle.
func tailNewest(path string) (newest time.Time, isPlain bool) {
	f, err := os.Open(path)
	if err != nil {
		return newest, true
	}
	defer f.Close()
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	if n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b || n == 4 && magic == [4]byte{0x28, 0xb5, 0x2f, 0xfd} {
		return newest, false
	}
	fi, err := f.Stat()
	if err != nil {
		return newest, true
	}
	start := max(fi.Size()-tailBytes, 0)
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return newest, true
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return newest, true
	}
	if start > 0 {
		// Drop the partial line the window starts in.
		for i, c := range data {
			if c == '\n' {
				data = data[i+1:]
				break
			}
		}
	}
	rd, err := auditlog.NewReader(bytes.NewReader(data))
	if err != nil {
		return newest, true
	}
	defer rd.Close()
	for ev, err := range rd.All() {
		if err == nil {
			newest = later(newest, ev)
		}
	}
	return newest, true
}
