package rbac

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// RuleAllows reports whether rule allows the request, as kube-apiserver's
// RBAC authorizer decides it (k8s.io/kubernetes pkg/apis/rbac/v1
// evaluation_helpers.go, which a library cannot import): verbs and API
// groups match "*" or exactly; resources match "*", "resource/subresource"
// exactly, or "*/subresource"; "pods" does not match "pods/log"; an empty
// resourceNames matches every name and none, a non-empty one only a request
// naming one of them; a nonResourceURL matches "*", exactly, or as a prefix
// when it ends in "*".
func RuleAllows(a authorizer.Attributes, rule *rbacv1.PolicyRule) bool {
	if a.IsResourceRequest() {
		combined := a.GetResource()
		if sub := a.GetSubresource(); sub != "" {
			combined += "/" + sub
		}
		return verbMatches(rule, a.GetVerb()) &&
			apiGroupMatches(rule, a.GetAPIGroup()) &&
			resourceMatches(rule, combined, a.GetSubresource()) &&
			resourceNameMatches(rule, a.GetName())
	}
	return verbMatches(rule, a.GetVerb()) && nonResourceURLMatches(rule, a.GetPath())
}

func verbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	for _, v := range rule.Verbs {
		if v == rbacv1.VerbAll || v == verb {
			return true
		}
	}
	return false
}

func apiGroupMatches(rule *rbacv1.PolicyRule, group string) bool {
	for _, g := range rule.APIGroups {
		if g == rbacv1.APIGroupAll || g == group {
			return true
		}
	}
	return false
}

func resourceMatches(rule *rbacv1.PolicyRule, combined, subresource string) bool {
	for _, r := range rule.Resources {
		if r == rbacv1.ResourceAll || r == combined {
			return true
		}
		if subresource != "" && len(r) == len(subresource)+2 && strings.HasPrefix(r, "*/") && strings.HasSuffix(r, subresource) {
			return true
		}
	}
	return false
}

func resourceNameMatches(rule *rbacv1.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	for _, n := range rule.ResourceNames {
		if n == name {
			return true
		}
	}
	return false
}

func nonResourceURLMatches(rule *rbacv1.PolicyRule, path string) bool {
	for _, u := range rule.NonResourceURLs {
		if u == rbacv1.NonResourceAll || u == path {
			return true
		}
		if strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimRight(u, "*")) {
			return true
		}
	}
	return false
}
