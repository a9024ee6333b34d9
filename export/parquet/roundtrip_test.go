package parquet

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// export writes every event of paths and reads the files back.
func export(t *testing.T, paths []string, opts Options) (rows []Row, files []string) {
	t.Helper()
	return exportAs[Row](t, paths, opts)
}

// exportAs writes every event of paths in opts.Schema and reads the files
// back as T.
func exportAs[T any](t *testing.T, paths []string, opts Options) (rows []T, files []string) {
	t.Helper()
	opts.Dir = t.TempDir()
	w := NewWriter(opts)
	var r Row
	for ev, err := range auditlog.ReadFiles(context.Background(), paths) {
		if err != nil {
			t.Fatal(err)
		}
		FromEvent(&r, ev, "test")
		if err := w.Write(&r, int64(len(ev.Raw()))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	partial, _ := filepath.Glob(filepath.Join(opts.Dir, "*", "*", "*.partial"))
	if len(partial) > 0 {
		t.Fatalf("partial files left: %v", partial)
	}
	for _, f := range w.Files() {
		rs, err := pq.ReadFile[T](f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rows = append(rows, rs...)
	}
	return rows, w.Files()
}

// TestRoundTrip: every event of the fixture set, and of a real
// kube-apiserver's set when ../shared is there, comes back from Parquet
// with the values encoding/json gives: IDs, stages, users with groups and
// extra, source IPs, object references, status, annotations, timestamps to
// the microsecond, and bodies byte for byte.
func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		path     string
		encoders int
	}{{audittest.Rotated(), 1}, {audittest.Rotated(), 3}, {audittest.GCELike(), 1}, {audittest.GCELike(), 4}} {
		if c.path == "" {
			continue // ../shared absent
		}
		path := c.path
		paths := []string{path}
		want := audittest.OracleLog(t, path)
		rows, files := export(t, paths, Options{RowGroupRows: 1000, Encoders: c.encoders})
		if len(rows) != len(want) {
			t.Fatalf("%v: %d rows, want %d", paths, len(rows), len(want))
		}
		// Files are sorted by time within row groups; match rows by ID and stage.
		type key struct{ id, stage string }
		byKey := map[key][]*auditv1.Event{}
		for _, e := range want {
			k := key{string(e.AuditID), string(e.Stage)}
			byKey[k] = append(byKey[k], e)
		}
		for _, r := range rows {
			k := key{r.AuditID, r.Stage}
			cands := byKey[k]
			if len(cands) == 0 {
				t.Fatalf("row %s %s matches no event (or too many rows)", r.AuditID, r.Stage)
			}
			e := cands[0]
			byKey[k] = cands[1:]
			check(t, &r, e)
		}
		t.Logf("%v, %d encoders: %d events in %d files", paths, c.encoders, len(rows), len(files))
	}
}

func check(t *testing.T, r *Row, e *auditv1.Event) {
	t.Helper()
	fail := func(what string, got, want any) {
		t.Helper()
		t.Fatalf("%s %s: %s = %v, want %v", e.AuditID, e.Stage, what, got, want)
	}
	if !r.StageTimestamp.Equal(e.StageTimestamp.Time) {
		fail("stageTimestamp", r.StageTimestamp, e.StageTimestamp.Time)
	}
	if !r.RequestReceivedTimestamp.Equal(e.RequestReceivedTimestamp.Time) {
		fail("requestReceivedTimestamp", r.RequestReceivedTimestamp, e.RequestReceivedTimestamp.Time)
	}
	if r.Level != string(e.Level) || r.Verb != e.Verb || r.RequestURI != e.RequestURI || r.UserAgent != e.UserAgent {
		fail("level/verb/requestURI/userAgent", []string{r.Level, r.Verb, r.RequestURI, r.UserAgent}, []string{string(e.Level), e.Verb, e.RequestURI, e.UserAgent})
	}
	if r.User.Username != e.User.Username || r.User.UID != e.User.UID || !slices.Equal(r.User.Groups, e.User.Groups) {
		fail("user", r.User, e.User)
	}
	if len(r.User.Extra) != len(e.User.Extra) {
		fail("user.extra", r.User.Extra, e.User.Extra)
	}
	for k, v := range e.User.Extra {
		if !slices.Equal(r.User.Extra[k], []string(v)) {
			fail("user.extra["+k+"]", r.User.Extra[k], v)
		}
	}
	if (r.ImpersonatedUser == nil) != (e.ImpersonatedUser == nil) || r.ImpersonatedUser != nil && r.ImpersonatedUser.Username != e.ImpersonatedUser.Username {
		fail("impersonatedUser", r.ImpersonatedUser, e.ImpersonatedUser)
	}
	if !slices.Equal(r.SourceIPs, e.SourceIPs) {
		fail("sourceIPs", r.SourceIPs, e.SourceIPs)
	}
	if (r.ObjectRef == nil) != (e.ObjectRef == nil) {
		fail("objectRef", r.ObjectRef, e.ObjectRef)
	}
	if o := e.ObjectRef; o != nil {
		got := *r.ObjectRef
		want := ObjectRef{o.Resource, o.Namespace, o.Name, string(o.UID), o.APIGroup, o.APIVersion, o.ResourceVersion, o.Subresource}
		if got != want {
			fail("objectRef", got, want)
		}
	}
	if (r.ResponseStatus == nil) != (e.ResponseStatus == nil) {
		fail("responseStatus", r.ResponseStatus, e.ResponseStatus)
	}
	if s := e.ResponseStatus; s != nil {
		if r.ResponseStatus.Code != s.Code || r.ResponseStatus.Reason != string(s.Reason) || r.ResponseStatus.Message != s.Message || r.ResponseStatus.Status != s.Status {
			fail("responseStatus", r.ResponseStatus, s)
		}
	}
	if len(r.Annotations) != len(e.Annotations) {
		fail("annotations", r.Annotations, e.Annotations)
	}
	for k, v := range e.Annotations {
		if r.Annotations[k] != v {
			fail("annotations["+k+"]", r.Annotations[k], v)
		}
	}
	if e.RequestObject != nil && r.RequestObject != string(e.RequestObject.Raw) {
		fail("requestObject", len(r.RequestObject), len(e.RequestObject.Raw))
	}
	if e.ResponseObject != nil && r.ResponseObject != string(e.ResponseObject.Raw) {
		fail("responseObject", len(r.ResponseObject), len(e.ResponseObject.Raw))
	}
	if e.RequestObject == nil && r.RequestObject != "" || e.ResponseObject == nil && r.ResponseObject != "" {
		fail("bodies", "present", "absent")
	}
	if r.Origin.Cluster != "test" || r.Origin.File == "" || r.Origin.Line < 1 {
		fail("origin", r.Origin, "cluster test, a file and line")
	}
}

// TestLayoutAndOrder: files land in dt=/cluster= folders by the UTC day,
// each file is in stageTimestamp order across its row groups, also from a
// real kube-apiserver's log (whose events are written up to a millisecond
// out of stage order: 31 times in 8,125 events), a crash leaves no .parquet.
func TestLayoutAndOrder(t *testing.T) {
	_, files := export(t, []string{audittest.Rotated()}, Options{RowGroupRows: 500, FileBytes: 2 << 20})
	if len(files) < 2 {
		t.Fatalf("%d files: the file bound did not roll", len(files))
	}
	for _, f := range files {
		rel := filepath.Base(filepath.Dir(filepath.Dir(f))) + "/" + filepath.Base(filepath.Dir(f))
		if rel != "dt=2026-11-20/cluster=test" {
			t.Errorf("%s: partition %s", f, rel)
		}
	}
	if p := audittest.GCELike(); p != "" {
		_, real := export(t, []string{p}, Options{RowGroupRows: 300})
		files = append(files, real...)
		// Several encoders: consecutive row groups go to as many files, each sorted.
		_, sharded := export(t, []string{p}, Options{RowGroupRows: 300, Encoders: 3})
		if len(sharded) != 3 {
			t.Errorf("3 encoders wrote %d files, want 3", len(sharded))
		}
		files = append(files, sharded...)
	}
	for _, f := range files {
		pf, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := pf.Stat()
		file, err := pq.OpenFile(pf, fi.Size())
		if err != nil {
			t.Fatal(err)
		}
		var prev time.Time
		for _, rg := range file.RowGroups() {
			rs := make([]Row, rg.NumRows())
			r := pq.NewGenericRowGroupReader[Row](rg)
			n, _ := r.Read(rs)
			for i := range n {
				if rs[i].StageTimestamp.Before(prev) {
					t.Fatalf("%s: out of stageTimestamp order at row %d of a row group", f, i)
				}
				prev = rs[i].StageTimestamp
			}
		}
		if v, _ := file.Lookup("auditq.sorted"); v != "true" {
			t.Errorf("%s: auditq.sorted = %q", f, v)
		}
		pf.Close()
	}
	// An aborted writer leaves nothing a reader would take for a file.
	dir := t.TempDir()
	w := NewWriter(Options{Dir: dir})
	var r Row
	r.StageTimestamp = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	r.AuditID, r.Origin.Cluster = "x", "c"
	if err := w.Write(&r, 10); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	left, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*"))
	if len(left) > 0 {
		t.Errorf("an aborted writer left %v", left)
	}
}

// TestLateEventMarksTheFile: an event later than reorderSlack is written
// where it falls, and the file says it is not sorted.
func TestLateEventMarksTheFile(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter(Options{Dir: dir, RowGroupRows: 10})
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	write := func(at time.Duration) {
		r := Row{StageTimestamp: t0.Add(at), AuditID: at.String(), Stage: "ResponseComplete"}
		r.Origin.Cluster = "c"
		if err := w.Write(&r, 100); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		write(time.Duration(i) * time.Second)
	}
	write(time.Second / 2) // 29 s late
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := w.Files()
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	pf, _ := os.Open(files[0])
	defer pf.Close()
	fi, _ := pf.Stat()
	file, err := pq.OpenFile(pf, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := file.Lookup("auditq.sorted"); v != "false" {
		t.Errorf("auditq.sorted = %q, want false", v)
	}
	rows, _ := pq.ReadFile[Row](files[0])
	if len(rows) != 31 {
		t.Errorf("%d rows, want 31", len(rows))
	}
}

// TestSlightlyLateEventsStaySorted: an event a little late (within
// reorderSlack) that falls after a row group was cut still lands in order.
func TestSlightlyLateEventsStaySorted(t *testing.T) {
	w := NewWriter(Options{Dir: t.TempDir(), RowGroupRows: 10})
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	var want []time.Duration
	for i := range 21 {
		at := time.Duration(i) * time.Second
		if i == 10 {
			at = 8500 * time.Millisecond // written after 9 s, and after the first row group was cut
		}
		want = append(want, at)
		r := Row{StageTimestamp: t0.Add(at), AuditID: at.String()}
		r.Origin.Cluster = "c"
		if err := w.Write(&r, 100); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := pq.ReadFile[Row](w.Files()[0])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	for i, r := range rows {
		if got := r.StageTimestamp.Sub(t0); got != want[i] {
			t.Fatalf("row %d at %v, want %v (the file is not in order)", i, got, want[i])
		}
	}
}
