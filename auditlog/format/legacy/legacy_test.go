package legacy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
	"github.com/auditq/auditq/internal/fixture"
)

// fieldsOf renders what the legacy format can carry of an event.
func fieldsOf(ev *auditlog.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s %q %q", ev.AuditID(), ev.Stage(), ev.Verb(), ev.RequestURI(), ev.UserAgent())
	u := ev.User()
	fmt.Fprintf(&b, " user=%q groups=%q", u.Username, u.Groups)
	if imp := ev.ImpersonatedUser(); imp != nil {
		fmt.Fprintf(&b, " as=%q asgroups=%q", imp.Username, imp.Groups)
	}
	if ips := ev.SourceIPs(); len(ips) > 0 {
		fmt.Fprintf(&b, " ip=%s", ips[0])
	}
	if ref := ev.ObjectRef(); ref != nil && len(ref.Namespace) > 0 {
		fmt.Fprintf(&b, " ns=%s", ref.Namespace)
	}
	if st := ev.ResponseStatus(); st != nil {
		fmt.Fprintf(&b, " code=%d", st.Code)
	}
	fmt.Fprintf(&b, " received=%s", ev.RequestReceivedTimestamp().Format(auditlog.RFC3339Micro))
	return b.String()
}

func read(t *testing.T, data []byte, opts ...auditlog.Option) (evs []string, errs []error) {
	t.Helper()
	rd, err := auditlog.NewReader(bytes.NewReader(data), opts...)
	if err != nil {
		t.Fatal(err)
	}
	for ev, err := range rd.All() {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		evs = append(evs, fieldsOf(ev))
	}
	return evs, errs
}

// TestLegacyEqualsJSON: the log backend of k8s.io/apiserver writes the same
// events in both formats; what the legacy lines read back as equals, field
// by field, what the legacy format carries of the JSON events, with an
// impersonating request, groups, anonymous and non-resource requests among
// them.
func TestLegacyEqualsJSON(t *testing.T) {
	var js, legacy bytes.Buffer
	if _, err := fixture.Write(&js, fixture.Config{Seed: 7, Requests: 2500, Legacy: &legacy}); err != nil {
		t.Fatal(err)
	}
	full, errs := read(t, js.Bytes())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got, errs := read(t, legacy.Bytes(), auditlog.WithFormats(Format))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if len(full) < 3000 {
		t.Fatalf("only %d events", len(full))
	}
	if diff := cmp.Diff(full, got); diff != "" {
		t.Errorf("legacy lines read back differently (-json +legacy):\n%.3000s", diff)
	}
	if !strings.Contains(legacy.String(), `as="system:serviceaccount:`) {
		t.Error("the fixture has no impersonation: the test checks less than it says")
	}
	// In parallel too, the same events.
	var par []string
	for r := range auditlog.ScanReader[struct{}](context.Background(), bytes.NewReader(legacy.Bytes()), nil,
		auditlog.WithFormats(Format), auditlog.WithConcurrency(3)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		par = append(par, fieldsOf(r.Event))
	}
	if diff := cmp.Diff(full, par); diff != "" {
		t.Errorf("parallel differs (-json +parallel):\n%.2000s", diff)
	}
}

// TestKubernetes16: the two-line form of the Kubernetes docs' sample.
func TestKubernetes16(t *testing.T) {
	path := audittest.Shared(t, "realdata", "kubernetes-website-doc-excerpts", "legacy-audit-k8s1.6.log")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rd, _ := auditlog.NewReader(bytes.NewReader(data), auditlog.WithFormats(Format))
	var got []string
	for ev, err := range rd.All() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(ev.Raw()))
		if ev.Origin().Format != "legacy" {
			t.Errorf("origin %+v", ev.Origin())
		}
	}
	want := []string{
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"c939d2a7-1c37-4ef1-b2f7-4ba9b1e43b53","requestURI":"/api/v1/namespaces/default/pods","verb":"GET","user":{"username":"admin","groups":["system:masters","system:authenticated"]},"sourceIPs":["127.0.0.1"],"objectRef":{"namespace":"default"},"requestReceivedTimestamp":"2017-03-21T07:57:09.106841Z"}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"c939d2a7-1c37-4ef1-b2f7-4ba9b1e43b53","responseStatus":{"code":200},"stageTimestamp":"2017-03-21T07:57:09.108403Z"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestKubernetes17 reads the docs' 1.7 sample.
func TestKubernetes17(t *testing.T) {
	path := audittest.Shared(t, "realdata", "kubernetes-website-doc-excerpts", "legacy-format-advanced-audit-k8s1.7.log")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, errs := read(t, data, auditlog.WithFormats(Format))
	want := []string{
		`591e9fde-6a98-46f6-b7bc-ec8ef575696d RequestReceived update "/api/v1/namespaces/kube-system/endpoints/kube-controller-manager" "" user="system:serviceaccount:kube-system:default" groups=["system:serviceaccounts" "system:serviceaccounts:kube-system" "system:authenticated"] ip=10.2.1.3 ns=kube-system received=2017-06-15T21:50:50.259470Z`,
		`591e9fde-6a98-46f6-b7bc-ec8ef575696d ResponseComplete update "/api/v1/namespaces/kube-system/endpoints/kube-controller-manager" "" user="system:serviceaccount:kube-system:default" groups=["system:serviceaccounts" "system:serviceaccounts:kube-system" "system:authenticated"] ip=10.2.1.3 ns=kube-system code=200 received=2017-06-15T21:50:50.259470Z`,
	}
	if diff := cmp.Diff(want, got); diff != "" || errs != nil {
		t.Errorf("(-want +got):\n%s %v", diff, errs)
	}
}

// TestBrokenLines: each bad line is an error at its line; the lines around
// it are read.
func TestBrokenLines(t *testing.T) {
	good := `2017-06-15T21:50:50.259470834Z AUDIT: id="a" stage="ResponseComplete" ip="10.2.1.3" method="get" user="u" groups="<none>" as="<self>" asgroups="<lookup>" user-agent="x\"y\x1b" namespace="<none>" uri="/" response="200"`
	input := strings.Join([]string{
		good,
		`2017-06-15T21:50:50.259470834Z AUDIT: id="b" stage="ResponseComplete" user="unterminated`,
		`not a time AUDIT: id="c"`,
		`{"kind":"Event","auditID":"json-in-a-legacy-log","stage":"ResponseComplete"}`,
		`2017-06-15T21:50:50.259470834Z AUDIT: stage="ResponseComplete"`,
		strings.Replace(good, `id="a"`, `id="d"`, 1),
	}, "\n")
	rd, _ := auditlog.NewReader(strings.NewReader(input), auditlog.WithFormats(Format), auditlog.WithName("l.log"))
	var ids []string
	var lines []int
	for ev, err := range rd.All() {
		if err != nil {
			var pe *auditlog.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%v is not a ParseError", err)
			}
			lines = append(lines, pe.Line)
			continue
		}
		ids = append(ids, string(ev.AuditID()))
		if string(ev.AuditID()) != "json-in-a-legacy-log" && string(ev.UserAgent()) != "x\"y\x1b" {
			t.Errorf("user agent %q", ev.UserAgent())
		}
	}
	if diff := cmp.Diff([]string{"a", "json-in-a-legacy-log", "d"}, ids); diff != "" {
		t.Errorf("events (-want +got): %s", diff)
	}
	if diff := cmp.Diff([]int{2, 3, 5}, lines); diff != "" {
		t.Errorf("error lines (-want +got): %s", diff)
	}
}

func TestDetect(t *testing.T) {
	for head, want := range map[string]bool{
		`2017-06-15T21:50:50.259470834Z AUDIT: id="a" stage="x"`:           true,
		"\n\n2017-03-21T03:57:09.106841886-04:00 AUDIT: id=\"c\" ip=\"1\"": true,
		`{"kind":"Event"}`:                               false,
		`2017-06-15T21:50:50Z {"kind":"Event"}`:          false,
		`yesterday AUDIT: id="a"`:                        false,
		`2017-06-15T21:50:50.259470834Z AUDIT: user="a"`: false,
	} {
		// Through DetectFormat, which hands Detect the head without the blank lines.
		if got := auditlog.DetectFormat([]byte(head), Format) == Format; got != want {
			t.Errorf("Detect(%q) = %v", head, got)
		}
	}
}

// FuzzRead: no line makes the format panic, and what it reads is an event
// the reader accepts with the line's id.
func FuzzRead(f *testing.F) {
	var legacy bytes.Buffer
	fixture.Write(&bytes.Buffer{}, fixture.Config{Seed: 1, Requests: 30, Legacy: &legacy})
	for _, l := range bytes.Split(legacy.Bytes(), []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`2017-03-21T03:57:09.108403639-04:00 AUDIT: id="c9\u00e9\x00" response="200"`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var buf []byte
		item, _ := Format.Read(line, 0, &buf)
		if item.Err != nil || item.JSON == nil {
			return
		}
		rd, _ := auditlog.NewReader(bytes.NewReader(item.JSON))
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("%q wrote %s, which does not read: %v", line, item.JSON, err)
		}
		if len(ev.AuditID()) == 0 {
			t.Fatalf("%q: no auditID in %s", line, item.JSON)
		}
	})
}
