// Package audittest holds what the packages' tests share: where the
// repository's testdata and the optional ../shared corpora are, reads that
// decompress, writes that compress, and an oracle that decodes audit events
// with encoding/json into the upstream type, independently of package
// auditlog (which it must not import: auditlog's own tests use it).
package audittest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// root is the repository's root: the nearest directory above the test's
// working directory (its package's directory) whose go.mod is this
// module's (export/duckdbtest is a module of its own). Relative to that,
// not to this file, so that -trimpath builds find it too.
var root = func() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/auditq/auditq\n")) {
			if rel, err := filepath.Rel(dir, d); err == nil {
				return rel
			}
			return d
		}
		if filepath.Dir(d) == d {
			return "."
		}
	}
}()

// Testdata returns the path of elem under the repository's testdata/.
func Testdata(elem ...string) string {
	return filepath.Join(append([]string{root, "testdata"}, elem...)...)
}

// Rotated is the active log of the repository's rotated fixture set,
// written by kube-apiserver's audit code (see internal/fixture).
func Rotated() string { return Testdata("rotated", "kube-apiserver-audit.log") }

// SharedPath returns the path of elem under ../shared, beside the
// repository, and whether it is there.
func SharedPath(elem ...string) (string, bool) {
	p := filepath.Join(append([]string{root, "..", "shared"}, elem...)...)
	_, err := os.Stat(p)
	return p, err == nil
}

// Shared returns the path of elem under ../shared, or skips the test: the
// real corpora there are optional.
func Shared(t testing.TB, elem ...string) string {
	t.Helper()
	p, ok := SharedPath(elem...)
	if !ok {
		t.Skipf("%s not present (../shared is optional)", p)
	}
	return p
}

// GCELike is the active log of the real kube-apiserver's rotated set in
// ../shared, or "" when it is absent.
func GCELike() string {
	p, ok := SharedPath("kube-apiserver", "gce-like", "kube-apiserver-audit.log")
	if !ok {
		return ""
	}
	return p
}

// Corpora are the logs the analyses are checked on by name: the
// repository's fixture always, the real kube-apiserver set when ../shared is
// present.
func Corpora(t testing.TB) map[string]string {
	c := map[string]string{"fixture": Rotated()}
	if g := GCELike(); g != "" {
		c["gce-like"] = g
	} else {
		t.Logf("../shared not present; checking the fixture only")
	}
	return c
}

// ReadFile reads a file whole, decompressing gzip (every member) and zstd.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decompress(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

// Decompress returns data decompressed when it is gzip or zstd, else as it is.
func Decompress(data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return io.ReadAll(zr)
	}
	return data, nil
}

// Gzip compresses data as one gzip member.
func Gzip(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// Zstd compresses data as one zstd frame.
func Zstd(data []byte) []byte {
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

// RotationSet lists the files of the rotated set of the active log at path
// as lumberjack names them (NAME-<time>.EXT[.gz]), oldest first, then the
// active log: a listing independent of auditlog.Expand.
func RotationSet(t testing.TB, path string) []string {
	t.Helper()
	ext := filepath.Ext(path)
	backups, err := filepath.Glob(strings.TrimSuffix(path, ext) + "-[0-9][0-9][0-9][0-9]-*" + ext + "*")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(backups) // UTC times in the names sort as they happened
	return append(backups, path)
}

// SetSize is the decompressed size of the rotated set of the active log at
// path: the bytes a benchmark reads (b.SetBytes).
func SetSize(tb testing.TB, path string) int64 {
	tb.Helper()
	var n int64
	for _, f := range RotationSet(tb, path) {
		n += int64(len(ReadFile(tb, f)))
	}
	return n
}

// OracleLog decodes the rotated set of the active log at path with
// encoding/json into the upstream type, line by line.
func OracleLog(t testing.TB, path string) []*auditv1.Event {
	t.Helper()
	var events []*auditv1.Event
	for _, f := range RotationSet(t, path) {
		sc := bufio.NewScanner(bytes.NewReader(ReadFile(t, f)))
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			ev := new(auditv1.Event)
			if err := json.Unmarshal(sc.Bytes(), ev); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			events = append(events, ev)
		}
	}
	return events
}

// OracleEvents decodes data independently of auditlog: a whole-document
// parse first (a pretty-printed event, an EventList), else one
// encoding/json Unmarshal per non-blank line, with upstream's v1beta1
// timestamp mapping (see OracleEvent). Lines encoding/json rejects are
// counted in bad.
func OracleEvents(t testing.TB, data []byte) (events []*auditv1.Event, bad int) {
	t.Helper()
	trimmed := bytes.TrimSpace(data)
	if bytes.Count(trimmed, []byte("\n")) > 0 && json.Valid(trimmed) {
		var probe struct {
			Kind  string          `json:"kind"`
			Items json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(trimmed, &probe); err == nil && probe.Kind == "EventList" {
			var items []json.RawMessage
			if err := json.Unmarshal(probe.Items, &items); err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				events = append(events, OracleEvent(t, it))
			}
			return events, 0
		}
		return []*auditv1.Event{OracleEvent(t, trimmed)}, 0
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev auditv1.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			bad++
			continue
		}
		events = append(events, OracleEvent(t, line))
	}
	return events, bad
}

// OracleEvent decodes one event with encoding/json and applies upstream's
// v1beta1 conversion: the legacy fields fill zero v1 timestamps, each taken
// on its own; a malformed one is ignored, as the v1 decoder ignores it.
func OracleEvent(t testing.TB, raw []byte) *auditv1.Event {
	t.Helper()
	var ev auditv1.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("oracle: %v", err)
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) == nil {
		var created, received metav1.Time
		var meta map[string]json.RawMessage
		if json.Unmarshal(top["metadata"], &meta) == nil && json.Unmarshal(meta["creationTimestamp"], &created) == nil &&
			!created.IsZero() && ev.StageTimestamp.IsZero() {
			ev.StageTimestamp = metav1.NewMicroTime(created.Time)
		}
		if json.Unmarshal(top["timestamp"], &received) == nil && !received.IsZero() && ev.RequestReceivedTimestamp.IsZero() {
			ev.RequestReceivedTimestamp = metav1.NewMicroTime(received.Time)
		}
	}
	return &ev
}

// BenchLog is the decompressed fixture set (about 5 MB, 4,324 events from
// the real writer), repeated to at least 32 MB so that a benchmark run is not
// dominated by buffer setup, and the number of events in it.
func BenchLog(tb testing.TB) (plain []byte, events int) {
	tb.Helper()
	var one []byte
	for _, f := range RotationSet(tb, Rotated()) {
		one = append(one, ReadFile(tb, f)...)
	}
	n := bytes.Count(one, []byte("\n"))
	for len(plain) < 32<<20 {
		plain = append(plain, one...)
		events += n
	}
	return plain, events
}

// KubeAPIServerLines returns the lines of a real kube-apiserver's rotated
// set (../shared/kube-apiserver/gce-like), oldest first, and its name; the
// repository's fixture set (written by kube-apiserver's audit code) when
// ../shared is absent. Tests wrap them in export envelopes.
func KubeAPIServerLines(tb testing.TB) (lines [][]byte, name string) {
	tb.Helper()
	active, name := GCELike(), "gce-like"
	if active == "" {
		active, name = Rotated(), "fixture"
	}
	for _, f := range RotationSet(tb, active) {
		for _, l := range bytes.Split(ReadFile(tb, f), []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines = append(lines, l)
			}
		}
	}
	return lines, name
}

// RealdataFiles returns the files under ../shared/realdata/<sub> up to
// maxSize bytes each, or none when ../shared is absent.
func RealdataFiles(maxSize int64, sub ...string) []string {
	dir, ok := SharedPath(append([]string{"realdata"}, sub...)...)
	if !ok {
		return nil
	}
	var out []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Size() <= maxSize {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// BenchEvents returns the events of BenchLog, one a slice, and their total
// size with newlines: what a format's benchmark wraps, to compare its
// throughput with reading the plain lines.
func BenchEvents(tb testing.TB) (events [][]byte, size int64) {
	tb.Helper()
	plain, _ := BenchLog(tb)
	for _, l := range bytes.Split(plain, []byte("\n")) {
		if len(l) > 0 {
			events = append(events, l)
			size += int64(len(l) + 1)
		}
	}
	return events, size
}
