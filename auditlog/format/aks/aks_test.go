package aks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// azureString encodes s as Azure Monitor writes properties.log: a JSON
// string with '/' escaped as \/.
func azureString(s []byte) string {
	b, _ := json.Marshal(string(s))
	return strings.ReplaceAll(string(b), "/", `\/`)
}

// record is one storage-blob line around an event, in Azure's key order.
func record(ev []byte, pod string, trailingNewline bool) string {
	if trailingNewline {
		ev = append(bytes.Clone(ev), '\n')
	}
	return `{ "category": "kube-audit", "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read", "properties": {"pod":"` + pod +
		`","containerID":"c2120cb7","log":` + azureString(ev) + `,"stream":"stdout"}, "resourceId": "/SUBSCRIPTIONS/0B62/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS", "serviceBuild": "na", "time": "2024-11-15T21:00:00.154534959Z"}`
}

type result struct {
	raw    []string // Raw() of each event
	origin []string
	errs   []error
}

func readAll(t *testing.T, data []byte, threads int) result {
	t.Helper()
	var r result
	for res := range auditlog.ScanReader[struct{}](context.Background(), bytes.NewReader(data), nil,
		auditlog.WithFormats(Format), auditlog.WithConcurrency(threads), auditlog.WithName("PT1H.json")) {
		if res.Err != nil {
			r.errs = append(r.errs, res.Err)
			continue
		}
		r.raw = append(r.raw, string(res.Event.Raw()))
		o := res.Event.Origin()
		r.origin = append(r.origin, fmt.Sprintf("%s %s %s", o.Format, o.Cluster, o.Node))
	}
	return r
}

// TestRealStorageExport: the 21 records of a real AKS storage export read
// as the events their properties.log hold, byte for byte.
func TestRealStorageExport(t *testing.T) {
	path := audittest.Shared(t, "realdata", "cloud", "aks-datadog-forwarder", "aks_logs.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var rec struct{ Properties struct{ Log string } }
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		want = append(want, strings.TrimRight(rec.Properties.Log, "\n"))
	}
	for _, threads := range []int{1, 2} {
		got := readAll(t, data, threads)
		if len(got.errs) > 0 {
			t.Fatal(got.errs)
		}
		if diff := cmp.Diff(want, got.raw); diff != "" || len(want) != 21 {
			t.Errorf("%d threads: events differ from properties.log (-want +got):\n%s", threads, diff)
		}
		if got.origin[0] != "aks MIKE-AZURE-AKS kube-apiserver-6797f4455b-jdgtt" {
			t.Errorf("origin %q", got.origin[0])
		}
	}
}

// TestShapesAroundKubeAPIServerEvents wraps a real kube-apiserver's events
// in every shape Azure exports and reads them back.
func TestShapesAroundKubeAPIServerEvents(t *testing.T) {
	lines, name := audittest.KubeAPIServerLines(t)
	lines = lines[:min(len(lines), 3000)]
	want := make([]string, len(lines))
	for i, l := range lines {
		want[i] = string(l)
	}
	var blob, noNewline, hub, hubPretty, diag strings.Builder
	for i, l := range lines {
		blob.WriteString(record(l, "kube-apiserver-a", true) + "\n")
		noNewline.WriteString(record(l, "kube-apiserver-a", false) + "\n")
		if i%500 == 0 {
			if i > 0 {
				hub.WriteString("]}\n")
			}
			hub.WriteString(`{"records":[`)
		} else {
			hub.WriteString(",")
		}
		hub.WriteString(record(l, "kube-apiserver-a", true))
	}
	hub.WriteString("]}\n")
	// One Event Hub body, pretty-printed.
	var bodies []json.RawMessage
	for _, l := range lines[:200] {
		bodies = append(bodies, json.RawMessage(record(l, "p", true)))
	}
	pretty, _ := json.MarshalIndent(map[string]any{"records": bodies}, "", "  ")
	hubPretty.Write(pretty)
	// Log Analytics AzureDiagnostics rows, as az monitor log-analytics query -o json prints them.
	var rows []map[string]any
	for _, l := range lines[:500] {
		rows = append(rows, map[string]any{"Category": "kube-audit", "TimeGenerated": "2024-11-15T21:00:00Z", "log_s": string(l),
			"pod_s": "kube-apiserver-b", "ResourceId": "/SUBSCRIPTIONS/X/RESOURCEGROUPS/Y/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/DIAG"})
	}
	rowsJSON, _ := json.MarshalIndent(rows, "", "  ")
	diag.Write(rowsJSON)

	for _, tc := range []struct {
		shape string
		data  string
		n     int
		node  string
	}{
		{"storage blob", blob.String(), len(lines), "aks PROD-AKS kube-apiserver-a"},
		{"storage blob, properties.log without its newline", noNewline.String(), len(lines), "aks PROD-AKS kube-apiserver-a"},
		{"Event Hub bodies, one a line", hub.String(), len(lines), "aks PROD-AKS kube-apiserver-a"},
		{"an Event Hub body, pretty", hubPretty.String(), 200, "aks PROD-AKS p"},
		{"AzureDiagnostics rows", diag.String(), 500, "aks DIAG kube-apiserver-b"},
	} {
		for _, threads := range []int{1, 3} {
			got := readAll(t, []byte(tc.data), threads)
			if len(got.errs) > 0 {
				t.Fatalf("%s: %v", tc.shape, got.errs[0])
			}
			if diff := cmp.Diff(want[:tc.n], got.raw); diff != "" {
				t.Errorf("%s (%s, %d threads): (-want +got):\n%.2000s", tc.shape, name, threads, diff)
			}
			if got.origin[len(got.origin)-1] != tc.node {
				t.Errorf("%s: origin %q, want %q", tc.shape, got.origin[len(got.origin)-1], tc.node)
			}
		}
	}
}

// TestAKSAuditColumns: events split into AKSAudit columns (dynamic columns
// as JSON and as JSON in strings, times with .NET's seven digits) are put
// back together: every member but impersonatedUser, which the table lacks.
func TestAKSAuditColumns(t *testing.T) {
	lines, _ := audittest.KubeAPIServerLines(t)
	lines = lines[:min(len(lines), 800)]
	var rows []map[string]any
	var want []string
	for i, l := range lines {
		var ev map[string]json.RawMessage
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatal(err)
		}
		row := map[string]any{"TimeGenerated": "2024-11-15T21:00:01.1234567Z", "PodName": "kube-apiserver-c",
			"_ResourceId": "/subscriptions/x/resourcegroups/y/providers/microsoft.containerservice/managedclusters/cols"}
		for col, member := range columnNames {
			v, ok := ev[member]
			if !ok {
				continue
			}
			switch {
			case member == "requestReceivedTimestamp" || member == "stageTimestamp":
				var s string
				json.Unmarshal(v, &s)
				row[col] = strings.TrimSuffix(s, "Z") + "0Z" // seven digits
			case i%2 == 0 && v[0] != '"':
				row[col] = string(v) // a dynamic column exported as a string
			default:
				row[col] = v
			}
		}
		rows = append(rows, row)
		delete(ev, "impersonatedUser")
		ev["kind"], ev["apiVersion"] = json.RawMessage(`"Event"`), json.RawMessage(`"audit.k8s.io/v1"`)
		b, _ := json.Marshal(ev)
		want = append(want, string(b))
	}
	data, _ := json.Marshal(rows)
	got := readAll(t, data, 2)
	if len(got.errs) > 0 {
		t.Fatal(got.errs[0])
	}
	// Compare as JSON values (member order is the table's, not the line's).
	norm := func(s []string) []string {
		out := make([]string, len(s))
		for i, x := range s {
			var v any
			if err := json.Unmarshal([]byte(x), &v); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(v)
			out[i] = string(b)
		}
		return out
	}
	if diff := cmp.Diff(norm(want), norm(got.raw)); diff != "" {
		t.Errorf("(-want +got):\n%.3000s", diff)
	}
	if got.origin[0] != "aks cols kube-apiserver-c" {
		t.Errorf("origin %q", got.origin[0])
	}
}

// TestDamage: a properties.log cut short is an error naming the event; a
// replaced body is a warning, then the event; records of other categories
// and a record that is no audit record are told apart.
func TestDamage(t *testing.T) {
	lines, _ := audittest.KubeAPIServerLines(t)
	var big []byte
	for _, l := range lines {
		if len(l) > 3000 {
			big = l
			break
		}
	}
	if big == nil {
		t.Skip("no event over 3 KB to cut")
	}
	cut := big[:2048]
	skippedBody := bytes.Replace(lines[0], []byte(`,"requestReceivedTimestamp"`), []byte(`,"requestObject":"skipped-too-big-size-object","requestReceivedTimestamp"`), 1)
	input := strings.Join([]string{
		record(lines[0], "p", true),
		record(cut, "p", false),
		record(skippedBody, "p", true),
		`{"category":"kube-apiserver","properties":{"log":"I1115 21:00:00.1 1 handler.go:1] GET /readyz","pod":"p"},"resourceId":"/X"}`,
		`{"category":"kube-audit","properties":{"pod":"p"}}`,
		record(lines[1], "p", true),
	}, "\n")
	got := readAll(t, []byte(input), 1)
	if diff := cmp.Diff([]string{string(lines[0]), string(skippedBody), string(lines[1])}, got.raw); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	var msgs []string
	for _, err := range got.errs {
		var pe *auditlog.ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("%v", err)
		}
		msgs = append(msgs, fmt.Sprintf("%d: %v", pe.Line, pe.Err))
	}
	id := auditIDOf(t, big)
	if len(msgs) != 3 || !strings.HasPrefix(msgs[0], "2: properties.log: event cut short") || !strings.Contains(msgs[0], "auditID "+id) ||
		!strings.HasPrefix(msgs[1], "3: body replaced by Azure Monitor") || !strings.HasPrefix(msgs[2], "5: not an AKS audit record") {
		t.Errorf("problems:\n%s", strings.Join(msgs, "\n"))
	}
}

func auditIDOf(t *testing.T, ev []byte) string {
	var v struct{ AuditID string }
	json.Unmarshal(append(bytes.Clone(ev[:bytes.Index(ev, []byte(`"stage"`))-1]), '}'), &v)
	return v.AuditID
}

func TestDetect(t *testing.T) {
	for head, want := range map[string]bool{
		`{ "category": "kube-audit", "properties": {"log":"x"}}`:    true,
		`{"records":[{"category":"kube-audit"`:                      true,
		`[{"Category":"kube-audit","log_s":"{}"}]`:                  true,
		"[\n  {\n    \"AuditId\": \"a\",":                           true,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1"}`:           false,
		`{"events":[{"message":"{}"}],"searchedLogStreams":[]}`:     false,
		`{"insertId":"x","protoPayload":{"@type":"type.googleapis"`: false,
	} {
		if got := Format.Detect([]byte(head)); got != want {
			t.Errorf("Detect(%q) = %v", head, got)
		}
	}
}

// FuzzRead: no record makes the format panic or loop, whatever it holds.
func FuzzRead(f *testing.F) {
	lines, _ := audittest.KubeAPIServerLines(f)
	f.Add([]byte(record(lines[0], "p", true)))
	f.Add([]byte(`{"records":[` + record(lines[0], "p", true) + `,` + record(lines[1], "p", false) + `]}`))
	f.Add([]byte(`[{"AuditId":"a","User":"{\"username\":\"u\"}","StageReceivedTime":"2024-11-15T21:00:01.1234567Z"}]`))
	f.Add([]byte(`{"log_s":"{\"auditID\":\"x\"}","pod_s":"p"}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		if !json.Valid(rec) {
			return // records are whole JSON values by the time a format sees them
		}
		var buf []byte
		at := 0
		for n := 0; at >= 0; n++ {
			if n > len(rec)+1 {
				t.Fatalf("no progress at %d of %q", at, rec)
			}
			var next int
			_, next = Format.Read(rec, at, &buf)
			if next >= 0 && next <= at {
				t.Fatalf("next %d after %d", next, at)
			}
			at = next
		}
	})
}
