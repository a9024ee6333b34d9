package upstreamtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/authorization/union"
	"k8s.io/kubernetes/pkg/registry/rbac/validation"
	upstreamrbac "k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"

	"github.com/auditq/auditq/rbac"
)

// Small vocabularies, so that random rules and requests meet often, with
// every kind of wildcard and edge: "*", "*/sub", an empty group, names on
// and off, URL prefixes, ServiceAccounts with and without a namespace.
var (
	verbs      = []string{"get", "list", "watch", "create", "update", "delete", "impersonate", "*"}
	groups     = []string{"", "apps", "rbac.authorization.k8s.io", "*"}
	resources  = []string{"pods", "pods/log", "pods/exec", "secrets", "deployments", "deployments/scale", "*", "*/log", "*/scale", "*/status", "pods/*"}
	names      = []string{"a", "b", "kube-dns", ""}
	urls       = []string{"/healthz", "/healthz/*", "/api", "/api*", "/apis/*", "*", "/metrics", "/version/", "/ver**"}
	namespaces = []string{"", "ns1", "ns2"}
	users      = []string{"alice", "bob", "system:serviceaccount::sa", "system:serviceaccount:ns1:sa", "system:serviceaccount:ns2:sa", "system:serviceaccount:ns1:other"}
	userGroups = []string{"dev", "ops", "system:authenticated", "system:serviceaccounts", "system:masters"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// some picks up to max of xs, at least one three times in four.
func some(r *rand.Rand, xs []string, max int) []string {
	n := 1 + r.IntN(max)
	if r.IntN(4) == 0 {
		n = 0
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, pick(r, xs))
	}
	return out
}

func randomRule(r *rand.Rand) rbacv1.PolicyRule {
	if r.IntN(4) == 0 {
		return rbacv1.PolicyRule{Verbs: some(r, verbs, 2), NonResourceURLs: some(r, urls, 2)}
	}
	rule := rbacv1.PolicyRule{Verbs: some(r, verbs, 3), APIGroups: some(r, groups, 2), Resources: some(r, resources, 3)}
	// Wildcards often, or nearly every request would be refused.
	for _, f := range []*[]string{&rule.Verbs, &rule.APIGroups, &rule.Resources} {
		if r.IntN(5) < 2 {
			*f = append(*f, "*")
		}
	}
	if r.IntN(3) == 0 {
		for _, n := range some(r, names, 2) {
			if n != "" {
				rule.ResourceNames = append(rule.ResourceNames, n)
			}
		}
	}
	return rule
}

func randomSubjects(r *rand.Rand) []rbacv1.Subject {
	var out []rbacv1.Subject
	for range 1 + r.IntN(2) {
		switch r.IntN(3) {
		case 0:
			out = append(out, rbacv1.Subject{Kind: rbacv1.UserKind, Name: pick(r, users)})
		case 1:
			out = append(out, rbacv1.Subject{Kind: rbacv1.GroupKind, Name: pick(r, userGroups)})
		default:
			out = append(out, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: pick(r, []string{"sa", "other"}), Namespace: pick(r, namespaces)})
		}
	}
	return out
}

type world struct {
	roles []*rbacv1.Role
	crs   []*rbacv1.ClusterRole
	rbs   []*rbacv1.RoleBinding
	crbs  []*rbacv1.ClusterRoleBinding
}

func randomWorld(r *rand.Rand) world {
	var w world
	rules := func() []rbacv1.PolicyRule {
		var rs []rbacv1.PolicyRule
		for range 1 + r.IntN(4) {
			rs = append(rs, randomRule(r))
		}
		return rs
	}
	for i := range 3 {
		w.crs = append(w.crs, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cr%d", i)}, Rules: rules()})
	}
	for _, ns := range namespaces[1:] {
		for i := range 2 {
			w.roles = append(w.roles, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("r%d", i)}, Rules: rules()})
		}
	}
	// Role references include missing roles and an unsupported kind.
	ref := func(namespaced bool) rbacv1.RoleRef {
		kind := "ClusterRole"
		if namespaced && r.IntN(2) == 0 {
			kind = "Role"
		}
		if r.IntN(15) == 0 {
			kind = "Group"
		}
		name := fmt.Sprintf("cr%d", r.IntN(4)) // cr3 does not exist
		if kind == "Role" {
			name = fmt.Sprintf("r%d", r.IntN(3)) // r2 does not exist
		}
		return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: name}
	}
	for i := range 1 + r.IntN(3) {
		w.crbs = append(w.crbs, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("crb%d", i)}, Subjects: randomSubjects(r), RoleRef: ref(false)})
	}
	for i := range 1 + r.IntN(5) {
		ns := pick(r, namespaces[1:])
		w.rbs = append(w.rbs, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("rb%d", i)}, Subjects: randomSubjects(r), RoleRef: ref(true)})
	}
	return w
}

func randomRequest(r *rand.Rand) authorizer.AttributesRecord {
	u := &user.DefaultInfo{Name: pick(r, users), Groups: some(r, userGroups, 2)}
	if r.IntN(4) == 0 {
		return authorizer.AttributesRecord{User: u, Verb: pick(r, verbs[:7]), Path: pick(r, []string{"/healthz", "/healthz/etcd", "/api", "/apis/apps", "/metrics", "/version", "/version/", "/"})}
	}
	res := pick(r, []string{"pods", "secrets", "deployments", "configmaps"})
	sub := pick(r, []string{"", "", "log", "exec", "scale", "status"})
	return authorizer.AttributesRecord{
		User: u, Verb: pick(r, verbs[:7]), ResourceRequest: true,
		APIGroup: pick(r, groups[:3]), Resource: res, Subresource: sub,
		Namespace: pick(r, namespaces), Name: pick(r, names),
	}
}

// agree checks one world against every request, by RBAC alone (decision and
// reason, word for word) and behind the privileged group (decision).
func agree(t *testing.T, w world, reqs []authorizer.AttributesRecord) (allowed int) {
	t.Helper()
	_, static := validation.NewTestRuleResolver(w.roles, w.rbs, w.crs, w.crbs)
	up := upstreamrbac.New(static, static, static, static)
	chain, err := union.New(
		union.NamedAuthorizer{AuthorizerName: "privileged", Authorizer: authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)},
		union.NamedAuthorizer{AuthorizerName: "RBAC", Authorizer: up},
	)
	if err != nil {
		t.Fatal(err)
	}
	set, err := rbac.NewSet(w.roles, w.crs, w.rbs, w.crbs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, a := range reqs {
		dec, reason, _ := up.Authorize(ctx, a)
		got := set.AuthorizeRBAC(a)
		if got.Allowed != (dec == authorizer.DecisionAllow) || got.Reason != reason {
			t.Fatalf("RBAC on %+v (user %+v):\n upstream %v %q\n auditq   %v %q\nworld: %s", a, a.User, dec, reason, got.Allowed, got.Reason, describe(w))
		}
		cdec, _, _ := chain.Authorize(ctx, a)
		if c := set.Authorize(a); c.Allowed != (cdec == authorizer.DecisionAllow) {
			t.Fatalf("privileged+RBAC on %+v (user %+v): upstream %v, auditq %v", a, a.User, cdec, c.Allowed)
		}
		if got.Allowed {
			allowed++
			if rule := ruleOf(set, got); !rbac.RuleAllows(a, rule) {
				t.Fatalf("the rule named by the decision does not allow the request")
			}
		}
	}
	return allowed
}

func ruleOf(s *rbac.Set, d rbac.Decision) *rbacv1.PolicyRule {
	if d.Binding.RoleRef.Kind == "Role" {
		for _, r := range s.Roles() {
			if r.Namespace == d.Binding.Namespace && r.Name == d.Binding.RoleRef.Name {
				return &r.Rules[d.Rule]
			}
		}
	}
	for _, r := range s.ClusterRoles() {
		if r.Name == d.Binding.RoleRef.Name {
			return &r.Rules[d.Rule]
		}
	}
	return nil
}

func describe(w world) string {
	s := ""
	for _, r := range w.crs {
		s += fmt.Sprintf("\n ClusterRole %s %+v", r.Name, r.Rules)
	}
	for _, r := range w.roles {
		s += fmt.Sprintf("\n Role %s/%s %+v", r.Namespace, r.Name, r.Rules)
	}
	for _, b := range w.crbs {
		s += fmt.Sprintf("\n CRB %s %+v -> %+v", b.Name, b.Subjects, b.RoleRef)
	}
	for _, b := range w.rbs {
		s += fmt.Sprintf("\n RB %s/%s %+v -> %+v", b.Namespace, b.Name, b.Subjects, b.RoleRef)
	}
	return s
}

// TestMatcherAgreesWithUpstream: 3,000 random worlds × 200 random requests.
func TestMatcherAgreesWithUpstream(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	total, allowed := 0, 0
	for range 3000 {
		w := randomWorld(r)
		reqs := make([]authorizer.AttributesRecord, 200)
		for i := range reqs {
			reqs[i] = randomRequest(r)
		}
		allowed += agree(t, w, reqs)
		total += len(reqs)
	}
	// Both outcomes must be well represented for the agreement to mean anything.
	if allowed < total/20 || allowed > total*19/20 {
		t.Fatalf("%d of %d requests allowed: the generator is lopsided", allowed, total)
	}
	t.Logf("%d requests, %d allowed by RBAC, all decided as upstream decides", total, allowed)
}

// FuzzMatcherAgreesWithUpstream lets the fuzzer choose the random worlds.
func FuzzMatcherAgreesWithUpstream(f *testing.F) {
	for i := range uint64(8) {
		f.Add(i, i*31+7)
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		r := rand.New(rand.NewPCG(a, b))
		w := randomWorld(r)
		reqs := make([]authorizer.AttributesRecord, 50)
		for i := range reqs {
			reqs[i] = randomRequest(r)
		}
		agree(t, w, reqs)
	})
}
