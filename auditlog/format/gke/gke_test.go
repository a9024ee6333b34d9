package gke

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// event is the part of an audit event this test reads.
type event struct {
	AuditID   string `json:"auditID"`
	Stage     string `json:"stage"`
	Verb      string `json:"verb"`
	User      struct{ Username string }
	SourceIPs []string        `json:"sourceIPs"`
	UserAgent string          `json:"userAgent"`
	ObjectRef *objectRef      `json:"objectRef"`
	RespStat  json.RawMessage `json:"responseStatus"`
	Request   json.RawMessage `json:"requestObject"`
	Response  json.RawMessage `json:"responseObject"`
	StageTime string          `json:"stageTimestamp"`
	Annots    json.RawMessage `json:"annotations"`
}

type objectRef struct {
	Resource    string `json:"resource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	APIGroup    string `json:"apiGroup"`
	APIVersion  string `json:"apiVersion,omitempty"`
	Subresource string `json:"subresource,omitempty"`
}

// logEntry is how Cloud Logging re-encodes an audit event (the shape of
// the real samples in ../shared/realdata/cloud/gke-khi).
func cloudLogging(ev event) map[string]any {
	group := "core"
	method := "io.k8s." + ev.Verb // a non-resource request
	resourceName := ""
	if ref := ev.ObjectRef; ref != nil {
		if ref.APIGroup != "" {
			group = ref.APIGroup
		}
		p := []string{group, ref.APIVersion}
		if ref.Namespace != "" && !(ref.Resource == "namespaces") {
			p = append(p, "namespaces", ref.Namespace)
		}
		p = append(p, ref.Resource)
		if ref.Name != "" {
			p = append(p, ref.Name)
		}
		if ref.Subresource != "" {
			p = append(p, ref.Subresource)
		}
		resourceName = strings.Join(p, "/")
		sub := ""
		if ref.Subresource != "" {
			sub = "." + ref.Subresource
		}
		method = fmt.Sprintf("io.k8s.%s.%s.%s%s.%s", group, ref.APIVersion, ref.Resource, sub, ev.Verb)
	}
	pp := map[string]any{
		"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "serviceName": "k8s.io",
		"authenticationInfo": map[string]any{"principalEmail": ev.User.Username},
		"methodName":         method, "resourceName": resourceName, "status": map[string]any{"code": 0},
	}
	md := map[string]any{}
	if len(ev.SourceIPs) > 0 {
		md["callerIp"] = ev.SourceIPs[0]
	}
	if ev.UserAgent != "" {
		md["callerSuppliedUserAgent"] = ev.UserAgent
	}
	pp["requestMetadata"] = md
	for key, body := range map[string]json.RawMessage{"request": ev.Request, "response": ev.Response} {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil && m != nil {
			m["@type"] = "core.k8s.io/v1." + fmt.Sprint(m["kind"])
			pp[key] = m
		}
	}
	e := map[string]any{
		"insertId": ev.AuditID, "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
		"operation":    map[string]any{"first": true, "last": true, "id": ev.AuditID, "producer": "k8s.io"},
		"protoPayload": pp, "receiveTimestamp": ev.StageTime, "timestamp": ev.StageTime,
		"resource": map[string]any{"type": "k8s_cluster", "labels": map[string]any{"cluster_name": "prod-gke", "location": "us-central1", "project_id": "p"}},
	}
	if len(ev.Annots) > 0 {
		e["labels"] = json.RawMessage(ev.Annots)
	}
	return e
}

// mapped is what the format must read back of an event: the documented
// mapping, nothing more.
func mapped(ev event) map[string]any {
	out := map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": ev.AuditID, "verb": ev.Verb}
	if ev.User.Username != "" {
		out["user"] = map[string]any{"username": ev.User.Username}
	}
	if len(ev.SourceIPs) > 0 {
		out["sourceIPs"] = []any{ev.SourceIPs[0]}
	}
	if ev.UserAgent != "" {
		out["userAgent"] = ev.UserAgent
	}
	if ev.ObjectRef != nil {
		ref := *ev.ObjectRef
		if ref.Resource == "namespaces" && ref.Name != "" {
			ref.Namespace = ref.Name // as kube-apiserver's request info has it
		}
		var m map[string]any
		b, _ := json.Marshal(ref)
		json.Unmarshal(b, &m)
		out["objectRef"] = m
	}
	for key, body := range map[string]json.RawMessage{"requestObject": ev.Request, "responseObject": ev.Response} {
		var v any
		if json.Unmarshal(body, &v) == nil && v != nil {
			out[key] = v
		}
	}
	var resp map[string]any
	if json.Unmarshal(ev.Response, &resp) == nil && resp["kind"] == "Status" && resp["code"] != nil {
		st := map[string]any{}
		for _, k := range []string{"status", "message", "reason", "code"} {
			if v, ok := resp[k]; ok {
				st[k] = v
			}
		}
		out["responseStatus"] = st
	}
	if ev.StageTime != "" {
		out["stageTimestamp"] = ev.StageTime
	}
	if len(ev.Annots) > 0 {
		var a any
		json.Unmarshal(ev.Annots, &a)
		out["annotations"] = a
	}
	return out
}

func readAll(t *testing.T, data []byte, threads int, f auditlog.Format) (got []map[string]any, clusters []string) {
	t.Helper()
	for r := range auditlog.ScanReader[struct{}](context.Background(), bytes.NewReader(data), nil,
		auditlog.WithFormats(Format, YAML), auditlog.WithConcurrency(threads)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if r.Event.Origin().Format != f.Name() {
			t.Fatalf("read as %q, want %q", r.Event.Origin().Format, f.Name())
		}
		var m map[string]any
		if err := json.Unmarshal(r.Event.Raw(), &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
		clusters = append(clusters, string(r.Event.Origin().Cluster))
	}
	return got, clusters
}

// TestShapesAroundKubeAPIServerEvents: the real gce-like events, re-encoded
// as Cloud Logging would, read back as the documented mapping says, in
// every shape, at 1 and 3 goroutines.
func TestShapesAroundKubeAPIServerEvents(t *testing.T) {
	lines, name := audittest.KubeAPIServerLines(t)
	var evs []event
	for _, l := range lines[:min(len(lines), 1500)] {
		var ev event
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ObjectRef != nil && ev.ObjectRef.APIVersion == "" {
			continue // no resourceName can be written without the version
		}
		evs = append(evs, ev)
	}
	var want []any
	var entries []map[string]any
	var jsonl, yamlDocs bytes.Buffer
	for i, ev := range evs {
		want = append(want, mapped(ev))
		e := cloudLogging(ev)
		entries = append(entries, e)
		b, _ := json.Marshal(e)
		jsonl.Write(append(b, '\n'))
		y, _ := yaml.Marshal(e)
		if i > 0 {
			yamlDocs.WriteString("---\n")
		}
		yamlDocs.Write(y)
	}
	gcloud, _ := json.MarshalIndent(entries, "", "  ")
	for _, tc := range []struct {
		shape string
		data  []byte
		f     auditlog.Format
	}{
		{"LogEntry lines (sinks, Pub/Sub)", jsonl.Bytes(), Format},
		{"gcloud logging read --format=json", gcloud, Format},
		{"gcloud logging read (YAML)", yamlDocs.Bytes(), YAML},
	} {
		for _, threads := range []int{1, 3} {
			got, clusters := readAll(t, tc.data, threads, tc.f)
			gotAny := make([]any, len(got))
			for i := range got {
				gotAny[i] = got[i]
			}
			if diff := cmp.Diff(want, gotAny); diff != "" {
				t.Errorf("%s (%s, %d threads): (-mapping +read):\n%.3000s", tc.shape, name, threads, diff)
			}
			if len(clusters) == 0 || clusters[0] != "prod-gke" {
				t.Errorf("%s: clusters %v", tc.shape, clusters[:min(len(clusters), 1)])
			}
		}
	}
}

// TestRealEntries: the three real GKE entries in gcloud's YAML.
func TestRealEntries(t *testing.T) {
	dir := audittest.Shared(t, "realdata", "cloud", "gke-khi")
	want := map[string]string{
		"container_recorder_test_1_1.yaml": `create pods 1-2-deployment-update/nginx-deployment-surge-8655b4b8c5-xf5f4 "" user=system:serviceaccount:kube-system:replicaset-controller`,
		"container_recorder_test_1_2.yaml": `patch pods 1-2-deployment-update/nginx-deployment-surge-8655b4b8c5-xf5f4 "status" user=system:node:gke-sample-cluster-default-abcdefgh-abcd`,
		"container_recorder_test_1_3.yaml": `patch pods 1-2-deployment-update/nginx-deployment-surge-8655b4b8c5-xf5f4 "status" user=system:node:gke-sample-cluster-default-abcdefgh-abcd`,
	}
	for file, w := range want {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		rd, _ := auditlog.NewReader(bytes.NewReader(data), auditlog.WithFormats(Format, YAML), auditlog.WithName(file))
		n := 0
		for ev, err := range rd.All() {
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			n++
			ref := ev.ObjectRef()
			got := fmt.Sprintf("%s %s %s/%s %q user=%s", ev.Verb(), ref.Resource, ref.Namespace, ref.Name, ref.Subresource, ev.User().Username)
			if got != w {
				t.Errorf("%s: %s, want %s", file, got, w)
			}
			if ev.Origin().Format != "gke-yaml" || string(ev.Origin().Cluster) != "sample-cluster" || ev.StageTimestamp().IsZero() ||
				bytes.Contains(ev.RequestObject(), []byte("@type")) || ev.RequestObject() == nil || ev.Level() != nil || ev.Stage() != nil {
				t.Errorf("%s: %s", file, ev.Raw())
			}
			if d, _ := ev.Annotation("authorization.k8s.io/decision"); string(d) != "allow" {
				t.Errorf("%s: annotations %s", file, ev.Annotations())
			}
			if ev.Pos().Line != 15 {
				t.Errorf("%s: event at line %d, want 15 (after the license comment)", file, ev.Pos().Line)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d events", file, n)
		}
	}
}

func TestParseResourceName(t *testing.T) {
	for in, want := range map[string]ref{
		"core/v1/namespaces/ns/pods/p":                    {version: "v1", namespace: "ns", resource: "pods", name: "p"},
		"core/v1/namespaces/ns/pods/p/exec":               {version: "v1", namespace: "ns", resource: "pods", name: "p", subresource: "exec"},
		"apps/v1/namespaces/ns/deployments":               {group: "apps", version: "v1", namespace: "ns", resource: "deployments"},
		"core/v1/namespaces/ns":                           {version: "v1", namespace: "ns", resource: "namespaces", name: "ns"},
		"core/v1/namespaces/ns/status":                    {version: "v1", namespace: "ns", resource: "namespaces", name: "ns", subresource: "status"},
		"core/v1/namespaces/ns/finalize":                  {version: "v1", namespace: "ns", resource: "namespaces", name: "ns", subresource: "finalize"},
		"core/v1/namespaces":                              {version: "v1", resource: "namespaces"},
		"core/v1/nodes/n1/status":                         {version: "v1", resource: "nodes", name: "n1", subresource: "status"},
		"rbac.authorization.k8s.io/v1/clusterroles/admin": {group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterroles", name: "admin"},
	} {
		got, ok := parseResourceName(in)
		if !ok || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, ok, want)
		}
	}
	for _, nonResource := range []string{"readyz", "version", "openapi/v2", "", "healthz/etcd"} {
		if got, ok := parseResourceName(nonResource); ok {
			t.Errorf("%q read as a resource: %+v", nonResource, got)
		}
	}
}

// TestOtherServicesAndBrokenEntries: entries of other services are passed
// over; an entry that is not an AuditLog is an error.
func TestOtherServicesAndBrokenEntries(t *testing.T) {
	input := `{"insertId":"a","logName":"x","protoPayload":{"serviceName":"compute.googleapis.com","methodName":"v1.compute.instances.insert"}}
{"insertId":"b","logName":"x","textPayload":"hello"}
{"insertId":"c","logName":"x","protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.get","resourceName":"core/v1/namespaces/n/pods/p"},"timestamp":"2024-01-01T01:00:00.123456789Z"}
`
	rd, _ := auditlog.NewReader(strings.NewReader(input), auditlog.WithFormats(Format))
	var got []string
	for ev, err := range rd.All() {
		if err != nil {
			got = append(got, err.Error())
			continue
		}
		got = append(got, string(ev.Raw()))
	}
	want := []string{
		"<input>:2:1: not a Cloud Logging LogEntry with an AuditLog protoPayload (byte offset 130)",
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"c","verb":"get","objectRef":{"resource":"pods","namespace":"n","name":"p","apiGroup":"","apiVersion":"v1"},"stageTimestamp":"2024-01-01T01:00:00.123456Z"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"insertId":"c","protoPayload":{"methodName":"io.k8s.core.v1.pods.get","resourceName":"core/v1/namespaces/n/pods/p","response":{"@type":"core.k8s.io/v1.Status","kind":"Status","code":403.0}},"labels":{"a":"b"}}`), false)
	f.Add([]byte(`[{"insertId":"c","protoPayload":{"methodName":"get"}},{}]`), false)
	f.Add([]byte("insertId: a\nprotoPayload:\n  methodName: io.k8s.get\n"), true)
	f.Fuzz(func(t *testing.T, rec []byte, isYAML bool) {
		format := Format
		if isYAML {
			format = YAML
		} else if !json.Valid(rec) {
			return
		}
		var buf []byte
		at := 0
		for n := 0; at >= 0; n++ {
			if n > len(rec)+2 {
				t.Fatal("no progress")
			}
			item, next := format.Read(rec, at, &buf)
			if item.JSON != nil && !json.Valid(item.JSON) {
				t.Fatalf("%q: wrote %s, not JSON", rec, item.JSON)
			}
			if next >= 0 && next <= at {
				t.Fatalf("next %d after %d", next, at)
			}
			at = next
		}
	})
}
