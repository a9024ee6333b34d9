package upstreamtest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/kubernetes/pkg/registry/rbac/validation"
	upstreamrbac "k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/rbac"
)

// state is a cluster's RBAC as the log's writes change it.
type state struct {
	roles []*rbacv1.Role
	crs   []*rbacv1.ClusterRole
	rbs   []*rbacv1.RoleBinding
	crbs  []*rbacv1.ClusterRoleBinding
}

// bootstrap is the RBAC a new cluster starts with: kube-apiserver's
// bootstrap policy.
func bootstrap() *state {
	s := &state{}
	for _, cr := range bootstrappolicy.ClusterRoles() {
		s.crs = append(s.crs, cr.DeepCopy())
	}
	for _, b := range bootstrappolicy.ClusterRoleBindings() {
		s.crbs = append(s.crbs, b.DeepCopy())
	}
	for _, rs := range bootstrappolicy.NamespaceRoles() {
		for _, r := range rs {
			s.roles = append(s.roles, r.DeepCopy())
		}
	}
	for _, bs := range bootstrappolicy.NamespaceRoleBindings() {
		for _, b := range bs {
			s.rbs = append(s.rbs, b.DeepCopy())
		}
	}
	return s
}

// apply replays an RBAC write the log records with its bodies; it reports
// whether the event was one.
func (s *state) apply(t *testing.T, ev *auditlog.Event) bool {
	ref := ev.ObjectRef()
	if ref == nil || string(ref.APIGroup) != rbacv1.GroupName || string(ev.Stage()) != "ResponseComplete" || ev.Code() >= 300 {
		return false
	}
	ns, name := string(ref.Namespace), string(ref.Name)
	switch verb := string(ev.Verb()); verb {
	case "create", "update":
		body := ev.ResponseObject()
		if body == nil {
			body = ev.RequestObject()
		}
		if body == nil {
			t.Fatalf("line %d: an RBAC %s without a body: the test needs RequestResponse", ev.Pos().Line, verb)
		}
		switch string(ref.Resource) {
		case "roles":
			s.roles = put(t, s.roles, body)
		case "clusterroles":
			s.crs = put(t, s.crs, body)
		case "rolebindings":
			s.rbs = put(t, s.rbs, body)
		case "clusterrolebindings":
			s.crbs = put(t, s.crbs, body)
		default:
			return false
		}
	case "delete", "deletecollection":
		all := verb == "deletecollection"
		switch string(ref.Resource) {
		case "roles":
			s.roles = remove(s.roles, ns, name, all)
		case "clusterroles":
			s.crs = remove(s.crs, ns, name, all)
		case "rolebindings":
			s.rbs = remove(s.rbs, ns, name, all)
		case "clusterrolebindings":
			s.crbs = remove(s.crbs, ns, name, all)
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// put adds the object a write's body holds to list, in place of the one
// of its namespace and name.
func put[T any, P interface {
	*T
	metav1.Object
}](t *testing.T, list []P, body []byte) []P {
	p := P(new(T))
	mustUnmarshal(t, body, p)
	return append(remove(list, p.GetNamespace(), p.GetName(), false), p)
}

// remove drops the object ns/name from list, or every one in ns when all
// (a cluster-scoped object's namespace is "").
func remove[P metav1.Object](list []P, ns, name string, all bool) []P {
	return slices.DeleteFunc(list, func(x P) bool { return x.GetNamespace() == ns && (all || x.GetName() == name) })
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestDecisionsAsTheLogRecordsThem replays the real kube-apiserver set
// (../shared/kube-apiserver/gce-like): the RBAC starts as the bootstrap
// policy and changes with every RBAC write the log records; each request
// the log shows RBAC deciding is decided again, at its place in the log, by
// auditq's authorizer and by the upstream one over the same objects. Both
// must agree with each other everywhere, and with the log on every
// forbidden request and every allow whose binding the replayed state holds
// (the log's allows through bindings made before it began cannot be
// replayed), reason word for word.
func TestDecisionsAsTheLogRecordsThem(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "kube-apiserver", "gce-like")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s not present (../shared is optional)", dir)
	}
	st := bootstrap()
	var set *rbac.Set
	var up authorizer.Authorizer
	rebuild := func() {
		var err error
		if set, err = rbac.NewSet(st.roles, st.crs, st.rbs, st.crbs); err != nil {
			t.Fatal(err)
		}
		// The upstream resolver reads aggregated roles as stored: give it
		// the rules the aggregation controller would have filled in.
		_, static := validation.NewTestRuleResolver(st.roles, st.rbs, set.ClusterRoles(), st.crbs)
		up = upstreamrbac.New(static, static, static, static)
	}
	rebuild()
	var writes, allowedSame, allowedOutside, forbidden int
	ctx := context.Background()
	for r := range auditlog.ScanFiles[struct{}](ctx, []string{dir}, nil, auditlog.WithConcurrency(1)) {
		var skipped *auditlog.SkippedError
		if r.Err != nil {
			if errors.As(r.Err, &skipped) {
				continue
			}
			t.Fatal(r.Err)
		}
		ev := r.Event
		if string(ev.Stage()) != "ResponseComplete" {
			continue
		}
		req := rbac.RequestFor(ev)
		if req.Class == rbac.RBACAllowed || req.Class == rbac.Forbidden {
			a := req.Attributes()
			ours := set.AuthorizeRBAC(a)
			dec, reason, _ := up.Authorize(ctx, a)
			if ours.Allowed != (dec == authorizer.DecisionAllow) || ours.Reason != reason {
				t.Fatalf("line %d: auditq %v %q, upstream %v %q", ev.Pos().Line, ours.Allowed, ours.Reason, dec, reason)
			}
			logged, _ := ev.Annotation(rbac.ReasonAnnotation)
			switch {
			case req.Class == rbac.Forbidden:
				forbidden++
				if ours.Allowed {
					t.Errorf("line %d (auditID %s): the log shows it forbidden; replayed, %s", ev.Pos().Line, ev.AuditID(), ours.Reason)
				}
			case ours.Allowed:
				allowedSame++
				if ours.Reason != string(logged) {
					t.Errorf("line %d (auditID %s): logged %q, replayed %q", ev.Pos().Line, ev.AuditID(), logged, ours.Reason)
				}
			default:
				allowedOutside++
			}
		}
		if st.apply(t, ev) {
			writes++
			rebuild()
		}
	}
	t.Logf("%d RBAC writes replayed; %d RBAC allows decided as logged (reason word for word), %d through bindings older than the log; %d forbids", writes, allowedSame, allowedOutside, forbidden)
	if allowedSame < 400 || forbidden < 800 || writes < 200 {
		t.Fatalf("too little replayed to mean anything")
	}
}
