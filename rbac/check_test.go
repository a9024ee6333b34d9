package rbac

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/auditq/auditq/auditlog"
)

// crafted is an RBAC dump as kubectl get -o yaml writes it (a List), with an
// aggregated ClusterRole whose rules are not filled in yet, a
// ServiceAccount subject without a namespace in a ClusterRoleBinding (which
// never matches), a binding to a user never seen, and a ConfigMap.
const craftedDump = `apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: Role
  metadata: {name: bob, namespace: ns1}
  rules:
  - apiGroups: [""]
    resources: [pods]
    resourceNames: [a]
    verbs: [get]
  - apiGroups: [""]
    resources: [secrets]
    verbs: ["*"]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: bob, namespace: ns1}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: bob}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: aggregated}
  aggregationRule:
    clusterRoleSelectors: [{matchLabels: {example.com/aggregate: "true"}}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: metrics-reader, labels: {example.com/aggregate: "true"}}
  rules: [{nonResourceURLs: [/metrics], verbs: [get]}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: everything}
  rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: agg}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: aggregated}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: sa-no-namespace}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: everything}
  subjects: [{kind: ServiceAccount, name: deployer}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: carol}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics-reader}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}]
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings, namespace: ns1}
`

func craftedSet(t *testing.T) (*Set, *Dump) {
	t.Helper()
	var d Dump
	if err := d.Load("dump.yaml", strings.NewReader(craftedDump)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Skipped, []string{"ConfigMap ns1/settings"}) {
		t.Errorf("skipped %q", d.Skipped)
	}
	s, err := d.Set()
	if err != nil {
		t.Fatal(err)
	}
	return s, &d
}

func verdictKeys(vs []Verdict) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.User+" "+atomString(&v.Request)+" "+v.Namespace)
	}
	slices.Sort(out)
	return out
}

func TestCheckCrafted(t *testing.T) {
	set, _ := craftedSet(t)
	rep := Check(observe(t, nil, craftedLog(t)), set)
	want := []string{
		"alice list /pods ns2",
		"bob create /pods ns1", // admission-denied: RBAC had to allow it
		"bob create authorization.k8s.io/selfsubjectaccessreviews ",
		"bob get /namespaces ns1 ns1",
		"bob get /pods b ns1",
		"bob get apps/deployments web ns3", // no decision logged: checked too
		"bob impersonate /groups dev ",
		"bob impersonate /users alice ",
		"bob update /pods x ns1",
		"bob watch /configmaps ns1",
		"system:serviceaccount:ns1:deployer create /configmaps ns1", // no namespace on the subject: never matches
		"system:serviceaccount:ns1:deployer create /serviceaccounts/token builder ns1",
	}
	if got := verdictKeys(rep.Denied); !slices.Equal(got, want) {
		t.Errorf("denied:\n got %q\nwant %q", got, want)
	}
	if got := verdictKeys(rep.NowAllowed); !slices.Equal(got, []string{"bob get /secrets db ns1"}) {
		t.Errorf("now allowed: %q", got)
	}
	// Allowed: bob's /metrics (through the aggregated role), pods/a, the
	// secrets list by name. Not decided by RBAC: root, the node, the
	// webhook's, the refused impersonation, the 403 without a decision.
	if rep.Checked != len(want)+1+3 || rep.NotChecked != 5 {
		t.Errorf("checked %d, not checked %d", rep.Checked, rep.NotChecked)
	}
}

func TestUnusedCrafted(t *testing.T) {
	set, _ := craftedSet(t)
	obs := observe(t, nil, craftedLog(t))
	rep := Unused(obs, set, true)
	byName := map[string]BindingUsage{}
	for _, b := range rep.Bindings {
		byName[b.Name] = b
	}
	if len(rep.Bindings) != 4 {
		t.Fatalf("%d bindings reported, want 4", len(rep.Bindings))
	}
	bob := byName["bob"]
	if bob.Requests != 2 || len(bob.Rules) != 2 {
		t.Fatalf("bob: %+v", bob)
	}
	if r := bob.Rules[0]; r.Requests != 1 || !slices.Equal(r.Used, []string{"get /pods a"}) || len(r.UnusedAtoms) != 0 {
		t.Errorf("bob rule 1: %+v", r)
	}
	if r := bob.Rules[1]; !slices.Equal(r.Used, []string{"list /secrets tls"}) || !slices.Equal(r.Dangerous, []string{"every verb (*)", "reads secrets"}) {
		t.Errorf("bob rule 2: %+v", r)
	}
	if agg := byName["agg"]; agg.Requests != 1 || !slices.Equal(agg.Rules[0].Used, []string{"get /metrics"}) {
		t.Errorf("agg (aggregated rules): %+v", agg)
	}
	for _, name := range []string{"sa-no-namespace", "carol"} {
		b := byName[name]
		if b.Requests != 0 || len(b.SubjectsSeen) != 0 {
			t.Errorf("%s: %+v", name, b)
		}
	}
	if r := byName["sa-no-namespace"].Rules[0]; !slices.Contains(r.Dangerous, "every resource (*)") || !slices.Equal(r.UnusedAtoms, []string{"* */*"}) {
		t.Errorf("sa-no-namespace: %+v", r)
	}
	if r := byName["carol"].Rules[0]; !slices.Equal(r.UnusedAtoms, []string{"get /metrics"}) {
		t.Errorf("carol: %+v", r)
	}
	// By subject: two bindings apply to bob (his Role's and the aggregated
	// role's; not sa-no-namespace's or carol's), with his 3 requests.
	var bobUse *SubjectUsage
	for i := range rep.Subjects {
		if rep.Subjects[i].User == "bob" {
			bobUse = &rep.Subjects[i]
		}
	}
	if bobUse == nil || bobUse.Requests != 3 || len(bobUse.Bindings) != 2 || !slices.Contains(bobUse.Bindings[1].Sensitive, "reads secrets") {
		t.Errorf("bob by subject: %+v", bobUse)
	}
	// Selected subjects: only the bindings that apply to them.
	sel := Unused(observe(t, func(u *auditlog.UserInfo) bool { return string(u.Username) == "bob" }, craftedLog(t)), set, false)
	var names []string
	for _, b := range sel.Bindings {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, []string{"agg", "bob"}) {
		t.Errorf("bob's bindings: %q", names)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tt := range []struct {
		doc, want string
		document  int
	}{
		{"kind: Role\napiVersion: rbac.authorization.k8s.io/v1beta1\nmetadata: {name: r}\n", `apiVersion "rbac.authorization.k8s.io/v1beta1"`, 2},
		{"just text\n", "not a Kubernetes object", 2},
		{"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules: 7\n", `Role "r"`, 2},
		{"a: [unclosed\n", "", 2},
	} {
		var d Dump
		err := d.Load("x.yaml", strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"+tt.doc))
		var le *LoadError
		if !errors.As(err, &le) || le.Document != tt.document || le.Line != 5 || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "x.yaml: document 2 (line 5): ") {
			t.Errorf("%q: %v", tt.doc, err)
		}
	}
}

// TestGenerateOnlyWhatIsMissing: with the existing RBAC given, what it
// allows is left out, and the rest generated.
func TestGenerateOnlyWhatIsMissing(t *testing.T) {
	set, _ := craftedSet(t)
	obs := observe(t, nil, craftedLog(t))
	plan, err := Generate(obs, GenerateOptions{Existing: set})
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := plan.Set()
	var bobPlan *SubjectPlan
	for i := range plan.Subjects {
		if plan.Subjects[i].Subject.Name == "bob" {
			bobPlan = &plan.Subjects[i]
		}
	}
	if bobPlan == nil {
		t.Fatal("no plan for bob")
	}
	existing := map[string]bool{}
	for _, l := range bobPlan.LeftOut {
		if strings.HasPrefix(l.Why, "the existing RBAC allows it: ") {
			existing[atomString(&l.Request)] = true
		}
	}
	for _, a := range []string{"get /pods a", "list /secrets tls", "get /metrics"} {
		if !existing[a] {
			t.Errorf("%s: not left out as already allowed (%v)", a, existing)
		}
	}
	for _, o := range obs.All() {
		if !o.Class.NeedsRBAC() || isDefaultBinding(o.Binding) {
			continue
		}
		a := o.Attributes()
		if !set.Authorize(a).Allowed && !gen.AuthorizeRBAC(a).Allowed {
			t.Errorf("%s by %s: allowed neither by the existing RBAC nor by what was generated", describeRequest(&o.Request), o.User)
		}
		if set.Authorize(a).Allowed && gen.AuthorizeRBAC(a).Allowed {
			t.Errorf("%s by %s: generated though the existing RBAC allows it", describeRequest(&o.Request), o.User)
		}
	}
}
