package policy

import (
	"fmt"
	"slices"
	"strings"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Finding is one thing the setup guides warn about in a policy.
type Finding struct {
	Rule     int      `json:"rule,omitempty"` // 1-based; 0: the policy as a whole
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// Severity says how bad a Finding is.
type Severity string

const (
	// SeverityError: the policy leaks credentials into the log, or a rule
	// never works as written.
	SeverityError Severity = "error"
	// SeverityWarning: the policy costs more than it needs to, or surprises.
	SeverityWarning Severity = "warning"
)

// sensitive are resources whose bodies carry credentials: in the request
// (logged from level Request, on the verbs that send a body) or in the
// response (logged at RequestResponse).
var sensitive = []struct {
	group, resource, subresource string
	inRequest, inResponse        bool
}{
	{"", "secrets", "", true, true},
	{"", "configmaps", "", true, true},
	{"authentication.k8s.io", "tokenreviews", "", true, false}, // spec.token
	{"", "serviceaccounts", "token", false, true},              // status.token
}

var bodyVerbs = []string{"create", "update", "patch"}

var requestVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// builtinGroups are the API groups of kube-apiserver and the aggregated
// APIs every cluster has.
var builtinGroups = []string{"", "*", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
	"apps", "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
	"coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "extensions", "flowcontrol.apiserver.k8s.io",
	"internal.apiserver.k8s.io", "metrics.k8s.io", "networking.k8s.io", "node.k8s.io", "policy",
	"rbac.authorization.k8s.io", "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io",
	"storagemigration.k8s.io", "snapshot.storage.k8s.io"}

// builtinResources are the resources of the built-in groups a policy names
// most, to catch a misspelt one ("secret", "deployment").
var builtinResources = map[string][]string{
	"": {"bindings", "componentstatuses", "configmaps", "endpoints", "events", "limitranges", "namespaces",
		"nodes", "persistentvolumeclaims", "persistentvolumes", "pods", "podtemplates", "replicationcontrollers",
		"resourcequotas", "secrets", "serviceaccounts", "services"},
	"apps":                      {"controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"},
	"batch":                     {"cronjobs", "jobs"},
	"rbac.authorization.k8s.io": {"clusterrolebindings", "clusterroles", "rolebindings", "roles"},
	"authentication.k8s.io":     {"selfsubjectreviews", "tokenreviews"},
	"authorization.k8s.io":      {"localsubjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews"},
	"coordination.k8s.io":       {"leases"},
	"networking.k8s.io":         {"ingressclasses", "ingresses", "networkpolicies"},
}

// Lint checks p for what the setup guides warn about: credentials logged
// above Metadata, RequestReceived not omitted, no catch-all last rule, rules
// that can never match, unknown verbs, misspelt groups and resources.
func (p *Policy) Lint() []Finding {
	var out []Finding
	add := func(rule int, sev Severity, format string, args ...any) {
		out = append(out, Finding{Rule: rule, Severity: sev, Message: fmt.Sprintf(format, args...)})
	}
	for _, n := range p.Notes {
		add(0, SeverityWarning, "%s", n)
	}
	pol := p.Spec

	// Credentials: ask the evaluator about reads and writes of each sensitive
	// resource by the users, groups and namespaces the rules name.
	users, groups, namespaces := []string{"jane"}, []string{"system:authenticated"}, []string{"", "default", "kube-system"}
	for _, r := range pol.Rules {
		users = append(users, r.Users...)
		groups = append(groups, r.UserGroups...)
		namespaces = append(namespaces, r.Namespaces...)
	}
	for _, s := range sensitive {
		name := s.resource
		if s.subresource != "" {
			name += "/" + s.subresource
		}
		reported := map[int]bool{}
		for _, u := range slices.Compact(slices.Sorted(slices.Values(users))) {
			for _, g := range slices.Compact(slices.Sorted(slices.Values(groups))) {
				for _, ns := range slices.Compact(slices.Sorted(slices.Values(namespaces))) {
					for _, verb := range requestVerbs {
						attrs := authorizer.AttributesRecord{User: &user.DefaultInfo{Name: u, Groups: []string{g}}, Verb: verb,
							Namespace: ns, APIGroup: s.group, APIVersion: "v1", Resource: s.resource, Subresource: s.subresource, ResourceRequest: true}
						d := p.Decide(attrs)
						leaks := s.inRequest && slices.Contains(bodyVerbs, verb) && d.Level.GreaterOrEqual(auditinternal.LevelRequest) ||
							s.inResponse && d.Level.GreaterOrEqual(auditinternal.LevelRequestResponse)
						if leaks && !reported[d.Rule] {
							reported[d.Rule] = true
							add(d.Rule+1, SeverityError, "logs %s at %s (%s by %s in %q, for one): their bodies hold credentials, which end up in the log; log secrets, configmaps, tokenreviews and serviceaccounts/token at Metadata in a rule before it",
								name, d.Level, verb, u, ns)
						}
					}
				}
			}
		}
	}

	// Every request logged twice.
	twice := []string{}
	for i, r := range pol.Rules {
		if r.Level != auditinternal.LevelNone && !slices.Contains(r.OmitStages, auditinternal.StageRequestReceived) && !slices.Contains(pol.OmitStages, auditinternal.StageRequestReceived) {
			twice = append(twice, fmt.Sprint(i+1))
		}
	}
	if len(twice) > 0 {
		add(0, SeverityWarning, "RequestReceived is not omitted (rules %s): each request is logged at least twice, once when it arrives and once when it completes; add `omitStages: [RequestReceived]` at the top of the policy", strings.Join(twice, ", "))
	}

	// The last rule.
	last := pol.Rules[len(pol.Rules)-1]
	if !catchAll(&last) {
		add(len(pol.Rules), SeverityWarning, "the last rule is not a catch-all: requests that match no rule are not logged at all (level None); end with `- level: Metadata` to log everything else")
	}
	for _, sh := range p.Shadowed() {
		if catchAll(&pol.Rules[sh.ShadowedBy-1]) {
			add(sh.Rule, SeverityError, "comes after the catch-all rule %d and can never match", sh.ShadowedBy)
		} else {
			add(sh.Rule, SeverityError, "can never match: rule %d matches every request it would, first", sh.ShadowedBy)
		}
	}

	for i, r := range pol.Rules {
		for _, v := range r.Verbs {
			if !slices.Contains(requestVerbs, v) {
				hint := ""
				if s := nearest(v, requestVerbs); s != "" {
					hint = fmt.Sprintf("; did you mean %q?", s)
				}
				add(i+1, SeverityError, "verb %q is not a request verb (%s), so the rule never matches it%s", v, strings.Join(requestVerbs, ", "), hint)
			}
		}
		for _, gr := range r.Resources {
			if known, ok := builtinResources[gr.Group]; ok {
				for _, res := range gr.Resources {
					base, _, _ := strings.Cut(res, "/")
					if base != "*" && !slices.Contains(known, base) {
						if s := nearest(base, known); s != "" {
							add(i+1, SeverityError, "resource %q is not in group %q; did you mean %q?", base, gr.Group, s)
						}
					}
				}
			}
			switch g := gr.Group; {
			case g == "core" || g == "v1":
				add(i+1, SeverityError, "group %q: the core group is written \"\" (pods, secrets, configmaps…); this entry matches nothing", g)
			case !slices.Contains(builtinGroups, g):
				if s := nearest(g, builtinGroups[2:]); s != "" {
					add(i+1, SeverityError, "group %q is not a Kubernetes API group; did you mean %q?", g, s)
				} else if !strings.Contains(g, ".") {
					add(i+1, SeverityWarning, "group %q is not a built-in API group, and custom resource groups contain a dot", g)
				}
			}
		}
	}
	return out
}

// catchAll: the rule matches every request.
func catchAll(r *auditinternal.PolicyRule) bool {
	return len(r.Users) == 0 && len(r.UserGroups) == 0 && len(r.Verbs) == 0 && len(r.Namespaces) == 0 &&
		len(r.Resources) == 0 && len(r.NonResourceURLs) == 0
}

// nearest returns the candidate within edit distance 2 of s (and not s), or "".
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d > 0 && d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
