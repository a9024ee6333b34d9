package openshift

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// TestNodeLogs: the output of `oc adm node-logs --role=master` over three
// nodes (each line prefixed as openshift/oc writes it) reads back as the
// real kube-apiserver's events, each with its node, at 1 and 3 goroutines.
func TestNodeLogs(t *testing.T) {
	lines, _ := audittest.KubeAPIServerLines(t)
	var in strings.Builder
	var want []string
	for i, l := range lines {
		node := fmt.Sprintf("master-%d.ocp.example.com", i%3)
		fmt.Fprintf(&in, "%s %s\n", node, l) // oc: prefix = fmt.Sprintf("%s ", req.node)
		want = append(want, node+" "+string(l))
	}
	for _, threads := range []int{1, 3} {
		var got []string
		for r := range auditlog.ScanReader[struct{}](context.Background(), strings.NewReader(in.String()), nil,
			auditlog.WithFormats(Format), auditlog.WithConcurrency(threads)) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			got = append(got, string(r.Event.Origin().Node)+" "+string(r.Event.Raw()))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%d threads (-want +got):\n%.2000s", threads, diff)
		}
	}
}

// TestBrokenLines: a line that is neither prefixed nor an event is an error
// at its line; an event cut short names itself.
func TestBrokenLines(t *testing.T) {
	lines, _ := audittest.KubeAPIServerLines(t)
	input := "master-0 " + string(lines[0]) + "\nerror: node master-9 not found\nmaster-1 " + string(lines[1][:100]) + "\n" + string(lines[2]) + "\n"
	rd, _ := auditlog.NewReader(strings.NewReader(input), auditlog.WithFormats(Format))
	var got []string
	for ev, err := range rd.All() {
		if err != nil {
			got = append(got, err.Error())
			continue
		}
		got = append(got, "event "+string(ev.Origin().Node))
	}
	if len(got) != 4 || got[0] != "event master-0" || !strings.Contains(got[1], "<input>:2:1: not a node-logs line") ||
		!strings.Contains(got[2], "<input>:3:10: openshift-node-logs record: event cut short") || got[3] != "event " {
		t.Errorf("%q", got)
	}
}

func TestDetect(t *testing.T) {
	for head, want := range map[string]bool{
		`master-0.example.com {"kind":"Event"`:      true,
		`{"kind":"Event"}`:                          false,
		`2024-05-01T12:00:00.123Z {"kind":"Event"}`: false,
		`Master {"kind":"Event"}`:                   false,
	} {
		if got := Format.Detect([]byte(head)); got != want {
			t.Errorf("Detect(%q) = %v", head, got)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`master-0 {"auditID":"a"}`))
	f.Add([]byte(` {`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		var buf []byte
		item, next := Format.Read(rec, 0, &buf)
		if next != -1 || item.JSON != nil && !bytes.Contains(rec, item.JSON) {
			t.Fatalf("%q: %+v %d", rec, item, next)
		}
	})
}
