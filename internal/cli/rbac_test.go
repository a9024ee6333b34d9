package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/auditq/auditq/internal/audittest"
	"github.com/auditq/auditq/internal/fixture"
)

// runAll runs auditq and returns its exit status, stdout and stderr.
func runAll(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runEnv(args, &env{stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

// writeCrafted writes requests with kube-apiserver's audit code to a file.
func writeCrafted(t *testing.T, name string, reqs []fixture.Request) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := fixture.WriteRequests(&buf, time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), 3, "", reqs); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rbacObjects decodes YAML documents strictly as rbac.authorization.k8s.io/v1
// objects (unknown or duplicate fields fail) and counts them by kind.
func rbacObjects(t *testing.T, y string) map[string]int {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := rbacv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	kinds := map[string]int{}
	docs := utilyaml.NewYAMLReader(bufioOf(y))
	for {
		doc, err := docs.Read()
		if err != nil {
			break
		}
		if !bytes.Contains(doc, []byte("kind:")) {
			continue // a document of comments only
		}
		_, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		kinds[gvk.Kind]++
	}
	return kinds
}

// TestRBACRoundTrip on the real set: generate for every subject (defaults
// included), then check the log against what was generated: nothing is
// denied (exit 0); and checked against nothing but one Role, the requests
// are denied (exit 1).
func TestRBACRoundTrip(t *testing.T) {
	dir := audittest.Shared(t, "kube-apiserver", "gce-like")
	code, out, stderr := runAll(t, "rbac", "generate", "--include-defaults", dir)
	if code != 0 {
		t.Fatalf("generate: exit %d\n%s", code, stderr)
	}
	kinds := rbacObjects(t, out)
	if kinds["Role"] < 50 || kinds["RoleBinding"] != kinds["Role"] || kinds["ClusterRole"] != kinds["ClusterRoleBinding"] {
		t.Fatalf("objects %v", kinds)
	}
	generated := filepath.Join(t.TempDir(), "generated.yaml")
	if err := os.WriteFile(generated, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runAll(t, "rbac", "check", "--rbac", generated, "-o", "json", dir)
	if code != 0 {
		t.Fatalf("check against what generate wrote: exit %d\n%.2000s\n%s", code, out, stderr)
	}
	var rep struct {
		Checked    int
		Denied     []json.RawMessage
		NowAllowed []json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	// Forbidden requests stay forbidden: nothing generated allows them.
	if rep.Checked < 1000 || len(rep.Denied) != 0 || len(rep.NowAllowed) != 0 {
		t.Fatalf("checked %d, denied %d, now allowed %d", rep.Checked, len(rep.Denied), len(rep.NowAllowed))
	}
	one := filepath.Join(t.TempDir(), "one.yaml")
	os.WriteFile(one, []byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: gce-like-0150}\nrules: []\n"), 0o600)
	code, out, _ = runAll(t, "rbac", "check", "--rbac", one, dir)
	if code != 1 || !strings.Contains(out, "WOULD BE DENIED") {
		t.Fatalf("check against one empty Role: exit %d\n%.500s", code, out)
	}
}

// TestRBACHostileNames: names from the log reach the terminal escaped, the
// YAML quoted, and comments on one line.
func TestRBACHostileNames(t *testing.T) {
	evil := "x\x1b]52;c;cHduZWQ=\x07\x1b[2J\nkind: ClusterRoleBinding #\u202e"
	u := fixture.HumanUser("mallory" + evil)
	log := writeCrafted(t, "audit.log", []fixture.Request{
		{Path: "/api/v1/namespaces/ns1/configmaps/c", Verb: "get", Resource: "configmaps", Namespace: "ns1", Name: "c" + evil, User: u,
			Annotations: map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC: allowed by RoleBinding \"b/ns1\" of Role \"r\" to User \"m" + evil + "\""}},
		{Path: "/api/v1/namespaces/ns1/secrets/s", Verb: "get", Resource: "secrets", Namespace: "ns1", Name: "s" + evil, User: u, Code: 403,
			Annotations: map[string]string{"authorization.k8s.io/decision": "forbid", "authorization.k8s.io/reason": ""}},
	})
	code, out, stderr := runAll(t, "rbac", "generate", log)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, bad := range []string{"\x1b", "\x07", "\nkind: ClusterRoleBinding #"} {
		if strings.Contains(out, bad) {
			t.Errorf("generate wrote %q raw:\n%s", bad, out)
		}
	}
	// A bidirectional control is kept only inside a value, where the RBAC
	// needs it exact, and quoted; never in a comment or a generated name.
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "\u202e"); i >= 0 && (!strings.Contains(line[:i], `"`) || strings.HasPrefix(strings.TrimSpace(line), "#") || strings.Contains(line, "auditq:user:")) {
			t.Errorf("a bidirectional control outside a quoted value: %q", line)
		}
	}
	if kinds := rbacObjects(t, out); kinds["Role"] != 1 || kinds["RoleBinding"] != 1 || len(kinds) != 2 {
		t.Errorf("objects %v", kinds)
	}
	dump := filepath.Join(t.TempDir(), "none.yaml")
	os.WriteFile(dump, []byte("apiVersion: v1\nkind: List\nitems: []\n"), 0o600)
	code, out, _ = runAll(t, "rbac", "check", "--rbac", dump, log)
	if code != 1 || strings.ContainsAny(out, "\x1b\x07\u202e") {
		t.Errorf("check: exit %d, raw controls in:\n%q", code, out)
	}
}

// TestRBACDamagedInput: a truncated last line (a live log being written)
// and a bad line in the middle are reported with their positions, the
// events around them still count, and the exit status is 5; it ends.
func TestRBACDamagedInput(t *testing.T) {
	log := writeCrafted(t, "audit.log", []fixture.Request{
		{Path: "/api/v1/namespaces/ns1/pods", Verb: "list", Resource: "pods", Namespace: "ns1", User: fixture.HumanUser("bob"),
			Annotations: map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": `RBAC: allowed by RoleBinding "b/ns1" of Role "r" to User "bob"`}},
		{Path: "/api/v1/namespaces/ns1/services", Verb: "list", Resource: "services", Namespace: "ns1", User: fixture.HumanUser("bob"),
			Annotations: map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": `RBAC: allowed by RoleBinding "b/ns1" of Role "r" to User "bob"`}},
	})
	data, _ := os.ReadFile(log)
	lines := strings.SplitAfter(string(data), "\n")
	damaged := lines[0] + "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":7}\n" + strings.Join(lines[1:], "")
	damaged = damaged[:len(damaged)-40] // the last line cut short
	os.WriteFile(log, []byte(damaged), 0o600)
	code, out, stderr := runAll(t, "rbac", "generate", log)
	if code != 5 {
		t.Fatalf("exit %d, want 5\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "audit.log:2:") || !strings.Contains(out, "- pods") {
		t.Errorf("stderr:\n%s\nstdout:\n%s", stderr, out)
	}
}

func bufioOf(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// TestRBACJSON: -o json of the three commands, for machines: requests with
// their groups as a list, counts, why each was left out, the problems.
func TestRBACJSON(t *testing.T) {
	allow := map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": `RBAC: allowed by RoleBinding "b/ns1" of Role "r" to User "bob"`}
	log := writeCrafted(t, "audit.log", []fixture.Request{
		{Path: "/api/v1/namespaces/ns1/pods", Verb: "list", Resource: "pods", Namespace: "ns1", User: fixture.HumanUser("bob", "dev"), Annotations: allow},
		{Path: "/api/v1/namespaces/ns1/secrets", Verb: "list", Resource: "secrets", Namespace: "ns1", User: fixture.HumanUser("bob", "dev"), Code: 403,
			Annotations: map[string]string{"authorization.k8s.io/decision": "forbid", "authorization.k8s.io/reason": ""}},
	})
	code, out, stderr := runAll(t, "rbac", "generate", "-o", "json", log)
	var plan struct {
		Subjects []struct {
			Subject struct{ Kind, Name string }
			Roles   []struct {
				Namespace string
				Rules     []struct {
					Rule     struct{ Verbs, Resources []string }
					Requests int
				}
			}
			LeftOut []struct {
				User, Verb, Resource, Why string
				Groups                    []string
				Requests                  int
			}
		}
		Problems *int
	}
	if err := json.Unmarshal([]byte(out), &plan); code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out, stderr)
	}
	if len(plan.Subjects) != 1 || plan.Problems == nil || *plan.Problems != 0 {
		t.Fatalf("%s", out)
	}
	sp := plan.Subjects[0]
	if sp.Subject.Kind != "User" || sp.Subject.Name != "bob" || len(sp.Roles) != 1 || sp.Roles[0].Rules[0].Requests != 1 ||
		strings.Join(sp.Roles[0].Rules[0].Rule.Resources, ",") != "pods" {
		t.Errorf("plan: %s", out)
	}
	if len(sp.LeftOut) != 1 || sp.LeftOut[0].Resource != "secrets" || !strings.HasPrefix(sp.LeftOut[0].Why, "refused: forbidden") ||
		strings.Join(sp.LeftOut[0].Groups, ",") != "dev,system:authenticated" || sp.LeftOut[0].Requests != 1 {
		t.Errorf("left out: %+v", sp.LeftOut)
	}
	dump := filepath.Join(t.TempDir(), "none.yaml")
	os.WriteFile(dump, []byte("apiVersion: v1\nkind: List\nitems: []\n"), 0o600)
	for _, cmd := range []string{"check", "unused"} {
		code, out, _ := runAll(t, "rbac", cmd, "--rbac", dump, "-o", "json", log)
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil || m["problems"] == nil || code != map[string]int{"check": 1, "unused": 0}[cmd] {
			t.Errorf("%s: exit %d, %v\n%s", cmd, code, err, out)
		}
	}
}

// TestRBACOutDir: one file per subject, named from the subject with
// nothing that climbs out of the directory, each file strict RBAC YAML.
func TestRBACOutDir(t *testing.T) {
	allow := map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "x" to Group "dev"`}
	log := writeCrafted(t, "audit.log", []fixture.Request{
		{Path: "/api/v1/namespaces/ns1/pods", Verb: "list", Resource: "pods", Namespace: "ns1", User: fixture.HumanUser("../../escape", "dev"), Annotations: allow},
		{Path: "/api/v1/namespaces/ns1/pods", Verb: "list", Resource: "pods", Namespace: "ns1", User: fixture.ServiceAccountUser("ns1", "web"), Annotations: allow},
	})
	out := filepath.Join(t.TempDir(), "rbac")
	code, stdout, stderr := runAll(t, "rbac", "generate", "--out-dir", out, log)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	entries, err := os.ReadDir(out)
	if err != nil || len(entries) != 2 {
		t.Fatalf("%v %v", entries, err)
	}
	for _, ent := range entries {
		if strings.Contains(ent.Name(), "/") || !strings.HasSuffix(ent.Name(), ".yaml") {
			t.Errorf("file %q", ent.Name())
		}
		data, _ := os.ReadFile(filepath.Join(out, ent.Name()))
		if kinds := rbacObjects(t, string(data)); kinds["Role"] != 1 || kinds["RoleBinding"] != 1 {
			t.Errorf("%s: %v", ent.Name(), kinds)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "sa_ns1_web.yaml")); err != nil {
		t.Error(err)
	}
}

// TestRBACNoSubject: a subject with no request is named, with exit 4, and
// no YAML is written.
func TestRBACNoSubject(t *testing.T) {
	log := writeCrafted(t, "audit.log", []fixture.Request{
		{Path: "/api/v1/namespaces/ns1/pods", Verb: "list", Resource: "pods", Namespace: "ns1", User: fixture.HumanUser("bob"),
			Annotations: map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": `RBAC: allowed by RoleBinding "b/ns1" of Role "r" to User "bob"`}},
	})
	code, out, stderr := runAll(t, "rbac", "generate", "--sa", "nobody:none", log)
	if code != 4 || out != "" || !strings.Contains(stderr, "no request of the selected subjects: 2 events read, 1 of them with a response") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// TestRBACDumpWarnings: a dump and a log cannot share standard input; a
// namespaced object without a namespace is pointed out.
func TestRBACDumpWarnings(t *testing.T) {
	log := writeCrafted(t, "audit.log", []fixture.Request{
		{Path: "/api/v1/namespaces/ns1/pods", Verb: "list", Resource: "pods", Namespace: "ns1", User: fixture.HumanUser("bob"),
			Annotations: map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": `RBAC: allowed by RoleBinding "b/ns1" of Role "r" to User "bob"`}},
	})
	if code, _, stderr := runAll(t, "rbac", "check", "--rbac", "-"); code != 2 || !strings.Contains(stderr, "cannot both be standard input") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	dump := filepath.Join(t.TempDir(), "manifest.yaml")
	os.WriteFile(dump, []byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules: [{apiGroups: [\"\"], resources: [pods], verbs: [list]}]\n"), 0o600)
	code, out, stderr := runAll(t, "rbac", "check", "--rbac", dump, log)
	if code != 1 || !strings.Contains(stderr, "1 Roles and RoleBindings have no namespace") || !strings.Contains(out, "WOULD BE DENIED") {
		t.Errorf("exit %d\n%s\n%s", code, out, stderr)
	}
}

// TestRBACEventListGzip: the same requests as a gzipped webhook batch (an
// EventList) give the same RBAC as the log lines.
func TestRBACEventListGzip(t *testing.T) {
	dir := audittest.Shared(t, "kube-apiserver", "gce-like")
	var items []string
	for _, f := range audittest.RotationSet(t, filepath.Join(dir, "kube-apiserver-audit.log")) {
		items = append(items, strings.Split(strings.TrimSpace(string(audittest.ReadFile(t, f))), "\n")...)
	}
	list := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + strings.Join(items, ",") + "]}"
	batch := filepath.Join(t.TempDir(), "batch.json.gz")
	os.WriteFile(batch, audittest.Gzip([]byte(list)), 0o600)
	_, want, _ := runAll(t, "rbac", "generate", "--sa", "gce-like-01*:builder", dir)
	code, got, stderr := runAll(t, "rbac", "generate", "--sa", "gce-like-01*:builder", batch)
	if code != 0 || got != want || !strings.Contains(got, "kind: RoleBinding") {
		t.Fatalf("exit %d, same output %v\n%s", code, got == want, stderr)
	}
}
