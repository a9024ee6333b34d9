package rbac

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
)

// GenerateOptions widen or narrow what Generate grants. The zero value is
// least privilege: names kept where the requests named objects (but never
// on create), verbs and subresources as observed, one Role per namespace,
// a ClusterRole only for cluster-scoped and all-namespace requests and
// non-resource URLs.
type GenerateOptions struct {
	// IncludeForbidden also grants what was forbidden, and the
	// impersonations refused: what the subject tried, not what it had.
	IncludeForbidden bool
	// IncludeDefaults also grants what the default bindings of every
	// cluster allowed (system:basic-user, system:discovery,
	// system:public-info-viewer, system:service-account-issuer-discovery,
	// bound to system:authenticated and the like).
	IncludeDefaults bool
	// AnyName drops resourceNames: every object of a kind.
	AnyName bool
	// CreateNames keeps names on subresource creates (pods/NAME/eviction,
	// serviceaccounts/NAME/token), which the authorizer sees: tighter
	// than the default, which grants creates without names.
	CreateNames bool
	// WebSocketCreate adds create beside get on pods/exec, attach and
	// portforward, which kube-apiserver 1.35 and later also check on a
	// WebSocket upgrade (AuthorizePodWebsocketUpgradeCreatePermission).
	WebSocketCreate bool
	// Existing, if not nil, is the cluster's RBAC: requests it allows
	// already are left out, so that only what is missing is generated.
	Existing *Set
	// Prefix starts the names of generated objects ("auditq:" if empty).
	Prefix string
}

// DefaultBindings are the ClusterRoleBindings of kube-apiserver's
// bootstrap policy that every authenticated user (or every service
// account) has: what they allow needs no generated grant.
var DefaultBindings = []string{"system:basic-user", "system:discovery", "system:public-info-viewer", "system:service-account-issuer-discovery"}

// Plan is the generated RBAC, subject by subject.
type Plan struct {
	Subjects []SubjectPlan `json:"subjects"`
}

// SubjectPlan is one subject's Roles and ClusterRoles, each with its
// binding, and the requests left out, with why.
type SubjectPlan struct {
	Subject rbacv1.Subject  `json:"subject"`
	Roles   []GeneratedRole `json:"roles"`
	LeftOut []LeftOut       `json:"leftOut"`
}

// GeneratedRole is a Role (Namespace set) or a ClusterRole, bound to the
// subject under the same name.
type GeneratedRole struct {
	Namespace string          `json:"namespace,omitempty"`
	Name      string          `json:"name"`
	Rules     []GeneratedRule `json:"rules"`
}

// GeneratedRule is a rule and the requests that made it.
type GeneratedRule struct {
	rbacv1.PolicyRule `json:"rule"`
	Requests          int64     `json:"requests"`
	First             time.Time `json:"first"`
	Last              time.Time `json:"last"`
	Example           string    `json:"exampleAuditID"`
	Classes           []Class   `json:"classes"`
	// Added names permissions no request showed: create beside get for
	// WebSocket exec ("websocket-create").
	Added []string `json:"added,omitempty"`
}

// LeftOut is a distinct request that no generated rule is for, and why.
type LeftOut struct {
	Observed
	Why string `json:"why"`
}

// MarshalJSON writes the request as Observed does, and why.
func (l LeftOut) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		observedJSON
		Why string `json:"why"`
	}{l.toJSON(), l.Why})
}

// Generate makes least-privilege Roles and bindings for every subject of
// obs: a User, or a ServiceAccount for service-account usernames (a log
// cannot tell which of a user's groups a grant was meant for). Only the
// requests RBAC had to allow are granted (see Class.NeedsRBAC and the
// options); the others are listed in LeftOut. Every granted request is
// checked to be allowed by the result.
func Generate(obs *Observations, opts GenerateOptions) (*Plan, error) {
	if opts.Prefix == "" {
		opts.Prefix = "auditq:"
	}
	type scope struct{ user, ns string }
	bySubject := map[string]*SubjectPlan{}
	var order []string
	atoms := map[scope]map[atom]*GeneratedRule{}
	granted := map[string][]Observed{}
	for _, o := range obs.All() {
		sp := bySubject[o.User]
		if sp == nil {
			sp = &SubjectPlan{Subject: subjectOf(o.User), Roles: []GeneratedRole{}, LeftOut: []LeftOut{}}
			bySubject[o.User] = sp
			order = append(order, o.User)
		}
		if why := leaveOut(&o, opts); why != "" {
			sp.LeftOut = append(sp.LeftOut, LeftOut{o, why})
			continue
		}
		granted[o.User] = append(granted[o.User], o)
		s := scope{o.User, o.Namespace}
		if atoms[s] == nil {
			atoms[s] = map[atom]*GeneratedRule{}
		}
		for _, a := range atomsOf(&o.Request, opts) {
			seen := &GeneratedRule{Requests: o.Requests(), First: o.First, Last: o.Last, Example: o.Example, Classes: []Class{o.Class}}
			if a.added != "" {
				seen.Added = []string{a.added}
			}
			atoms[s][a.atom] = mergeStats(atoms[s][a.atom], seen)
		}
	}
	plan := &Plan{Subjects: []SubjectPlan{}}
	for _, u := range order {
		sp := bySubject[u]
		var nss []string
		for s := range atoms {
			if s.user == u {
				nss = append(nss, s.ns)
			}
		}
		slices.Sort(nss)
		for _, ns := range nss {
			sp.Roles = append(sp.Roles, GeneratedRole{Namespace: ns, Name: objectName(opts.Prefix, sp.Subject), Rules: compact(atoms[scope{u, ns}])})
		}
		if len(sp.Roles) == 0 && len(sp.LeftOut) == 0 {
			continue
		}
		if err := verify(sp, granted[u]); err != nil {
			return nil, err
		}
		plan.Subjects = append(plan.Subjects, *sp)
	}
	return plan, nil
}

// leaveOut says why a request gets no grant, or "".
func leaveOut(o *Observed, opts GenerateOptions) string {
	if o.User == "" {
		return "no username recorded: nothing to bind"
	}
	switch o.Class {
	case Privileged:
		return "allowed for system:masters: RBAC was not asked"
	case OtherAuthorizer:
		return "allowed by another authorizer (Node, a webhook)"
	case Forbidden, ImpersonationDenied, Refused:
		if !opts.IncludeForbidden {
			return "refused: " + o.Class.String() + " (--include-forbidden grants it)"
		}
	}
	if o.Class == RBACAllowed && !opts.IncludeDefaults && isDefaultBinding(o.Binding) {
		return "allowed by a default binding of every cluster: " + o.Binding
	}
	if opts.Existing != nil {
		a := o.Attributes()
		if d := opts.Existing.Authorize(a); d.Allowed {
			if d.Privileged {
				return "the existing RBAC allows it: system:masters"
			}
			return "the existing RBAC allows it: " + d.Binding.String()
		}
	}
	return ""
}

func isDefaultBinding(binding string) bool {
	for _, name := range DefaultBindings {
		if strings.HasPrefix(binding, fmt.Sprintf("ClusterRoleBinding %q ", name)) {
			return true
		}
	}
	return false
}

func subjectOf(username string) rbacv1.Subject {
	if ns, name, err := serviceaccount.SplitUsername(username); err == nil {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
	}
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: username}
}

// objectName names a subject's Roles and bindings: the prefix, then
// "sa:NS:NAME" or "user:NAME", with the characters a name may not hold
// ("/", "%") replaced, and a hash where that changed it or it is too long.
func objectName(prefix string, s rbacv1.Subject) string {
	raw := prefix + "user:" + s.Name
	if s.Kind == rbacv1.ServiceAccountKind {
		raw = prefix + "sa:" + s.Namespace + ":" + s.Name
	}
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '%' || !strconv.IsPrint(r) {
			return '-'
		}
		return r
	}, raw)
	if name != raw || len(name) > 200 || name == "." || name == ".." {
		sum := sha256.Sum256([]byte(raw))
		name = name[:min(len(name), 180)] + "-" + hex.EncodeToString(sum[:6])
	}
	return name
}

// FileName names a file for the subject's objects: "sa_NS_NAME" or
// "user_NAME", with anything but letters, digits, '.', '-' and '_'
// replaced, and a hash where that changed the name.
func (sp *SubjectPlan) FileName() string {
	raw := "user_" + sp.Subject.Name
	if sp.Subject.Kind == rbacv1.ServiceAccountKind {
		raw = "sa_" + sp.Subject.Namespace + "_" + sp.Subject.Name
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, raw)
	if name != raw || len(name) > 120 {
		sum := sha256.Sum256([]byte(raw))
		name = name[:min(len(name), 100)] + "-" + hex.EncodeToString(sum[:6])
	}
	return name
}

// atom is one verb on one resource (and name, "" for any), or on a URL.
type atom struct {
	nonResource bool
	verb        string
	group       string
	resource    string // resource or resource/subresource; the URL for a non-resource request
	name        string
}

type addedAtom struct {
	atom
	added string
}

func atomsOf(r *Request, opts GenerateOptions) []addedAtom {
	if r.NonResource {
		return []addedAtom{{atom: atom{nonResource: true, verb: r.Verb, resource: r.Path}}}
	}
	res := r.Resource
	if r.Subresource != "" {
		res += "/" + r.Subresource
	}
	name := r.Name
	if opts.AnyName || r.Verb == "create" && !(opts.CreateNames && r.Subresource != "") {
		name = ""
	}
	out := []addedAtom{{atom: atom{verb: r.Verb, group: r.APIGroup, resource: res, name: name}}}
	if opts.WebSocketCreate && r.Verb == "get" && r.APIGroup == "" && (res == "pods/exec" || res == "pods/attach" || res == "pods/portforward") {
		if !opts.CreateNames {
			name = ""
		}
		out = append(out, addedAtom{atom{verb: "create", resource: res, name: name}, "websocket-create"})
	}
	return out
}

// compact turns atoms into rules without widening any of them: names go
// only where the same verb on the same resource has no unnamed grant;
// verbs with the same names on the same resource share a rule; resources
// of one API group with the same verbs and names share a rule. Groups are
// never merged (two groups × two resources would grant four pairs).
func compact(atoms map[atom]*GeneratedRule) []GeneratedRule {
	type vr struct {
		nonResource      bool
		verb, group, res string
	}
	names := map[vr][]string{} // nil: any name
	anyName := map[vr]bool{}
	stats := map[vr]*GeneratedRule{}
	for a, g := range atoms {
		k := vr{a.nonResource, a.verb, a.group, a.resource}
		if a.name == "" {
			anyName[k] = true
		} else {
			names[k] = append(names[k], a.name)
		}
		stats[k] = mergeStats(stats[k], g)
	}
	// Verbs on one resource with the same names.
	type rg struct {
		nonResource bool
		group, res  string
		names       string
	}
	byRes := map[rg]*GeneratedRule{}
	for k, g := range stats {
		var ns []string
		if !anyName[k] {
			ns = names[k]
			slices.Sort(ns)
			ns = slices.Compact(ns)
		}
		key := rg{k.nonResource, k.group, k.res, strings.Join(ns, "\x00")}
		r := byRes[key]
		if r == nil {
			r = &GeneratedRule{}
			*r = *g
			r.Classes, r.Added = slices.Clone(g.Classes), slices.Clone(g.Added)
			r.PolicyRule = rbacv1.PolicyRule{ResourceNames: ns}
			if k.nonResource {
				r.NonResourceURLs = []string{k.res}
			} else {
				r.APIGroups, r.Resources = []string{k.group}, []string{k.res}
			}
			byRes[key] = r
		} else {
			*r = *mergeStats(r, g)
		}
		r.Verbs = append(r.Verbs, k.verb)
	}
	// Resources (or URLs) of one group with the same verbs and names.
	type vg struct {
		nonResource         bool
		group, verbs, names string
	}
	merged := map[vg]*GeneratedRule{}
	for _, r := range byRes {
		slices.Sort(r.Verbs)
		key := vg{r.NonResourceURLs != nil, strings.Join(r.APIGroups, ""), strings.Join(r.Verbs, ","), strings.Join(r.ResourceNames, "\x00")}
		m := merged[key]
		if m == nil {
			merged[key] = r
			continue
		}
		stats := mergeStats(m, r)
		urls, res := append(m.NonResourceURLs, r.NonResourceURLs...), append(m.Resources, r.Resources...)
		*m = *stats
		m.NonResourceURLs, m.Resources = urls, res
	}
	out := make([]GeneratedRule, 0, len(merged))
	for _, r := range merged {
		slices.Sort(r.Resources)
		slices.Sort(r.NonResourceURLs)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b GeneratedRule) int {
		return cmp.Or(boolCmp(a.NonResourceURLs != nil, b.NonResourceURLs != nil),
			slices.Compare(a.APIGroups, b.APIGroups), slices.Compare(a.Resources, b.Resources),
			slices.Compare(a.NonResourceURLs, b.NonResourceURLs), slices.Compare(a.ResourceNames, b.ResourceNames),
			slices.Compare(a.Verbs, b.Verbs))
	})
	return out
}

// mergeStats is a's counts and times with b's added; a's rule is kept.
func mergeStats(a, b *GeneratedRule) *GeneratedRule {
	if a == nil {
		c := *b
		c.Classes, c.Added = slices.Clone(b.Classes), slices.Clone(b.Added)
		return &c
	}
	c := *a
	c.Requests += b.Requests
	if earlier(b.First, b.Example, c.First, c.Example) {
		c.First, c.Example = b.First, b.Example
	}
	if b.Last.After(c.Last) {
		c.Last = b.Last
	}
	c.Classes = slices.Clone(a.Classes)
	for _, cl := range b.Classes {
		if !slices.Contains(c.Classes, cl) {
			c.Classes = append(c.Classes, cl)
		}
	}
	slices.Sort(c.Classes)
	c.Added = slices.Clone(a.Added)
	for _, ad := range b.Added {
		if !slices.Contains(c.Added, ad) {
			c.Added = append(c.Added, ad)
		}
	}
	return &c
}

// Objects are a subject plan's Roles, ClusterRoles and their bindings.
func (sp *SubjectPlan) Objects() (roles []*rbacv1.Role, clusterRoles []*rbacv1.ClusterRole, bindings []*rbacv1.RoleBinding, clusterBindings []*rbacv1.ClusterRoleBinding) {
	for _, gr := range sp.Roles {
		switch role, binding := sp.objectsOf(gr); r := role.(type) {
		case *rbacv1.ClusterRole:
			clusterRoles, clusterBindings = append(clusterRoles, r), append(clusterBindings, binding.(*rbacv1.ClusterRoleBinding))
		case *rbacv1.Role:
			roles, bindings = append(roles, r), append(bindings, binding.(*rbacv1.RoleBinding))
		}
	}
	return
}

// objectsOf makes a generated role's object (a ClusterRole when it has no
// namespace, else a Role) and the binding of it to the subject.
func (sp *SubjectPlan) objectsOf(gr GeneratedRole) (role, binding any) {
	labels := map[string]string{"app.kubernetes.io/managed-by": "auditq"}
	rules := make([]rbacv1.PolicyRule, len(gr.Rules))
	for i, r := range gr.Rules {
		rules[i] = r.PolicyRule
	}
	if gr.Namespace == "" {
		return &rbacv1.ClusterRole{
				TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
				ObjectMeta: metav1.ObjectMeta{Name: gr.Name, Labels: labels}, Rules: rules},
			&rbacv1.ClusterRoleBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: gr.Name, Labels: labels},
				Subjects:   []rbacv1.Subject{sp.Subject},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: gr.Name}}
	}
	return &rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
			ObjectMeta: metav1.ObjectMeta{Namespace: gr.Namespace, Name: gr.Name, Labels: labels}, Rules: rules},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Namespace: gr.Namespace, Name: gr.Name, Labels: labels},
			Subjects:   []rbacv1.Subject{sp.Subject},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: gr.Name}}
}

// Set is the plan's objects for every subject, as a Set to authorize with.
func (p *Plan) Set() (*Set, error) {
	var rs []*rbacv1.Role
	var crs []*rbacv1.ClusterRole
	var rbs []*rbacv1.RoleBinding
	var crbs []*rbacv1.ClusterRoleBinding
	for i := range p.Subjects {
		r, cr, rb, crb := p.Subjects[i].Objects()
		rs, crs, rbs, crbs = append(rs, r...), append(crs, cr...), append(rbs, rb...), append(crbs, crb...)
	}
	return NewSet(rs, crs, rbs, crbs)
}

// verify checks that a subject's generated objects allow every request
// they were made for, and that no create rule names objects unless asked.
func verify(sp *SubjectPlan, granted []Observed) error {
	r, cr, rb, crb := sp.Objects()
	set, err := NewSet(r, cr, rb, crb)
	if err != nil {
		return err
	}
	for _, o := range granted {
		a := o.Attributes()
		if d := set.AuthorizeRBAC(a); !d.Allowed {
			return fmt.Errorf("rbac: internal error: the rules generated for %s do not allow %s (auditID %s)", describeSubject(sp.Subject, ""), describeRequest(&o.Request), o.Example)
		}
	}
	return nil
}

// describeRequest words a request as kube-apiserver's RBAC denial log does.
func describeRequest(r *Request) string {
	if r.NonResource {
		return fmt.Sprintf("%q nonResourceURL %q", r.Verb, r.Path)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q resource %q", r.Verb, r.Target())
	if r.Name != "" {
		fmt.Fprintf(&b, " named %q", r.Name)
	}
	if r.Namespace != "" {
		fmt.Fprintf(&b, " in namespace %q", r.Namespace)
	} else {
		b.WriteString(" cluster-wide")
	}
	return b.String()
}
