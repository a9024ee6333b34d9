package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"

	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
	"github.com/auditq/auditq/internal/fixture"
)

const logEverything = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"

// testPolicies are the setup guides' policies (when ../shared is there) and
// the fixture generator's own.
func testPolicies(t *testing.T) map[string]string {
	t.Helper()
	ps := map[string]string{"fixture default": fixture.DefaultPolicy, "fixture bench": fixture.BenchPolicy,
		"omitManagedFields": `apiVersion: audit.k8s.io/v1
kind: Policy
omitManagedFields: true
rules:
- level: RequestResponse
  resources: [{group: "apps"}]
  omitManagedFields: false
- level: Request
  verbs: ["create", "update", "patch"]
- level: RequestResponse
`}
	dir, _ := audittest.SharedPath("policies")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		ps[e.Name()] = string(b)
	}
	return ps
}

// asV1 is a policy text with an old apiVersion changed to v1, which the
// generator (k8s.io/apiserver's loader) needs.
func asV1(policy string) string {
	for _, old := range []string{"audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1"} {
		policy = strings.Replace(policy, old, "audit.k8s.io/v1", 1)
	}
	return policy
}

// TestSimulateEqualsTheRealWriter: a log written at RequestResponse for every
// request, with each policy applied by Policy.Apply, is byte for byte the log
// kube-apiserver's audit code writes under that policy for the same requests.
func TestSimulateEqualsTheRealWriter(t *testing.T) {
	for name, text := range testPolicies(t) {
		t.Run(name, func(t *testing.T) {
			cfg := fixture.Config{Seed: 11, Requests: 3000, ManagedFields: true, Policy: logEverything}
			var full, real bytes.Buffer
			if _, err := fixture.Write(&full, cfg); err != nil {
				t.Fatal(err)
			}
			cfg.Policy = asV1(text)
			if _, err := fixture.Write(&real, cfg); err != nil {
				t.Fatal(err)
			}
			p, err := Load(name, []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			var sim []byte
			fates := map[Fate]int{}
			rd, err := auditlog.NewReader(bytes.NewReader(full.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			for ev, err := range rd.All() {
				if err != nil {
					t.Fatal(err)
				}
				var out Outcome
				before := len(sim)
				sim, out = p.Apply(ev, sim)
				if out.Fate != Dropped {
					sim = append(sim, '\n')
				} else if len(sim) != before {
					t.Fatal("a dropped event was written")
				}
				if out.Underlogged {
					t.Fatalf("a RequestResponse log cannot be under-logged: %+v", out)
				}
				fates[out.Fate]++
			}
			wantLines := strings.Split(real.String(), "\n")
			gotLines := strings.Split(string(sim), "\n")
			if diff := cmp.Diff(wantLines, gotLines); diff != "" {
				t.Errorf("simulated log differs from the one written under the policy (-written +simulated):\n%.3000s", diff)
			}
			t.Logf("%s: %d lines written; kept %d, trimmed %d, dropped %d of the full log's events", name, len(wantLines)-1, fates[Kept], fates[Trimmed], fates[Dropped])
		})
	}
}

// TestShadowedRules: rules reported shadowed really never decide a request
// (on every request of a fixture log written at RequestResponse, an earlier
// rule matches whenever they do), and the obvious cases are found.
func TestShadowedRules(t *testing.T) {
	const crafted = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  users: ["system:kube-proxy"]
  verbs: ["watch"]
- level: Metadata
  resources: [{group: "", resources: ["secrets", "configmaps"]}]
- level: Request
  resources: [{group: "", resources: ["secrets"], resourceNames: ["x"]}]
  verbs: ["get"]
- level: None
  nonResourceURLs: ["/healthz*", "/version"]
- level: None
  nonResourceURLs: ["/healthz/etcd"]
- level: Metadata
  resources: [{group: "*"}]
- level: Request
  resources: [{group: "apps", resources: ["deployments/*"]}]
- level: Metadata
- level: RequestResponse
  users: ["alice"]
`
	p, err := Load("crafted", []byte(crafted))
	if err != nil {
		t.Fatal(err)
	}
	got := p.Shadowed()
	want := []Shadowing{{Rule: 3, ShadowedBy: 2}, {Rule: 5, ShadowedBy: 4}, {Rule: 7, ShadowedBy: 6}, {Rule: 9, ShadowedBy: 8}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("crafted policy (-want +got):\n%s", diff)
	}

	var full bytes.Buffer
	if _, err := fixture.Write(&full, fixture.Config{Seed: 5, Requests: 3000, Policy: logEverything}); err != nil {
		t.Fatal(err)
	}
	policies := testPolicies(t)
	policies["crafted"] = crafted
	for name, text := range policies {
		p, err := Load(name, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		rd, _ := auditlog.NewReader(bytes.NewReader(full.Bytes()))
		for ev, err := range rd.All() {
			if err != nil {
				t.Fatal(err)
			}
			attrs := Attributes(ev)
			for _, sh := range p.Shadowed() {
				if p.probes[sh.Rule-1].EvaluatePolicyRule(attrs).Level != "None" && p.probes[sh.ShadowedBy-1].EvaluatePolicyRule(attrs).Level == "None" {
					t.Fatalf("%s: rule %d said shadowed by %d, but only it matches %s %s", name, sh.Rule, sh.ShadowedBy, ev.Verb(), ev.RequestURI())
				}
			}
		}
	}
}

// TestPolicySimulationCounts: the per-rule counts equal counts made
// independently, from encoding/json's reading of each line, with the
// attributes taken from objectRef (the name from the URI's last segment for
// item requests) and requests counted by distinct auditID.
func TestPolicySimulationCounts(t *testing.T) {
	var full bytes.Buffer
	if _, err := fixture.Write(&full, fixture.Config{Seed: 3, Requests: 2000, Policy: fixture.BenchPolicy}); err != nil {
		t.Fatal(err)
	}
	for name, text := range testPolicies(t) {
		p, err := Load(name, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		sim := NewSimulation(p)
		rd, _ := auditlog.NewReader(bytes.NewReader(full.Bytes()))
		var buf []byte
		for ev, err := range rd.All() {
			if err != nil {
				t.Fatal(err)
			}
			var o Outcome
			buf, o = p.Apply(ev, buf[:0])
			sim.Add(ev, o, len(buf))
		}
		got := sim.Report()

		type count struct{ events, bytesBefore int64 }
		want := map[int]*count{}
		ids := map[int]map[string]bool{}
		for _, line := range strings.SplitAfter(full.String(), "\n") {
			if line == "" {
				continue
			}
			var ev auditv1.Event
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			rule := 0
			attrs := oracleAttributes(&ev)
			for i, probe := range p.probes {
				if probe.EvaluatePolicyRule(attrs).Level != "None" {
					rule = i + 1
					break
				}
			}
			if want[rule] == nil {
				want[rule], ids[rule] = &count{}, map[string]bool{}
			}
			want[rule].events++
			want[rule].bytesBefore += int64(len(line))
			ids[rule][string(ev.AuditID)] = true
		}
		for _, r := range got.Rules {
			w := want[r.Rule]
			if w == nil {
				w = &count{}
			}
			if r.Events != w.events || r.BytesBefore != w.bytesBefore || r.Requests != int64(len(ids[r.Rule])) {
				t.Errorf("%s rule %d: %d events, %d bytes, %d requests; independently %d, %d, %d",
					name, r.Rule, r.Events, r.BytesBefore, r.Requests, w.events, w.bytesBefore, len(ids[r.Rule]))
			}
		}
		if got.Total.Events != got.Total.Kept+got.Total.Trimmed+got.Total.Dropped || got.Total.BytesAfter > got.Total.BytesBefore {
			t.Errorf("%s: totals do not add up: %+v", name, got.Total)
		}
	}
}

// oracleAttributes builds attributes from an upstream Event: objectRef as
// written, except the name of a create, which the URI lacks.
func oracleAttributes(ev *auditv1.Event) authorizer.Attributes {
	attrs := authorizer.AttributesRecord{
		User: &user.DefaultInfo{Name: ev.User.Username, UID: ev.User.UID, Groups: ev.User.Groups},
		Verb: ev.Verb,
	}
	u, _ := url.Parse(ev.RequestURI)
	attrs.Path = u.Path
	if ref := ev.ObjectRef; ref != nil {
		attrs.ResourceRequest = true
		attrs.Namespace, attrs.Name = ref.Namespace, ref.Name
		attrs.APIGroup, attrs.APIVersion, attrs.Resource, attrs.Subresource = ref.APIGroup, ref.APIVersion, ref.Resource, ref.Subresource
		if ev.Verb == "create" && ref.Subresource == "" {
			attrs.Name = "" // posted to the collection: named only by the object, after the policy was evaluated
		}
	}
	return attrs
}

// TestLintPolicy: each warning of the setup guides is raised on a policy
// that earns it, at the rule that earns it, and a careful policy earns none.
func TestLintPolicy(t *testing.T) {
	const bad = `apiVersion: audit.k8s.io/v1beta1
kind: Policy
rules:
- level: RequestResponse
  resources: [{group: "", resources: ["secrets"]}]
- level: Metadata
  resources: [{group: core, resources: ["pods"]}, {group: app, resources: ["deployments"]}, {group: "", resources: ["secret", "pods/log", "crontabs"]}]
  verbs: ["gets", "list"]
- level: Request
- level: Metadata
  users: ["alice"]
`
	p, err := Load("bad.yaml", []byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range p.Lint() {
		got = append(got, fmt.Sprintf("%d %s %s", f.Rule, f.Severity, f.Message))
	}
	for _, want := range []string{
		"0 warning apiVersion audit.k8s.io/v1beta1 is refused",
		"1 error logs secrets at RequestResponse",
		"3 error logs configmaps at Request (create",
		"3 error logs tokenreviews at Request (create",
		"0 warning RequestReceived is not omitted (rules 1, 2, 3, 4)",
		"4 warning the last rule is not a catch-all",
		"4 error comes after the catch-all rule 3 and can never match",
		`2 error verb "gets" is not a request verb`,
		`did you mean "get"?`,
		`2 error group "core": the core group is written ""`,
		`2 error group "app" is not a Kubernetes API group; did you mean "apps"?`,
		`2 error resource "secret" is not in group ""; did you mean "secrets"?`,
	} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, want) }) {
			t.Errorf("no finding %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}

	const careful = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:kube-proxy"]
  verbs: ["watch"]
  resources: [{group: "", resources: ["endpoints", "services"]}]
- level: Metadata
  resources: [{group: "", resources: ["secrets", "configmaps", "serviceaccounts/token"]}, {group: authentication.k8s.io, resources: ["tokenreviews"]}]
- level: RequestResponse
  resources: [{group: rbac.authorization.k8s.io}, {group: apps, resources: ["deployments"]}]
  verbs: ["create", "update", "patch", "delete"]
- level: Metadata
`
	p, err = Load("careful.yaml", []byte(careful))
	if err != nil {
		t.Fatal(err)
	}
	if f := p.Lint(); len(f) != 0 {
		t.Errorf("careful policy: %+v", f)
	}
}

// BenchmarkApplyPolicy: evaluating and rewriting one event of a
// RequestResponse log under the example policy (testdata/policy).
func BenchmarkApplyPolicy(b *testing.B) {
	var full bytes.Buffer
	if _, err := fixture.Write(&full, fixture.Config{Seed: 9, Requests: 3000, ManagedFields: true, Policy: logEverything}); err != nil {
		b.Fatal(err)
	}
	text, err := os.ReadFile(audittest.Testdata("policy", "audit-policy.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := Load("audit-policy.yaml", text)
	if err != nil {
		b.Fatal(err)
	}
	var evs []*auditlog.Event
	rd, _ := auditlog.NewReader(bytes.NewReader(full.Bytes()))
	for ev, err := range rd.All() {
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, ev.Clone())
	}
	b.SetBytes(int64(full.Len()))
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		for _, ev := range evs {
			dst, _ = p.Apply(ev, dst[:0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// TestEventsWithoutLevel: an event that records no level (a GKE entry, a
// legacy line) is not "under-logged" and keeps its bodies under any policy;
// omitManagedFields still applies to them.
func TestEventsWithoutLevel(t *testing.T) {
	p, err := Load("p.yaml", []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitManagedFields: true\nrules:\n- level: Metadata\n"))
	if err != nil {
		t.Fatal(err)
	}
	in := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","verb":"create","objectRef":{"resource":"pods","namespace":"n","apiVersion":"v1"},` +
		`"requestObject":{"kind":"Pod","metadata":{"name":"x","managedFields":[{"manager":"kubectl"}]}},"stageTimestamp":"2024-01-01T01:00:00.000000Z"}`
	rd, _ := auditlog.NewReader(strings.NewReader(in))
	ev, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	out, o := p.Apply(ev, nil)
	want := strings.Replace(in, `,"managedFields":[{"manager":"kubectl"}]`, "", 1)
	if !o.NoLevel || o.Underlogged || o.Fate != Trimmed || string(out) != want {
		t.Errorf("outcome %+v, wrote\n%s\nwant\n%s", o, out, want)
	}
	sim := NewSimulation(p)
	sim.Add(ev, o, len(out))
	if r := sim.Report(); r.Total.NoLevel != 1 || r.Total.Underlogged != 0 {
		t.Errorf("totals %+v", r.Total)
	}
}
