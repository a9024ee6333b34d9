package query

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
)

// FuzzFilters: on any log and any filter value, the events a filter keeps
// are those its Matcher accepts when every event is decoded; the literal
// prefilter and the parallel pipeline never drop or add one; nothing panics.
func FuzzFilters(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "rotated", "kube-apiserver-audit.log"))
	if err != nil {
		f.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	seed := bytes.Join(lines[:4], nil)
	for kind := range uint8(7) {
		f.Add(seed, kind, "system:serviceaccount:kube-system:*")
		f.Add(seed, kind, "kube-system")
	}
	f.Add(seed, uint8(0), string(bytes.SplitN(bytes.SplitN(lines[3], []byte(`"auditID":"`), 2)[1], []byte(`"`), 2)[0]))
	filepath.Walk(filepath.Join("..", "..", "shared", "realdata"), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Size() < 16<<10 {
			if b, err := os.ReadFile(path); err == nil {
				f.Add(b, uint8(len(path)), "system:*")
			}
		}
		return nil
	})
	f.Add([]byte(`{"auditID":"\u0061bc","verb":"g\u0065t","user":{"username":"\u00e9"}}`+"\n"), uint8(0), "abc")
	f.Fuzz(func(t *testing.T, log []byte, kind uint8, value string) {
		if len(log) > 1<<20 || strings.ContainsAny(value, "\x00") {
			return
		}
		var filt Filter
		switch kind % 7 {
		case 0:
			filt.AuditIDs = []string{value}
		case 1:
			filt.Users = []string{value}
		case 2:
			filt.Namespaces = []string{value}
		case 3:
			filt.Names = []string{value}
		case 4:
			filt.ServiceAccounts = []string{value}
		case 5:
			filt.Verbs = []string{value}
		case 6:
			filt.Resources = []string{value}
		}
		m, err := filt.Compile()
		if err != nil {
			return
		}
		ctx := context.Background()
		var want []string
		for r := range auditlog.ScanReader[struct{}](ctx, bytes.NewReader(log), nil, auditlog.WithConcurrency(1)) {
			if r.Err == nil && m.Match(r.Event) {
				want = append(want, fmt.Sprintf("%d@%d", r.Event.Pos().Line, r.Event.Pos().Offset))
			}
		}
		opts := []auditlog.Option{auditlog.WithConcurrency(3)}
		if lits := m.Literals(); lits != nil {
			opts = append(opts, auditlog.WithLiterals(lits...))
		}
		var got []string
		match := func(ev *auditlog.Event, _ *struct{}) bool { return m.Match(ev) }
		for r := range auditlog.ScanReader(ctx, bytes.NewReader(log), match, opts...) {
			if r.Err == nil {
				got = append(got, fmt.Sprintf("%d@%d", r.Event.Pos().Line, r.Event.Pos().Offset))
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("filter %+v: prefiltered parallel scan differs from matching every event (-want +got):\n%s", filt, diff)
		}
	})
}

// FuzzApplyPolicy: on any event the reader accepts, what ApplyPolicy writes
// is an event the reader accepts again, at the level the policy decided (or
// the logged one, when under-logged), with the same auditID and stage, and no
// body the level excludes.
func FuzzApplyPolicy(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "rotated", "kube-apiserver-audit.log"))
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.SplitAfter(data, []byte("\n"))[:30] {
		f.Add(l)
	}
	f.Add([]byte(`{"level":"RequestResponse","auditID":"a","stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces/x/secrets","objectRef":{"resource":"secrets","namespace":"x","name":"s"},"requestObject":{"metadata":{"managedFields":[{}]},"items":[{"metadata":{"managedFields":[]}}]},"responseObject":{}}`))
	f.Add([]byte(`{"l\u0065vel":"Request", "level" : "Metadata" ,"requestObject":{"a":"}\"{"}}`))
	text, err := os.ReadFile(filepath.Join("..", "testdata", "policy", "audit-policy.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	p, err := LoadPolicy("audit-policy.yaml", text)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rd, err := auditlog.NewReader(bytes.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		for ev, err := range rd.All() {
			if err != nil {
				continue
			}
			out, o := ApplyPolicy(p, ev, nil)
			if o.Fate == Dropped {
				if len(out) != 0 {
					t.Fatalf("dropped but wrote %q", out)
				}
				continue
			}
			rd2, _ := auditlog.NewReader(bytes.NewReader(out))
			ev2, err := rd2.Next()
			if err != nil {
				t.Fatalf("%q became %q, which does not read: %v", ev.Raw(), out, err)
			}
			want := string(o.Decision.Level)
			if o.Underlogged {
				want = string(ev.Level())
			}
			if string(ev2.Level()) != want && o.Fate == Trimmed {
				t.Fatalf("level %q, want %q: %q", ev2.Level(), want, out)
			}
			if !bytes.Equal(ev2.AuditID(), ev.AuditID()) || !bytes.Equal(ev2.Stage(), ev.Stage()) {
				t.Fatalf("auditID or stage changed: %q -> %q", ev.Raw(), out)
			}
			if o.Fate == Trimmed && o.Decision.Level == "Metadata" && (ev2.RequestObject() != nil || ev2.ResponseObject() != nil) {
				t.Fatalf("bodies left at Metadata: %q", out)
			}
		}
	})
}
