package rbac

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Set is the RBAC objects an authorizer reads: a cluster's, or a proposal.
// A Set is read-only once made, and safe for concurrent use.
type Set struct {
	roles               []*rbacv1.Role
	clusterRoles        []*rbacv1.ClusterRole
	roleBindings        []*rbacv1.RoleBinding
	clusterRoleBindings []*rbacv1.ClusterRoleBinding

	roleByKey        map[[2]string]*rbacv1.Role // namespace, name
	clusterRoleByKey map[string]*rbacv1.ClusterRole
	bindingsByNS     map[string][]*rbacv1.RoleBinding

	privileged []string
}

// PrivilegedGroup is the group kube-apiserver allows everything, ahead of
// RBAC (authorizerfactory.NewPrivilegedGroups in its authorizer chain).
const PrivilegedGroup = user.SystemPrivilegedGroup

// NewSet makes a Set of these objects, kept in the order given (the
// authorizer visits bindings in list order; the first allowing rule names
// the binding in its reason). The rules of aggregated ClusterRoles are
// computed as the aggregation controller does, to a fixed point, so that
// manifests whose aggregated roles have no rules yet read as a live cluster.
// The objects are not modified; aggregated ClusterRoles are copied.
func NewSet(roles []*rbacv1.Role, clusterRoles []*rbacv1.ClusterRole, roleBindings []*rbacv1.RoleBinding, clusterRoleBindings []*rbacv1.ClusterRoleBinding) (*Set, error) {
	crs, err := aggregate(clusterRoles)
	if err != nil {
		return nil, err
	}
	s := &Set{
		roles: roles, clusterRoles: crs, roleBindings: roleBindings, clusterRoleBindings: clusterRoleBindings,
		roleByKey:        map[[2]string]*rbacv1.Role{},
		clusterRoleByKey: map[string]*rbacv1.ClusterRole{},
		bindingsByNS:     map[string][]*rbacv1.RoleBinding{},
		privileged:       []string{PrivilegedGroup},
	}
	for _, r := range roles {
		if _, dup := s.roleByKey[[2]string{r.Namespace, r.Name}]; !dup {
			s.roleByKey[[2]string{r.Namespace, r.Name}] = r
		}
	}
	for _, r := range crs {
		if _, dup := s.clusterRoleByKey[r.Name]; !dup {
			s.clusterRoleByKey[r.Name] = r
		}
	}
	for _, b := range roleBindings {
		s.bindingsByNS[b.Namespace] = append(s.bindingsByNS[b.Namespace], b)
	}
	return s, nil
}

// Roles, ClusterRoles, RoleBindings and ClusterRoleBindings are the Set's
// objects (ClusterRoles with aggregated rules filled in). Do not modify them.
func (s *Set) Roles() []*rbacv1.Role                             { return s.roles }
func (s *Set) ClusterRoles() []*rbacv1.ClusterRole               { return s.clusterRoles }
func (s *Set) RoleBindings() []*rbacv1.RoleBinding               { return s.roleBindings }
func (s *Set) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding { return s.clusterRoleBindings }

// aggregate fills the rules of aggregated ClusterRoles: the union of the
// rules of every other ClusterRole a selector matches, by name, without
// duplicates (clusterroleaggregation's syncClusterRole), repeated until no
// role changes, since an aggregated role may itself be aggregated.
func aggregate(in []*rbacv1.ClusterRole) ([]*rbacv1.ClusterRole, error) {
	out := slices.Clone(in)
	byName := slices.Clone(in)
	slices.SortStableFunc(byName, func(a, b *rbacv1.ClusterRole) int { return strings.Compare(a.Name, b.Name) })
	type selectors struct {
		i   int
		sel []labels.Selector
	}
	var agg []selectors
	for i, cr := range out {
		if cr.AggregationRule == nil {
			continue
		}
		a := selectors{i: i}
		for j := range cr.AggregationRule.ClusterRoleSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&cr.AggregationRule.ClusterRoleSelectors[j])
			if err != nil {
				return nil, fmt.Errorf("ClusterRole %q: aggregationRule selector %d: %w", cr.Name, j, err)
			}
			a.sel = append(a.sel, sel)
		}
		agg = append(agg, a)
	}
	current := map[string]*rbacv1.ClusterRole{}
	for _, cr := range out {
		current[cr.Name] = cr
	}
	for range len(agg) + 1 { // a chain of n aggregated roles settles in n rounds
		changed := false
		for _, a := range agg {
			self := out[a.i]
			rules := []rbacv1.PolicyRule{}
			for _, sel := range a.sel {
				for _, cr := range byName {
					if cr.Name == self.Name || !sel.Matches(labels.Set(cr.Labels)) {
						continue
					}
					for _, r := range current[cr.Name].Rules {
						if !slices.ContainsFunc(rules, func(x rbacv1.PolicyRule) bool { return reflect.DeepEqual(x, r) }) {
							rules = append(rules, r)
						}
					}
				}
			}
			if !reflect.DeepEqual(rules, self.Rules) && !(len(rules) == 0 && len(self.Rules) == 0) {
				cp := self.DeepCopy()
				cp.Rules = rules
				out[a.i], current[cp.Name] = cp, cp
				changed = true
			}
		}
		if !changed {
			return out, nil
		}
	}
	return nil, errors.New("aggregated ClusterRoles do not settle (a selector cycle)")
}

// Binding names one binding of a Set and the subject of it that applied.
type Binding struct {
	Kind      string         `json:"kind"` // "ClusterRoleBinding" or "RoleBinding"
	Namespace string         `json:"namespace,omitempty"`
	Name      string         `json:"name"`
	RoleRef   rbacv1.RoleRef `json:"roleRef"`
	Subject   rbacv1.Subject `json:"subject"`
}

// String describes the binding as the RBAC authorizer's reasons do:
// `RoleBinding "name/ns" of Role "r" to ServiceAccount "sa/ns"`.
func (b Binding) String() string {
	name := b.Name
	if b.Kind == "RoleBinding" {
		name += "/" + b.Namespace
	}
	return fmt.Sprintf("%s %q of %s %q to %s", b.Kind, name, b.RoleRef.Kind, b.RoleRef.Name, describeSubject(b.Subject, b.Namespace))
}

func describeSubject(s rbacv1.Subject, bindingNamespace string) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return fmt.Sprintf("%s %q", s.Kind, s.Name+"/"+ns)
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}

// Decision is what kube-apiserver's authorizers (the privileged group, then
// RBAC) decide for a request.
type Decision struct {
	Allowed bool `json:"allowed"`
	// Privileged: allowed for membership of system:masters; RBAC was not asked.
	Privileged bool `json:"privileged,omitempty"`
	// Reason is worded as the authorizer words it, as the audit annotation
	// authorization.k8s.io/reason records it: "RBAC: allowed by …", or the
	// errors met on a refusal ("" when none).
	Reason string `json:"reason"`
	// Binding and Rule (an index into the role's rules) allowed the request.
	Binding Binding `json:"binding,omitzero"`
	Rule    int     `json:"rule"`
	Errors  []error `json:"-"` // bindings whose role could not be resolved (in Reason)
}

// Authorize decides a request as kube-apiserver does with the privileged
// group and RBAC: every ClusterRoleBinding that applies to the user, then
// the RoleBindings of the request's namespace, each role's rules in order,
// until one allows (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac).
func (s *Set) Authorize(a authorizer.Attributes) Decision {
	u := a.GetUser()
	if u == nil {
		//lint:ignore ST1005 worded as the privileged-group authorizer words it
		return Decision{Reason: "Error", Errors: []error{errors.New("no user on request.")}}
	}
	for _, g := range u.GetGroups() {
		if slices.Contains(s.privileged, g) {
			return Decision{Allowed: true, Privileged: true}
		}
	}
	return s.authorizeRBAC(a)
}

// AuthorizeRBAC is Authorize without the privileged group: RBAC alone.
func (s *Set) AuthorizeRBAC(a authorizer.Attributes) Decision { return s.authorizeRBAC(a) }

func (s *Set) authorizeRBAC(a authorizer.Attributes) Decision {
	var d Decision
	s.visit(a.GetUser(), a.GetNamespace(), func(b Binding, rules []rbacv1.PolicyRule) bool {
		for i := range rules {
			if RuleAllows(a, &rules[i]) {
				d.Allowed, d.Binding, d.Rule = true, b, i
				d.Reason = "RBAC: allowed by " + b.String()
				return false
			}
		}
		return true
	}, func(err error) { d.Errors = append(d.Errors, err) })
	if !d.Allowed && len(d.Errors) > 0 {
		d.Reason = fmt.Sprintf("RBAC: %v", utilerrors.NewAggregate(d.Errors))
	}
	return d
}

// visit calls f with each binding that applies to u in namespace ns, in the
// authorizer's order, and its role's rules, until f returns false; a role
// that cannot be resolved goes to fail instead.
func (s *Set) visit(u user.Info, ns string, f func(Binding, []rbacv1.PolicyRule) bool, fail func(error)) {
	for _, crb := range s.clusterRoleBindings {
		i, ok := appliesTo(u, crb.Subjects, "")
		if !ok {
			continue
		}
		rules, err := s.roleRules(crb.RoleRef, "")
		if err != nil {
			fail(err)
			continue
		}
		if !f(Binding{Kind: "ClusterRoleBinding", Name: crb.Name, RoleRef: crb.RoleRef, Subject: crb.Subjects[i]}, rules) {
			return
		}
	}
	if ns == "" {
		return
	}
	for _, rb := range s.bindingsByNS[ns] {
		i, ok := appliesTo(u, rb.Subjects, ns)
		if !ok {
			continue
		}
		rules, err := s.roleRules(rb.RoleRef, ns)
		if err != nil {
			fail(err)
			continue
		}
		if !f(Binding{Kind: "RoleBinding", Namespace: rb.Namespace, Name: rb.Name, RoleRef: rb.RoleRef, Subject: rb.Subjects[i]}, rules) {
			return
		}
	}
}

// roleRules resolves a role reference; the errors are worded as the
// authorizer's test resolver words them.
func (s *Set) roleRules(ref rbacv1.RoleRef, bindingNamespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		if bindingNamespace == "" {
			return nil, errors.New("must provide namespace when getting role")
		}
		if r, ok := s.roleByKey[[2]string{bindingNamespace, ref.Name}]; ok {
			return r.Rules, nil
		}
		return nil, errors.New("role not found")
	case "ClusterRole":
		if r, ok := s.clusterRoleByKey[ref.Name]; ok {
			return r.Rules, nil
		}
		return nil, errors.New("clusterrole not found")
	}
	return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
}

func appliesTo(u user.Info, subjects []rbacv1.Subject, ns string) (int, bool) {
	for i, s := range subjects {
		if appliesToUser(u, s, ns) {
			return i, true
		}
	}
	return 0, false
}

// appliesToUser: a ServiceAccount subject's namespace defaults to the
// binding's, so one without a namespace never matches in a
// ClusterRoleBinding; a subject's apiGroup is not checked.
func appliesToUser(u user.Info, s rbacv1.Subject, ns string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.GetName() == s.Name
	case rbacv1.GroupKind:
		return slices.Contains(u.GetGroups(), s.Name)
	case rbacv1.ServiceAccountKind:
		saNS := ns
		if s.Namespace != "" {
			saNS = s.Namespace
		}
		return saNS != "" && serviceaccount.MatchesUsername(saNS, s.Name, u.GetName())
	}
	return false
}
