package upstreamtest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"

	"github.com/auditq/auditq/rbac"
)

// TestDefaultBindingsAreTheBootstrapPolicys: the default bindings auditq
// leaves out of generated RBAC are the bootstrap policy's, rules and
// subjects, as kube-apiserver creates them.
func TestDefaultBindingsAreTheBootstrapPolicys(t *testing.T) {
	set := rbac.DefaultSet()
	wantRoles := map[string][]rbacv1.PolicyRule{}
	for _, cr := range bootstrappolicy.ClusterRoles() {
		wantRoles[cr.Name] = cr.Rules
	}
	wantBindings := map[string]rbacv1.ClusterRoleBinding{}
	for _, b := range bootstrappolicy.ClusterRoleBindings() {
		wantBindings[b.Name] = b
	}
	if len(set.ClusterRoleBindings()) != len(rbac.DefaultBindings) {
		t.Fatalf("%d bindings, want %d", len(set.ClusterRoleBindings()), len(rbac.DefaultBindings))
	}
	for _, name := range rbac.DefaultBindings {
		want, ok := wantBindings[name]
		if !ok {
			t.Fatalf("%s is not a binding of the bootstrap policy", name)
		}
		var got *rbacv1.ClusterRoleBinding
		for _, b := range set.ClusterRoleBindings() {
			if b.Name == name {
				got = b
			}
		}
		if got == nil {
			t.Fatalf("%s missing", name)
		}
		if d := cmp.Diff(want.Subjects, got.Subjects); d != "" || want.RoleRef != got.RoleRef {
			t.Errorf("%s: subjects or roleRef differ (-bootstrap +ours):\n%s", name, d)
		}
		for _, cr := range set.ClusterRoles() {
			if cr.Name == want.RoleRef.Name {
				if d := cmp.Diff(wantRoles[cr.Name], cr.Rules); d != "" {
					t.Errorf("ClusterRole %s differs (-bootstrap +ours):\n%s", cr.Name, d)
				}
			}
		}
	}
}
