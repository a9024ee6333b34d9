package policy

import (
	"bytes"
	"os"
	"testing"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// FuzzApplyPolicy: on any event the reader accepts, what Policy.Apply writes
// is an event the reader accepts again, at the level the policy decided (or
// the logged one, when under-logged), with the same auditID and stage, and no
// body the level excludes.
func FuzzApplyPolicy(f *testing.F) {
	data, err := os.ReadFile(audittest.Rotated())
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.SplitAfter(data, []byte("\n"))[:30] {
		f.Add(l)
	}
	f.Add([]byte(`{"level":"RequestResponse","auditID":"a","stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces/x/secrets","objectRef":{"resource":"secrets","namespace":"x","name":"s"},"requestObject":{"metadata":{"managedFields":[{}]},"items":[{"metadata":{"managedFields":[]}}]},"responseObject":{}}`))
	f.Add([]byte(`{"l\u0065vel":"Request", "level" : "Metadata" ,"requestObject":{"a":"}\"{"}}`))
	text, err := os.ReadFile(audittest.Testdata("policy", "audit-policy.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	p, err := Load("audit-policy.yaml", text)
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
			out, o := p.Apply(ev, nil)
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
			if o.Underlogged || o.NoLevel {
				want = string(ev.Level())
			}
			if string(ev2.Level()) != want && o.Fate == Trimmed {
				t.Fatalf("level %q, want %q: %q", ev2.Level(), want, out)
			}
			if !bytes.Equal(ev2.AuditID(), ev.AuditID()) || !bytes.Equal(ev2.Stage(), ev.Stage()) {
				t.Fatalf("auditID or stage changed: %q -> %q", ev.Raw(), out)
			}
			if o.Fate == Trimmed && !o.NoLevel && o.Decision.Level == "Metadata" && (ev2.RequestObject() != nil || ev2.ResponseObject() != nil) {
				t.Fatalf("bodies left at Metadata: %q", out)
			}
		}
	})
}
