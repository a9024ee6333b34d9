package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
	"github.com/auditq/auditq/internal/fixture"
)

// fixtureEvents are the lines of the repository's rotated set, oldest
// first, as kube-apiserver's audit code wrote them.
func fixtureEvents(t *testing.T) [][]byte {
	var lines [][]byte
	for _, f := range audittest.RotationSet(t, audittest.Rotated()) {
		for l := range bytes.Lines(audittest.ReadFile(t, f)) {
			lines = append(lines, bytes.TrimSuffix(l, []byte("\n")))
		}
	}
	return lines
}

// exportShapes wraps the events in every lossless export shape, as the
// provider writes it; each shape's file goes into dir. The node of event
// i, where a shape has nodes, is node(i).
func exportShapes(t *testing.T, dir string, lines [][]byte) map[string]string {
	node := func(i int) string { return fmt.Sprintf("cp-%d", i%3) }
	quote := func(b []byte) string { out, _ := json.Marshal(string(b)); return string(out) }
	gz := audittest.Gzip
	shapes := map[string][]byte{}

	// AKS: a storage-account blob, Azure's `\/` escapes included; an Event
	// Hub capture, 50 records a body.
	var blob, hub bytes.Buffer
	for i, l := range lines {
		rec := `{ "category": "kube-audit", "properties": {"pod":"` + node(i) + `","log":` + strings.ReplaceAll(quote(append(l, '\n')), "/", `\/`) +
			`,"stream":"stdout"}, "resourceId": "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD", "time": "2026-11-20T08:00:00Z"}`
		blob.WriteString(rec + "\n")
		switch {
		case i%50 == 0:
			hub.WriteString(`{"records":[` + rec)
		default:
			hub.WriteString("," + rec)
		}
		if i%50 == 49 || i == len(lines)-1 {
			hub.WriteString("]}\n")
		}
	}
	shapes["aks-PT1H.json"], shapes["aks-eventhub.json"] = blob.Bytes(), hub.Bytes()

	// EKS: filter-log-events pages of 1,000, pretty-printed; Firehose, a
	// gzip member per payload of 100; an export task; Logs Insights CSV;
	// a Lambda's events.
	type cwEvent struct {
		LogStreamName string `json:"logStreamName,omitempty"`
		Timestamp     int64  `json:"timestamp"`
		Message       string `json:"message"`
		ID            string `json:"id,omitempty"`
	}
	var pages, firehose, export, lambda bytes.Buffer
	var insights bytes.Buffer
	cw := csv.NewWriter(&insights)
	cw.Write([]string{"@timestamp", "@logStream", "@message"})
	for start := 0; start < len(lines); start += 1000 {
		var evs []cwEvent
		for i, l := range lines[start:min(start+1000, len(lines))] {
			evs = append(evs, cwEvent{LogStreamName: "kube-apiserver-audit-" + node(start+i), Timestamp: 1763625600000, Message: string(l)})
		}
		out, _ := json.MarshalIndent(map[string]any{"events": evs, "searchedLogStreams": []any{}}, "", "    ")
		pages.Write(append(out, '\n'))
	}
	for start := 0; start < len(lines); start += 100 {
		var evs []cwEvent
		for i, l := range lines[start:min(start+100, len(lines))] {
			evs = append(evs, cwEvent{ID: fmt.Sprint(start + i), Timestamp: 1763625600000, Message: string(l)})
		}
		payload, _ := json.Marshal(map[string]any{"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/eks/prod/cluster",
			"logStream": "kube-apiserver-audit-" + node(start/100), "subscriptionFilters": []string{"audit"}, "logEvents": evs})
		firehose.Write(gz(payload))
		lambda.WriteString(`{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString(gz(payload)) + `"}}` + "\n")
	}
	for i, l := range lines {
		fmt.Fprintf(&export, "%s %s\n", time.UnixMilli(1763625600000+int64(i)).UTC().Format("2006-01-02T15:04:05.000Z"), l)
		cw.Write([]string{"2026-11-20 08:00:00.000", "kube-apiserver-audit-" + node(i), string(l)})
	}
	cw.Flush()
	shapes["eks-filter-log-events.json"], shapes["eks-firehose"], shapes["eks-export.txt"] = pages.Bytes(), firehose.Bytes(), export.Bytes()
	shapes["eks-insights.csv"], shapes["eks-lambda.json"] = insights.Bytes(), lambda.Bytes()

	// OpenShift node-logs; Loki logcli JSONL.
	var nodeLogs, loki bytes.Buffer
	for i, l := range lines {
		fmt.Fprintf(&nodeLogs, "%s %s\n", node(i), l)
		e, _ := json.Marshal(map[string]any{"labels": map[string]string{"cluster": "prod", "node_name": node(i)}, "line": string(l), "timestamp": time.Unix(1763625600, 0).UTC()})
		loki.Write(append(e, '\n'))
	}
	shapes["openshift-node-logs.log"], shapes["loki.jsonl"] = nodeLogs.Bytes(), loki.Bytes()

	paths := map[string]string{}
	for name, data := range shapes {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

// run runs auditq and returns stdout, failing the test on another exit
// status than want or on anything on stderr.
func run(t *testing.T, want int, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := runEnv(args, &env{stdout: &out, stderr: &errOut}); code != want || errOut.Len() > 0 {
		t.Fatalf("auditq %s: exit %d, want %d; stderr:\n%.1000s", strings.Join(args, " "), code, want, errOut.String())
	}
	return out.String()
}

// withoutSources drops the summary's sources, which name where the events
// came from and so differ from shape to shape by design.
func withoutSources(t *testing.T, js string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "sources")
	return m
}

// TestEveryShapeThroughEveryCommand: the fixture's events, wrapped in each
// lossless export shape, give every command the output the plain log
// gives (cat: the events byte for byte), at 1 and 4 goroutines; --source
// picks one node's events where the shape names nodes.
func TestEveryShapeThroughEveryCommand(t *testing.T) {
	lines := fixtureEvents(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.log")
	os.WriteFile(plain, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644)
	id := string(auditlog.FindAuditID(lines[len(lines)/2]))
	policy := audittest.Testdata("policy", "audit-policy.yaml")
	commands := [][]string{
		{"cat"},
		{"query", "-c", "[.auditID,.stage,.verb,.objectRef.resource,.responseStatus.code,.stageTimestamp]"},
		{"get", "--id", id},
		{"summary", "-o", "json"},
		{"policy", "simulate", "--policy", policy},
		{"cat", "--verb", "create", "--code", "4xx"},
	}
	want := make([]string, len(commands))
	for i, c := range commands {
		want[i] = run(t, 0, slices.Concat(c, []string{plain})...)
	}
	var cp1 int
	for i := range lines {
		if i%3 == 1 {
			cp1++
		}
	}
	for name, path := range exportShapes(t, dir, lines) {
		t.Run(name, func(t *testing.T) {
			for _, threads := range []string{"1", "4"} {
				for i, c := range commands {
					got := run(t, 0, slices.Concat(c, []string{"--threads", threads, path})...)
					if c[0] == "summary" {
						if diff := cmp.Diff(withoutSources(t, want[i]), withoutSources(t, got)); diff != "" {
							t.Errorf("%s, %s threads (-plain +%s):\n%.2000s", c, threads, name, diff)
						}
						continue
					}
					if c[0] == "policy" {
						got = strings.ReplaceAll(got, path, plain)
					}
					if diff := cmp.Diff(want[i], got); diff != "" {
						t.Errorf("%s, %s threads (-plain +%s):\n%.2000s", c, threads, name, diff)
					}
				}
			}
			if strings.HasPrefix(name, "aks") || strings.HasPrefix(name, "openshift") || strings.HasPrefix(name, "loki") ||
				name == "eks-filter-log-events.json" || name == "eks-insights.csv" {
				got := run(t, 0, "query", "-r", "--source", "*cp-1", "$__source__.node", path)
				if n := strings.Count(got, "\n"); n != cp1 || !strings.HasSuffix(strings.SplitN(got, "\n", 2)[0], "cp-1") {
					t.Errorf("--source *cp-1: %d events (want %d), first %q", n, cp1, strings.SplitN(got, "\n", 2)[0])
				}
			}
		})
	}
}

// TestLossyShapesThroughEveryCommand: legacy lines (from the log backend
// that wrote the JSON beside them) and GKE's real entries go through
// every command; legacy gives what it holds of each event.
func TestLossyShapesThroughEveryCommand(t *testing.T) {
	dir := t.TempDir()
	var js, legacy bytes.Buffer
	if _, err := fixture.Write(&js, fixture.Config{Seed: 3, Requests: 400, Legacy: &legacy}); err != nil {
		t.Fatal(err)
	}
	jsPath, legacyPath := filepath.Join(dir, "audit.json.log"), filepath.Join(dir, "audit.legacy.log")
	os.WriteFile(jsPath, js.Bytes(), 0o644)
	os.WriteFile(legacyPath, legacy.Bytes(), 0o644)
	held := "[.auditID,.stage,.verb,.user.username,.user.groups,.impersonatedUser.username,.sourceIPs[0],.objectRef.namespace,.requestURI,.responseStatus.code]"
	for _, threads := range []string{"1", "4"} {
		if diff := cmp.Diff(run(t, 0, "query", "-c", held, jsPath), run(t, 0, "query", "-c", "--threads", threads, held, legacyPath)); diff != "" {
			t.Errorf("legacy, %s threads (-json +legacy):\n%.2000s", threads, diff)
		}
	}
	paths := []string{legacyPath}
	if gke, ok := audittest.SharedPath("realdata", "cloud", "gke-khi"); ok {
		paths = append(paths, gke)
	}
	for _, p := range paths {
		for _, c := range [][]string{{"cat"}, {"query", "-c", "."}, {"summary", "-o", "json"}, {"policy", "simulate", "--policy", audittest.Testdata("policy", "audit-policy.yaml")}} {
			one := run(t, 0, slices.Concat(c, []string{"--threads", "1", p})...)
			four := run(t, 0, slices.Concat(c, []string{"--threads", "4", p})...)
			if one != four || one == "" {
				t.Errorf("%s %s: 1 and 4 goroutines differ, or no output", c, p)
			}
		}
	}
}
