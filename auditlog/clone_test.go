package auditlog

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// eventFields renders every accessor of an event, for comparing two.
func eventFields(e *Event) string {
	var b strings.Builder
	u := func(name string, u *UserInfo) {
		if u == nil {
			fmt.Fprintf(&b, "%s: nil\n", name)
			return
		}
		fmt.Fprintf(&b, "%s: %q %q %q extra %d", name, u.Username, u.UID, u.Groups, len(u.Extra))
		for _, x := range u.Extra {
			fmt.Fprintf(&b, " %q=%q(nil %v)", x.Key, x.Values, x.Values == nil)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "raw %q\npos %+v\n", e.Raw(), e.Pos())
	fmt.Fprintf(&b, "%q %q %q %q %q %q %q %q\n", e.Kind(), e.APIVersion(), e.Level(), e.AuditID(), e.Stage(), e.RequestURI(), e.Verb(), e.UserAgent())
	u("user", e.User())
	u("impersonated", e.ImpersonatedUser())
	fmt.Fprintf(&b, "ips %q (nil %v)\n", e.SourceIPs(), e.SourceIPs() == nil)
	if o := e.ObjectRef(); o != nil {
		fmt.Fprintf(&b, "ref %q\n", [][]byte{o.Resource, o.Namespace, o.Name, o.UID, o.APIGroup, o.APIVersion, o.ResourceVersion, o.Subresource})
	}
	if s := e.ResponseStatus(); s != nil {
		fmt.Fprintf(&b, "status %d %q\n", s.Code, [][]byte{s.Status, s.Reason, s.Message, s.Kind, s.APIVersion, s.Metadata, s.Details, s.Raw})
	}
	fmt.Fprintf(&b, "bodies %q %q authn %q\n", e.RequestObject(), e.ResponseObject(), e.AuthenticationMetadata())
	fmt.Fprintf(&b, "times %v %v %v\n", e.RequestReceivedTimestamp(), e.StageTimestamp(), e.Time())
	for _, a := range e.Annotations() {
		fmt.Fprintf(&b, "annotation %q=%q\n", a.Key, a.Value)
	}
	for _, k := range []string{"kind", "auditID", "user", "requestObject", "responseObject", "annotations", "stageTimestamp"} {
		v, ok := e.RawField(k)
		fmt.Fprintf(&b, "field %s %q %v\n", k, v, ok)
	}
	return b.String()
}

// TestCloneKeepsTheDecodeMode: an event read WithoutBodies whose body is
// damaged in place (which that mode does not check) clones without a panic,
// into the same event; so do events of every other mode.
func TestCloneKeepsTheDecodeMode(t *testing.T) {
	// Bodies where kube-apiserver writes them, damaged in place.
	damaged := strings.Replace(ev("d"), `,"requestReceivedTimestamp"`,
		`,"requestObject":{"spec":{"a":tru,"b":[1,,2]}},"responseObject":{"x":"unterminated}},"requestReceivedTimestamp"`, 1)
	input := ev("a") + "\n" + damaged + "\n" + ev("b") + "\n"
	for _, tc := range []struct {
		opts []Option
		want []string // the events read; the damaged one only when its bodies are stepped over
	}{
		{[]Option{WithoutBodies()}, []string{"a", "d", "b"}},
		{[]Option{WithoutBodies(), WithRawFields()}, []string{"a", "d", "b"}},
		{[]Option{WithRawFields()}, []string{"a", "b"}},
		{nil, []string{"a", "b"}},
	} {
		rd, err := NewReader(strings.NewReader(input), tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for ev, err := range rd.All() {
			if err != nil {
				continue
			}
			want := eventFields(ev)
			c := ev.Clone()
			if diff := cmp.Diff(want, eventFields(c)); diff != "" {
				t.Errorf("%d options: clone differs (-event +clone):\n%s", len(tc.opts), diff)
			}
			ids = append(ids, string(c.AuditID()))
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%d options: read %v, want %v", len(tc.opts), ids, tc.want)
		}
	}
}

// FuzzClone: in every decode mode, a Clone of any event the Reader accepts
// is the same event, and never panics.
func FuzzClone(f *testing.F) {
	_, files := fuzzSeeds(f)
	for _, b := range files {
		f.Add(b, uint8(0))
		f.Add(b, uint8(1))
	}
	f.Add([]byte(strings.Replace(ev("d"), `"responseStatus"`, `"requestObject":{"a":tru},"responseStatus"`, 1)), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		var opts []Option
		if mode&1 != 0 {
			opts = append(opts, WithoutBodies())
		}
		if mode&2 != 0 {
			opts = append(opts, WithRawFields())
		}
		rd, err := NewReader(bytes.NewReader(data), append(opts, WithMaxLineSize(1<<16))...)
		if err != nil {
			t.Fatal(err)
		}
		for {
			ev, err := rd.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				continue
			}
			want := eventFields(ev)
			if got := eventFields(ev.Clone()); got != want {
				t.Fatalf("clone differs:\n%s\n%s", want, got)
			}
		}
	})
}

// TestWithoutBodiesInAnyOrder: WithoutBodies steps over the bodies only on
// lines in kube-apiserver's member order; on any other order every member
// is still read, as the full decoder reads it.
func TestWithoutBodiesInAnyOrder(t *testing.T) {
	const body = `{"metadata":{"name":"x","annotations":{"a":"}"}},"spec":{"verb":"get"}}`
	for _, line := range []string{
		// kube-apiserver's order.
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a","stage":"ResponseComplete","requestURI":"/x","verb":"create","user":{"username":"u"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"configmaps"},"responseStatus":{"code":201},"requestObject":` + body + `,"responseObject":` + body + `,"requestReceivedTimestamp":"2026-11-20T08:00:00.000001Z","stageTimestamp":"2026-11-20T08:00:00.000002Z","annotations":{"k":"v"}}`,
		// responseStatus between the bodies: stepping over them would lose it.
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a","stage":"ResponseComplete","requestURI":"/x","verb":"create","user":{"username":"u"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"configmaps"},"requestObject":` + body + `,"responseStatus":{"code":201},"responseObject":` + body + `,"requestReceivedTimestamp":"2026-11-20T08:00:00.000001Z"}`,
		// objectRef between the bodies.
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a","stage":"RequestReceived","requestURI":"/x","verb":"create","user":{"username":"u"},"sourceIPs":["10.0.0.1"],"requestObject":` + body + `,"objectRef":{"resource":"configmaps"},"responseObject":` + body + `,"requestReceivedTimestamp":"2026-11-20T08:00:00.000001Z"}`,
		// verb after the bodies.
		`{"level":"RequestResponse","auditID":"a","stage":"ResponseComplete","requestURI":"/x","user":{"username":"u"},"requestObject":` + body + `,"verb":"delete","responseObject":` + body + `,"requestReceivedTimestamp":"2026-11-20T08:00:00.000001Z"}`,
		// a member repeated after the bodies: the last one wins.
		`{"level":"RequestResponse","auditID":"a","stage":"ResponseComplete","requestURI":"/x","verb":"create","user":{"username":"u"},"requestObject":` + body + `,"requestReceivedTimestamp":"2026-11-20T08:00:00.000001Z","verb":"patch"}`,
		// sorted keys, as some log shippers write them.
		`{"annotations":{"k":"v"},"apiVersion":"audit.k8s.io/v1","auditID":"a","kind":"Event","level":"RequestResponse","requestObject":` + body + `,"requestReceivedTimestamp":"2026-11-20T08:00:00.000001Z","requestURI":"/x","responseObject":` + body + `,"responseStatus":{"code":201},"stage":"ResponseComplete","user":{"username":"u"},"verb":"create"}`,
		// unknown members around the bodies.
		`{"cluster":"c0","level":"Request","auditID":"a","stage":"ResponseComplete","requestURI":"/x","verb":"create","user":{"username":"u"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"configmaps"},"responseStatus":{"code":201},"requestObject":` + body + `,"requestReceivedTimestamp":"2026-11-20T08:00:00.000001Z","cluster":"c1"}`,
	} {
		full, err := NewReader(strings.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		want, err := full.Next()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		wantFields := eventFields(want)
		lean, _ := NewReader(strings.NewReader(line), WithoutBodies())
		got, err := lean.Next()
		if err != nil {
			t.Fatalf("WithoutBodies: %v", err)
		}
		gotFields := eventFields(got)
		// The bodies are nil WithoutBodies, and RawField may miss them.
		for _, s := range []*string{&wantFields, &gotFields} {
			var keep []string
			for _, l := range strings.Split(*s, "\n") {
				if !strings.HasPrefix(l, "bodies ") && !strings.HasPrefix(l, "field requestObject") && !strings.HasPrefix(l, "field responseObject") {
					keep = append(keep, l)
				}
			}
			*s = strings.Join(keep, "\n")
		}
		if diff := cmp.Diff(wantFields, gotFields); diff != "" {
			t.Errorf("%.80s…: WithoutBodies reads other members (-full +WithoutBodies):\n%s", line, diff)
		}
	}
}

// TestNewReaderRefusesPipelineOptions: options a Reader cannot honour are an
// error, not silently ignored.
func TestNewReaderRefusesPipelineOptions(t *testing.T) {
	for _, opt := range []Option{WithConcurrency(4), WithLiterals("x")} {
		if _, err := NewReader(strings.NewReader(""), opt); err == nil || !strings.Contains(err.Error(), "not to a Reader") {
			t.Errorf("NewReader accepted a pipeline option: %v", err)
		}
	}
	if _, err := NewReader(strings.NewReader(""), WithoutBodies(), WithRawFields(), WithMaxLineSize(1<<20), WithName("x")); err != nil {
		t.Error(err)
	}
}
