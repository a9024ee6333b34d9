package query

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// FuzzFilters: on any log and any filter value, the events a filter keeps
// are those its Matcher accepts when every event is decoded; the literal
// prefilter and the parallel pipeline never drop or add one; nothing panics.
func FuzzFilters(f *testing.F) {
	data, err := os.ReadFile(audittest.Rotated())
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
	for _, path := range audittest.RealdataFiles(16 << 10) {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b, uint8(len(path)), "system:*")
		}
	}
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
