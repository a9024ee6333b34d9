package rbac

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/fixture"
)

func allowRBAC(binding string) map[string]string {
	return map[string]string{DecisionAnnotation: "allow", ReasonAnnotation: "RBAC: allowed by " + binding}
}

func allowBy(reason string) map[string]string {
	return map[string]string{DecisionAnnotation: "allow", ReasonAnnotation: reason}
}

var forbid = map[string]string{DecisionAnnotation: "forbid", ReasonAnnotation: ""}

const bobBinding = `RoleBinding "bob/ns1" of Role "bob" to User "bob"`

var (
	bob   = fixture.HumanUser("bob", "dev")
	alice = fixture.HumanUser("alice", "dev")
	sa    = fixture.ServiceAccountUser("ns1", "deployer")
)

// craftedRequests are the cases audit2rbac gets wrong, and the classes,
// written by kube-apiserver's audit code.
func craftedRequests() []fixture.Request {
	return []fixture.Request{
		// A non-resource URL with a query: the rule takes the path.
		{Path: "/metrics", Query: url.Values{"x": {"1"}}, Verb: "get", NonResource: true, User: bob, Annotations: allowRBAC(`ClusterRoleBinding "metrics" of ClusterRole "metrics" to User "bob"`)},
		// A subresource create names its object; a collection create does not,
		// though objectRef gets the name from the body.
		{Method: "POST", Path: "/api/v1/namespaces/ns1/serviceaccounts/builder/token", Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: "ns1", Name: "builder", User: sa, Code: 201, Annotations: allowRBAC(`RoleBinding "d/ns1" of Role "d" to ServiceAccount "deployer/ns1"`)},
		{Method: "POST", Path: "/api/v1/namespaces/ns1/configmaps", Verb: "create", Resource: "configmaps", Namespace: "ns1", Name: "made-from-body", User: sa, Code: 201, Annotations: allowRBAC(`RoleBinding "d/ns1" of Role "d" to ServiceAccount "deployer/ns1"`)},
		// Names kept on get, two of them, and an update of a third: no name
		// is lost when rules are merged (audit2rbac's compaction gap).
		{Path: "/api/v1/namespaces/ns1/pods/a", Verb: "get", Resource: "pods", Namespace: "ns1", Name: "a", User: bob, Annotations: allowRBAC(bobBinding)},
		{Path: "/api/v1/namespaces/ns1/pods/b", Verb: "get", Resource: "pods", Namespace: "ns1", Name: "b", User: bob, Annotations: allowRBAC(bobBinding)},
		{Method: "PUT", Path: "/api/v1/namespaces/ns1/pods/x", Verb: "update", Resource: "pods", Namespace: "ns1", Name: "x", User: bob, Annotations: allowRBAC(bobBinding)},
		// A list with fieldSelector=metadata.name=X is authorized by name.
		{Path: "/api/v1/namespaces/ns1/secrets", Query: url.Values{"fieldSelector": {"metadata.name=tls"}}, Verb: "list", Resource: "secrets", Namespace: "ns1", Name: "tls", User: bob, Annotations: allowRBAC(bobBinding)},
		// A namespace is read in its own namespace.
		{Path: "/api/v1/namespaces/ns1", Verb: "get", Resource: "namespaces", Namespace: "ns1", Name: "ns1", User: bob, Annotations: allowRBAC(bobBinding)},
		// A watch writes ResponseStarted and ResponseComplete: one request.
		{Path: "/api/v1/namespaces/ns1/configmaps", Query: url.Values{"watch": {"true"}}, Verb: "watch", Resource: "configmaps", Namespace: "ns1", User: bob, LongRunning: time.Second, Annotations: allowRBAC(bobBinding)},
		// Refused by RBAC: left out, unless asked for.
		{Path: "/api/v1/namespaces/ns1/secrets/db", Verb: "get", Resource: "secrets", Namespace: "ns1", Name: "db", User: bob, Code: 403, Annotations: forbid},
		// Allowed by RBAC, then refused by admission: RBAC still had to allow it.
		{Method: "POST", Path: "/api/v1/namespaces/ns1/pods", Verb: "create", Resource: "pods", Namespace: "ns1", User: bob, Code: 403, Annotations: allowRBAC(bobBinding),
			Status: &metav1.Status{Status: "Failure", Reason: "Forbidden", Code: 403, Message: `pods "p" is forbidden: violates PodSecurity "restricted:latest"`}},
		// Impersonated: the request is alice's; bob needs impersonate on
		// alice and on her group dev (system:authenticated is added by the
		// server, not asked for).
		{Path: "/api/v1/namespaces/ns2/pods", Verb: "list", Resource: "pods", Namespace: "ns2", User: bob, Impersonate: alice, Annotations: allowRBAC(`RoleBinding "alice/ns2" of Role "view" to User "alice"`)},
		// A refused impersonation: no decision, a 403 naming it; alice may
		// not impersonate, and the secrets list is not hers to get.
		{Path: "/api/v1/namespaces/ns2/secrets", Verb: "list", Resource: "secrets", Namespace: "ns2", User: alice, Code: 403,
			Status: &metav1.Status{Status: "Failure", Reason: "Forbidden", Code: 403, Message: `users "admin" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`}},
		// Decided by others: system:masters, the Node authorizer, a webhook.
		{Path: "/api/v1/nodes", Verb: "list", Resource: "nodes", User: fixture.HumanUser("root", "system:masters"), Annotations: allowBy("")},
		{Path: "/api/v1/nodes/n1", Verb: "get", Resource: "nodes", Name: "n1", User: fixture.HumanUser("system:node:n1", "system:nodes"), Annotations: allowBy("")},
		{Path: "/api/v1/namespaces/ns1/configmaps", Verb: "list", Resource: "configmaps", Namespace: "ns1", User: bob, Annotations: allowBy("allowed by webhook")},
		// No decision recorded (an old policy, an export that drops
		// annotations): granted, and said so.
		{Path: "/apis/apps/v1/namespaces/ns3/deployments/web", Verb: "get", Group: "apps", Resource: "deployments", Namespace: "ns3", Name: "web", User: bob},
		// A 403 and no decision recorded: refused by someone, not granted.
		{Path: "/api/v1/namespaces/ns4/pods", Verb: "list", Resource: "pods", Namespace: "ns4", User: bob, Code: 403,
			Status: &metav1.Status{Status: "Failure", Reason: "Forbidden", Code: 403, Message: `pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "ns4"`}},
		// Unauthenticated: no subject.
		{Path: "/api/v1/pods", Verb: "list", Resource: "pods", Code: 401},
		// A default binding of every cluster allowed it.
		{Method: "POST", Path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", Verb: "create", Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews", User: bob, Code: 201,
			Annotations: allowRBAC(`ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" to Group "system:authenticated"`)},
	}
}

// craftedLog writes craftedRequests to a file.
func craftedLog(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := fixture.WriteRequests(&buf, time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), 1, "", craftedRequests()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func find(obs *Observations, match func(*Request) bool) []Observed {
	var out []Observed
	for _, o := range obs.All() {
		if match(&o.Request) {
			out = append(out, o)
		}
	}
	return out
}

func TestClassesAndAttributes(t *testing.T) {
	obs := observe(t, nil, craftedLog(t))
	for _, tt := range []struct {
		name  string
		match func(*Request) bool
		want  Class
		check func(*Observed) string
	}{
		{"query string dropped", func(r *Request) bool { return r.NonResource }, RBACAllowed, func(o *Observed) string { return cond(o.Path != "/metrics", "path "+o.Path) }},
		{"subresource create keeps its name", func(r *Request) bool { return r.Subresource == "token" }, RBACAllowed, func(o *Observed) string { return cond(o.Name != "builder", "name "+o.Name) }},
		{"collection create has no name", func(r *Request) bool { return r.Resource == "configmaps" && r.Verb == "create" }, RBACAllowed, func(o *Observed) string { return cond(o.Name != "", "name "+o.Name) }},
		{"list by field selector is named", func(r *Request) bool { return r.Resource == "secrets" && r.Verb == "list" && r.User == "bob" }, RBACAllowed, func(o *Observed) string { return cond(o.Name != "tls", "name "+o.Name) }},
		{"a namespace in itself", func(r *Request) bool { return r.Resource == "namespaces" }, RBACAllowed, func(o *Observed) string { return cond(o.Namespace != "ns1" || o.Name != "ns1", o.Namespace+"/"+o.Name) }},
		{"a watch is one request", func(r *Request) bool { return r.Verb == "watch" }, RBACAllowed, func(o *Observed) string {
			return cond(o.Requests() != 1 || o.Started != 1 || o.Completed != 1, "counts")
		}},
		{"forbidden", func(r *Request) bool { return r.Resource == "secrets" && r.Name == "db" }, Forbidden, nil},
		{"admission 403 after RBAC", func(r *Request) bool { return r.Resource == "pods" && r.Verb == "create" }, AdmissionDenied, func(o *Observed) string { return cond(o.Binding != bobBinding, o.Binding) }},
		{"impersonated: the target user's", func(r *Request) bool { return r.Resource == "pods" && r.Namespace == "ns2" }, RBACAllowed, func(o *Observed) string { return cond(o.User != "alice", o.User) }},
		{"impersonate users/alice", func(r *Request) bool { return r.Verb == "impersonate" && r.Resource == "users" }, ImpersonationAllowed, func(o *Observed) string {
			return cond(o.User != "bob" || o.Name != "alice", o.User+" "+o.Name)
		}},
		{"impersonate groups/dev", func(r *Request) bool { return r.Verb == "impersonate" && r.Resource == "groups" }, ImpersonationAllowed, func(o *Observed) string { return cond(o.Name != "dev", o.Name) }},
		{"refused impersonation", func(r *Request) bool { return r.Resource == "secrets" && r.Namespace == "ns2" }, ImpersonationDenied, func(o *Observed) string { return cond(o.User != "alice", o.User) }},
		{"system:masters", func(r *Request) bool { return r.User == "root" }, Privileged, nil},
		{"Node authorizer", func(r *Request) bool { return r.User == "system:node:n1" }, OtherAuthorizer, nil},
		{"webhook", func(r *Request) bool { return r.Resource == "configmaps" && r.Verb == "list" }, OtherAuthorizer, nil},
		{"no decision", func(r *Request) bool { return r.Resource == "deployments" }, Unknown, nil},
		{"403, no decision", func(r *Request) bool { return r.Namespace == "ns4" }, Refused, nil},
	} {
		got := find(obs, tt.match)
		if len(got) != 1 {
			t.Errorf("%s: %d requests match", tt.name, len(got))
			continue
		}
		if got[0].Class != tt.want {
			t.Errorf("%s: class %v, want %v", tt.name, got[0].Class, tt.want)
		}
		if tt.check != nil {
			if msg := tt.check(&got[0]); msg != "" {
				t.Errorf("%s: %s", tt.name, msg)
			}
		}
	}
	// The impersonation checks are bob's and made once, for the groups
	// asked for only; the 401 has no subject.
	if imp := find(obs, func(r *Request) bool { return r.Verb == "impersonate" }); len(imp) != 2 {
		t.Errorf("%d impersonation checks, want users/alice and groups/dev", len(imp))
	}
	if n := len(find(obs, func(r *Request) bool { return r.User == "" })); n != 0 {
		t.Errorf("%d requests without a user", n)
	}
}

func TestGenerateCrafted(t *testing.T) {
	obs := observe(t, nil, craftedLog(t))
	plan, err := Generate(obs, GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := plan.Set()
	if err != nil {
		t.Fatal(err)
	}
	allows := func(r Request) bool { return set.AuthorizeRBAC(r.Attributes()).Allowed }
	req := func(user, verb, res, sub, ns, name string) Request {
		return Request{User: user, Groups: joinGroups([]string{"dev", "system:authenticated"}), Verb: verb, Resource: res, Subresource: sub, Namespace: ns, Name: name}
	}
	ssar := Request{User: "bob", Verb: "create", APIGroup: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}
	for _, tt := range []struct {
		r    Request
		want bool
	}{
		{Request{User: "bob", Verb: "get", NonResource: true, Path: "/metrics"}, true},
		{req("bob", "get", "pods", "", "ns1", "a"), true},
		{req("bob", "get", "pods", "", "ns1", "b"), true},
		{req("bob", "get", "pods", "", "ns1", "c"), false},    // names kept
		{req("bob", "update", "pods", "", "ns1", "a"), false}, // and not mixed up
		{req("bob", "update", "pods", "", "ns1", "x"), true},
		{req("bob", "list", "secrets", "", "ns1", "tls"), true},
		{req("bob", "list", "secrets", "", "ns1", ""), false},
		{req("bob", "get", "secrets", "", "ns1", "db"), false}, // forbidden: left out
		{req("bob", "create", "pods", "", "ns1", ""), true},    // admission-denied: RBAC had to allow it
		{req("bob", "watch", "configmaps", "", "ns1", ""), true},
		{req("bob", "list", "configmaps", "", "ns1", ""), false}, // a webhook allowed it
		{req("bob", "get", "pods", "", "ns2", "a"), false},       // namespaces not widened
		{req("bob", "list", "pods", "", "ns4", ""), false},       // refused, no decision
		{req("alice", "list", "pods", "", "ns2", ""), true},
		{req("alice", "list", "secrets", "", "ns2", ""), false},
		{Request{User: "bob", Verb: "impersonate", Resource: "users", Name: "alice"}, true},
		{Request{User: "bob", Verb: "impersonate", Resource: "users", Name: "admin"}, false},
		{Request{User: "bob", Verb: "impersonate", Resource: "groups", Name: "dev"}, true},
		{Request{User: "bob", Verb: "impersonate", Resource: "groups", Name: "system:authenticated"}, false},
		{req("bob", "get", "deployments", "", "ns3", "web"), false}, // apps group, not core
		{Request{User: "bob", Verb: "get", APIGroup: "apps", Resource: "deployments", Namespace: "ns3", Name: "web"}, true},
		{ssar, false}, // a default binding's
		{req("system:serviceaccount:ns1:deployer", "create", "configmaps", "", "ns1", ""), true},
		{req("system:serviceaccount:ns1:deployer", "create", "serviceaccounts", "token", "ns1", "other"), true}, // no names on create
		{req("system:serviceaccount:ns1:deployer", "create", "serviceaccounts", "token", "ns2", "builder"), false},
	} {
		if got := allows(tt.r); got != tt.want {
			t.Errorf("%s by %s: allowed %v, want %v", describeRequest(&tt.r), tt.r.User, got, tt.want)
		}
	}
	for _, sp := range plan.Subjects {
		if sp.Subject.Name == "root" || sp.Subject.Name == "system:node:n1" {
			if len(sp.Roles) != 0 {
				t.Errorf("%s: granted %+v", sp.Subject.Name, sp.Roles)
			}
		}
	}
	// Tighter on request: names on subresource creates.
	tight, err := Generate(obs, GenerateOptions{CreateNames: true, WebSocketCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := tight.Set()
	if ts.AuthorizeRBAC(req("system:serviceaccount:ns1:deployer", "create", "serviceaccounts", "token", "ns1", "other").Attributes()).Allowed {
		t.Error("--create-names: token of another service account allowed")
	}
	// Wider on request: refusals, defaults, any name.
	wide, err := Generate(obs, GenerateOptions{IncludeForbidden: true, IncludeDefaults: true, AnyName: true})
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := wide.Set()
	for _, r := range []Request{req("bob", "get", "secrets", "", "ns1", "db"), req("bob", "get", "pods", "", "ns1", "c"),
		ssar, req("alice", "list", "secrets", "", "ns2", "")} {
		if !ws.AuthorizeRBAC(r.Attributes()).Allowed {
			t.Errorf("widened: %s by %s refused", describeRequest(&r), r.User)
		}
	}
	// The YAML: strict RBAC objects, the reasons in comments.
	var buf bytes.Buffer
	if err := plan.WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	decodeStrict(t, buf.Bytes())
	for _, want := range []string{"# User \"bob\":", "allowed by another authorizer", "refused: forbidden", "allowed for system:masters", "unknown", "impersonation-allowed"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the YAML does not say %q", want)
		}
	}
}

// TestObservationsMergeExactly: observations folded on workers, chunk by
// chunk, equal those read event by event, at every chunk size and worker
// count, on the crafted log and the real set.
func TestObservationsMergeExactly(t *testing.T) {
	inputs := map[string][]string{"crafted": {craftedLog(t)}}
	if dir, ok := sharedGCE(); ok {
		inputs["gce-like"] = []string{dir}
	}
	for name, paths := range inputs {
		want := observe(t, nil, paths...).All()
		for _, workers := range []int{1, 2, 5, 16} {
			for _, chunk := range []int{4 << 10, 64 << 10} {
				total := NewObservations(nil)
				start, fold := total.Folding()
				for r := range auditlog.ScanFolded(context.Background(), paths, nil, start, fold, auditlog.WithConcurrency(workers), auditlog.WithChunkSize(chunk)) {
					switch {
					case r.Err != nil:
						var skipped *auditlog.SkippedError
						if !errorsAs(r.Err, &skipped) {
							t.Fatal(r.Err)
						}
					case r.Event != nil:
						total.Add(r.Event)
					default:
						total.Merge(r.Out)
					}
				}
				if got := total.All(); !slices.EqualFunc(got, want, func(a, b Observed) bool { return a.Request == b.Request && a.Seen == b.Seen }) {
					t.Fatalf("%s, %d workers, %d B chunks: %d distinct requests, want %d (or counts differ)", name, workers, chunk, len(got), len(want))
				}
			}
		}
	}
}

// cond is s when ok, else "" (a failed check's message).
func cond(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

// joinGroups joins groups as Request.Groups holds them.
func joinGroups(gs []string) string {
	var b strings.Builder
	for _, g := range gs {
		b.WriteString(strconv.Itoa(len(g)))
		b.WriteByte(':')
		b.WriteString(g)
	}
	return b.String()
}
