package loki

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// entry is one line as logcli's JSONL output writes it: a map marshalled
// by encoding/json (so keys sorted, and <, >, & escaped as \u003c…).
func entry(line []byte, i int, labels bool) []byte {
	e := map[string]any{"line": string(line), "timestamp": time.Unix(1700000000, int64(i)).UTC()}
	if labels {
		e["labels"] = map[string]string{"cluster": "prod", "filename": "/var/log/kube-apiserver/audit.log",
			"job": "audit", "node_name": fmt.Sprintf("cp-%d", i%3)}
	}
	out, _ := json.Marshal(e)
	return out
}

func readAll(t *testing.T, data []byte, threads int) (raw, origins, errs []string) {
	t.Helper()
	for r := range auditlog.ScanReader[struct{}](context.Background(), bytes.NewReader(data), nil,
		auditlog.WithFormats(Format), auditlog.WithConcurrency(threads)) {
		if r.Err != nil {
			errs = append(errs, r.Err.Error())
			continue
		}
		o := r.Event.Origin()
		if o.Format != "loki" {
			t.Fatalf("read as %q", o.Format)
		}
		raw = append(raw, string(r.Event.Raw()))
		origins = append(origins, string(o.Cluster)+"/"+string(o.Node))
	}
	return raw, origins, errs
}

// TestLogcliJSONL: the real kube-apiserver's events, as logcli prints them
// with and without labels, read back byte for byte, each with its node, at
// 1 and 3 goroutines.
func TestLogcliJSONL(t *testing.T) {
	lines, name := audittest.KubeAPIServerLines(t)
	var want, wantOrigins []string
	var with, without bytes.Buffer
	for i, l := range lines {
		want = append(want, string(l))
		wantOrigins = append(wantOrigins, fmt.Sprintf("prod/cp-%d", i%3))
		with.Write(append(entry(l, i, true), '\n'))
		without.Write(append(entry(l, i, false), '\n'))
	}
	if !bytes.Contains(with.Bytes(), []byte(`\u003c`)) && !bytes.Contains(with.Bytes(), []byte(`\u0026`)) {
		t.Log("no HTML-escaped characters in these events") // the events decide; not a failure
	}
	for _, threads := range []int{1, 3} {
		raw, origins, errs := readAll(t, with.Bytes(), threads)
		if len(errs) > 0 {
			t.Fatal(errs[0])
		}
		if diff := cmp.Diff(want, raw); diff != "" {
			t.Errorf("%s, %d threads (-want +got):\n%.2000s", name, threads, diff)
		}
		if diff := cmp.Diff(wantOrigins, origins); diff != "" {
			t.Errorf("origins (-want +got):\n%.500s", diff)
		}
		raw, origins, errs = readAll(t, without.Bytes(), threads)
		if len(errs) > 0 || !cmp.Equal(want, raw) || origins[0] != "/" {
			t.Errorf("--no-labels: %d events, origin %q, errors %v", len(raw), origins[0], errs)
		}
	}
}

// TestCutAndBrokenLines: a line Loki cut at max_line_size is an error
// that names the event; an entry without a line, or not JSON, is an error
// at its line; the events around them are read.
func TestCutAndBrokenLines(t *testing.T) {
	lines, _ := audittest.KubeAPIServerLines(t)
	id := auditlog.FindAuditID(lines[1])
	input := strings.Join([]string{
		string(entry(lines[0], 0, true)),
		string(entry(lines[1][:bytes.Index(lines[1], id)+len(id)+20], 1, true)), // cut after its auditID
		`{"labels":{"job":"audit"},"timestamp":"2024-05-01T10:00:00Z"}`,
		`{"labels":{"job":"audit"},"line":"{\"kind\":\"Ev`,
		string(entry(lines[2], 2, true)),
	}, "\n") + "\n"
	raw, _, errs := readAll(t, []byte(input), 1)
	if len(raw) != 2 || raw[1] != string(lines[2]) {
		t.Errorf("events around the damage: %d", len(raw))
	}
	if len(errs) != 3 || !strings.Contains(errs[0], "<input>:2:") || !strings.Contains(errs[0], string(id)) ||
		!strings.Contains(errs[1], "<input>:3:1: not a Loki entry") || !strings.Contains(errs[2], "<input>:4:") {
		t.Errorf("errors:\n%s", strings.Join(errs, "\n"))
	}
}

func TestDetect(t *testing.T) {
	lines, _ := audittest.KubeAPIServerLines(t)
	for _, tc := range []struct {
		head string
		want bool
	}{
		{string(entry(lines[0], 0, true)), true},
		{string(entry(lines[0], 0, false)), true},
		{cutIn(entry(lines[0], 0, true), `"line":"`), true}, // a head cut in the event: the keys so far decide
		{string(lines[0]), false},
		{`{"line":"x"}`, false},
		{`{"events":[]}`, false},
	} {
		if got := Format.Detect([]byte(tc.head)); got != tc.want {
			t.Errorf("Detect(%.60q) = %v", tc.head, got)
		}
	}
}

func cutIn(b []byte, at string) string {
	return string(b[:bytes.Index(b, []byte(at))+len(at)+20])
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"labels":{"cluster":"c","host":"h"},"line":"{\"auditID\":\"a\"}","timestamp":"t"}`))
	f.Add([]byte(`{"line":"\u00"}`))
	f.Add([]byte(`{"labels":[],"line":null}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		var buf []byte
		item, next := Format.Read(rec, 0, &buf)
		if next != -1 {
			t.Fatalf("next %d", next)
		}
		if item.Err == nil && (item.Offset < 0 || item.Offset > len(rec)) {
			t.Fatalf("offset %d outside the record", item.Offset)
		}
		if item.Err == nil && item.JSON != nil && len(item.JSON) > len(rec) {
			t.Fatalf("event longer than its record")
		}
	})
}
