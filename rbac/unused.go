package rbac

import (
	"fmt"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// UnusedReport is, per binding, the granted permissions no request in the
// window used.
type UnusedReport struct {
	Bindings []BindingUsage `json:"bindings"`
	// Subjects are the users seen, each with the bindings that apply to it.
	Subjects []SubjectUsage `json:"subjects"`
	// Window: the first and last request seen, and how many events (every
	// stage but RequestReceived) were read. A permission unused in a short
	// window may still be needed: a monthly job, a failover.
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	Events int64     `json:"events"`
}

// BindingUsage is one binding, the requests it allowed (each credited to
// the first binding and rule that allows it, in the authorizer's order, as
// the reason annotation names it), and its role's rules.
type BindingUsage struct {
	Kind      string           `json:"kind"`
	Namespace string           `json:"namespace,omitempty"`
	Name      string           `json:"name"`
	RoleRef   rbacv1.RoleRef   `json:"roleRef"`
	Subjects  []rbacv1.Subject `json:"subjects"`
	// SubjectsSeen: users of the window the binding applies to.
	SubjectsSeen []string    `json:"subjectsSeen"`
	Requests     int64       `json:"requests"`
	Rules        []RuleUsage `json:"rules"`
	Error        string      `json:"error,omitempty"` // the role cannot be resolved
}

// SubjectUsage is one user seen: the requests of its credited to a
// binding, and every binding that applies to it, used or not.
type SubjectUsage struct {
	User     string           `json:"user"`
	Requests int64            `json:"requests"`
	Bindings []SubjectBinding `json:"bindings"`
}

// SubjectBinding is one binding that applies to a subject: its subject's
// requests credited to it, and what its rules grant that is sensitive.
type SubjectBinding struct {
	Binding   string   `json:"binding"` // as BindingUsage.String words it
	Requests  int64    `json:"requests"`
	Sensitive []string `json:"sensitive,omitempty"`
}

// RuleUsage is one rule of a binding's role: how many requests it allowed,
// what they were (which breaks a wildcard down into what was used), the
// verb × resource × name atoms never used, and why the rule is sensitive.
type RuleUsage struct {
	Rule        rbacv1.PolicyRule `json:"rule"`
	Requests    int64             `json:"requests"`
	Used        []string          `json:"used"`
	UnusedAtoms []string          `json:"unusedAtoms"`
	Dangerous   []string          `json:"dangerous,omitempty"`
}

// Unused credits every request RBAC allowed in obs to the binding and rule
// of set that allows it, and reports each binding that applies to a subject
// seen (every binding, when all subjects were selected: those that apply to
// no one seen are unused too).
func Unused(obs *Observations, set *Set, allSubjects bool) *UnusedReport {
	rep := &UnusedReport{Events: obs.Events(), Bindings: []BindingUsage{}}
	rep.First, rep.Last = obs.Window()
	type ruleKey struct {
		kind, ns, name string
		rule           int
	}
	type use struct {
		requests int64
		reqs     []Request
	}
	uses := map[ruleKey]*use{}
	byUser := map[[4]string]int64{} // binding kind, namespace, name; user
	users := map[string]*user.DefaultInfo{}
	for _, o := range obs.All() {
		if o.Class == Privileged || o.Class == OtherAuthorizer {
			continue // RBAC did not decide these, so its bindings were not used
		}
		a := o.Attributes()
		users[o.User+"\x00"+o.Groups] = a.User.(*user.DefaultInfo)
		if !o.Class.NeedsRBAC() {
			continue
		}
		d := set.AuthorizeRBAC(a)
		if !d.Allowed {
			continue
		}
		k := ruleKey{d.Binding.Kind, d.Binding.Namespace, d.Binding.Name, d.Rule}
		u := uses[k]
		if u == nil {
			u = &use{}
			uses[k] = u
		}
		u.requests += o.Requests()
		u.reqs = append(u.reqs, o.Request)
		byUser[[4]string{k.kind, k.ns, k.name, o.User}] += o.Requests()
	}
	report := func(kind, ns, name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject) {
		seen := []string{}
		for _, u := range users {
			if _, ok := appliesTo(u, subjects, ns); ok && !slices.Contains(seen, u.Name) {
				seen = append(seen, u.Name)
			}
		}
		if len(seen) == 0 && !allSubjects {
			return
		}
		slices.Sort(seen)
		bu := BindingUsage{Kind: kind, Namespace: ns, Name: name, RoleRef: ref, Subjects: subjects, SubjectsSeen: seen, Rules: []RuleUsage{}}
		rules, err := set.roleRules(ref, ns)
		if err != nil {
			bu.Error = err.Error()
		}
		for i, r := range rules {
			ru := RuleUsage{Rule: r, Dangerous: dangers(&r), Used: []string{}}
			if u := uses[ruleKey{kind, ns, name, i}]; u != nil {
				ru.Requests = u.requests
				bu.Requests += u.requests
				for _, req := range u.reqs {
					if s := atomString(&req); !slices.Contains(ru.Used, s) {
						ru.Used = append(ru.Used, s)
					}
				}
				slices.Sort(ru.Used)
				ru.UnusedAtoms = unusedAtoms(&r, u.reqs)
			} else {
				ru.UnusedAtoms = unusedAtoms(&r, nil)
			}
			bu.Rules = append(bu.Rules, ru)
		}
		rep.Bindings = append(rep.Bindings, bu)
	}
	for _, b := range set.clusterRoleBindings {
		report("ClusterRoleBinding", "", b.Name, b.RoleRef, b.Subjects)
	}
	for _, b := range set.roleBindings {
		report("RoleBinding", b.Namespace, b.Name, b.RoleRef, b.Subjects)
	}
	rep.Subjects = bySubject(rep.Bindings, byUser)
	return rep
}

// bySubject turns the bindings around: for each user seen, the bindings
// that apply to it and its requests credited to each.
func bySubject(bindings []BindingUsage, byUser map[[4]string]int64) []SubjectUsage {
	subjects := map[string]*SubjectUsage{}
	for _, b := range bindings {
		var sensitive []string
		for _, r := range b.Rules {
			for _, d := range r.Dangerous {
				if !slices.Contains(sensitive, d) {
					sensitive = append(sensitive, d)
				}
			}
		}
		for _, u := range b.SubjectsSeen {
			su := subjects[u]
			if su == nil {
				su = &SubjectUsage{User: u, Bindings: []SubjectBinding{}}
				subjects[u] = su
			}
			n := byUser[[4]string{b.Kind, b.Namespace, b.Name, u}]
			su.Requests += n
			su.Bindings = append(su.Bindings, SubjectBinding{Binding: b.String(), Requests: n, Sensitive: sensitive})
		}
	}
	out := make([]SubjectUsage, 0, len(subjects))
	for _, su := range subjects {
		out = append(out, *su)
	}
	slices.SortFunc(out, func(a, b SubjectUsage) int { return strings.Compare(a.User, b.User) })
	return out
}

// atomString is a request as "verb group/resource[/sub] name" or
// "verb /path".
func atomString(r *Request) string {
	if r.NonResource {
		return r.Verb + " " + r.Path
	}
	s := r.Verb + " " + r.APIGroup + "/" + r.Resource
	if r.Subresource != "" {
		s += "/" + r.Subresource
	}
	if r.Name != "" {
		s += " " + r.Name
	}
	return s
}

// unusedAtoms breaks a rule into one group × resource × verb × name (or
// URL × verb) each, with component-helpers' BreakdownRule (what
// kube-apiserver's escalation check compares), and lists those no request
// matched. A wildcard stays one atom ("*").
func unusedAtoms(rule *rbacv1.PolicyRule, reqs []Request) []string {
	out := []string{}
	for _, atom := range validation.BreakdownRule(*rule) {
		used := false
		for i := range reqs {
			if RuleAllows(reqs[i].Attributes(), &atom) {
				used = true
				break
			}
		}
		if used {
			continue
		}
		if len(atom.NonResourceURLs) > 0 {
			out = append(out, atom.Verbs[0]+" "+atom.NonResourceURLs[0])
			continue
		}
		label := atom.Verbs[0] + " " + atom.APIGroups[0] + "/" + atom.Resources[0]
		if len(atom.ResourceNames) > 0 {
			label += " " + atom.ResourceNames[0]
		}
		out = append(out, label)
	}
	return out
}

// dangers says why a rule grants more than it seems: wildcards, secrets,
// the verbs that lift RBAC itself, exec into pods, node proxies, tokens.
func dangers(r *rbacv1.PolicyRule) []string {
	var out []string
	has := func(xs []string, vs ...string) bool {
		return slices.ContainsFunc(xs, func(x string) bool { return slices.Contains(vs, x) })
	}
	core := len(r.Resources) > 0 && has(r.APIGroups, "", "*")
	write := has(r.Verbs, "*", "create", "update", "patch", "delete", "deletecollection")
	if has(r.Verbs, "*") {
		out = append(out, "every verb (*)")
	}
	if has(r.Resources, "*") {
		out = append(out, "every resource (*)")
	}
	if has(r.APIGroups, "*") && len(r.Resources) > 0 {
		out = append(out, "every API group (*)")
	}
	if has(r.NonResourceURLs, "*") {
		out = append(out, "every non-resource URL (*)")
	}
	for _, v := range []string{"escalate", "bind", "impersonate"} {
		if has(r.Verbs, v) {
			out = append(out, v)
		}
	}
	if core && has(r.Resources, "secrets", "*") && has(r.Verbs, "*", "get", "list", "watch") {
		out = append(out, "reads secrets")
	}
	if core && has(r.Resources, "pods/exec", "pods/attach", "*", "*/exec") {
		out = append(out, "runs commands in pods")
	}
	if core && has(r.Resources, "nodes/proxy", "*") {
		out = append(out, "proxies to kubelets")
	}
	if core && has(r.Resources, "serviceaccounts/token", "*/token") && has(r.Verbs, "*", "create") {
		out = append(out, "mints service account tokens")
	}
	if has(r.APIGroups, "rbac.authorization.k8s.io", "*") && write && len(r.Resources) > 0 {
		out = append(out, "writes RBAC")
	}
	if has(r.APIGroups, "admissionregistration.k8s.io", "*") && write && len(r.Resources) > 0 {
		out = append(out, "writes admission webhooks and policies")
	}
	if has(r.APIGroups, "certificates.k8s.io", "*") && has(r.Resources, "certificatesigningrequests/approval", "*") && write {
		out = append(out, "approves certificates")
	}
	return out
}

// String words a binding usage for a table.
func (b *BindingUsage) String() string {
	name := b.Name
	if b.Namespace != "" {
		name += "/" + b.Namespace
	}
	subs := make([]string, len(b.Subjects))
	for i, s := range b.Subjects {
		subs[i] = describeSubject(s, b.Namespace)
	}
	return fmt.Sprintf("%s %q of %s %q to %s", b.Kind, name, b.RoleRef.Kind, b.RoleRef.Name, strings.Join(subs, ", "))
}
