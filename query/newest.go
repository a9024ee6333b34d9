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
// the time from which --since 2h counts back. Plain files of
// kube-apiserver's lines are read from their last MiB only, since they are
// written in time order; files in one of the export formats given, whose
// order is the exporter's, are read whole; compressed
// files (older backups, as a rule) are read whole only when no plain file
// has a timestamp. Unreadable files are skipped here: reading them again
// reports them. Zero means no event had a timestamp.
func Newest(ctx context.Context, paths []string, formats ...auditlog.Format) time.Time {
	files, _ := auditlog.Expand(paths)
	var newest time.Time
	var compressed, whole []string
	for _, path := range files {
		t, kind := tailNewest(path, formats)
		switch kind {
		case compressedFile:
			compressed = append(compressed, path)
		case exportFile:
			whole = append(whole, path)
		}
		if t.After(newest) {
			newest = t
		}
	}
	if newest.IsZero() {
		whole = append(whole, compressed...)
	}
	if len(whole) > 0 {
		for ev, err := range auditlog.ReadFiles(ctx, whole, auditlog.WithFormats(formats...)) {
			if err == nil {
				newest = later(newest, ev)
			}
		}
	}
	return newest
}

// NewestIn returns the latest stageTimestamp of the events r holds, reading all of it.
func NewestIn(r io.Reader, formats ...auditlog.Format) time.Time {
	var newest time.Time
	rd, err := auditlog.NewReader(r, auditlog.WithFormats(formats...))
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

// What tailNewest found a file to be.
const (
	plainFile = iota
	compressedFile
	exportFile
)

// tailNewest reads the newest timestamp near the end of a plain file of
// kube-apiserver's lines; a compressed file cannot be read from the middle,
// and an export need not be in time order: those it only names.
func tailNewest(path string, formats []auditlog.Format) (newest time.Time, kind int) {
	f, err := os.Open(path)
	if err != nil {
		return newest, plainFile
	}
	defer f.Close()
	head := make([]byte, auditlog.DetectHead)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) || bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		return newest, compressedFile
	}
	if auditlog.DetectFormat(head, formats...) != nil {
		return newest, exportFile
	}
	fi, err := f.Stat()
	if err != nil {
		return newest, plainFile
	}
	start := max(fi.Size()-tailBytes, 0)
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return newest, plainFile
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return newest, plainFile
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
		return newest, plainFile
	}
	defer rd.Close()
	for ev, err := range rd.All() {
		if err == nil {
			newest = later(newest, ev)
		}
	}
	return newest, plainFile
}
