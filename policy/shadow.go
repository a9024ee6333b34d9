package policy

import (
	"slices"
	"strings"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
)

// Shadowing is a rule that can never match, because an earlier one matches
// every request it would.
type Shadowing struct {
	Rule       int `json:"rule"`     // 1-based
	ShadowedBy int `json:"shadowBy"` // the earlier rule, 1-based
}

// Shadowed finds the rules of p that an earlier rule shadows, judged from
// the rules alone with k8s.io/apiserver's matching semantics. It is sound,
// not complete: a rule reported can never match; a rule that can never
// match only through a combination of earlier rules is not found.
func (p *Policy) Shadowed() []Shadowing {
	var out []Shadowing
	rules := p.Spec.Rules
	for j := range rules {
		for i := range j {
			if ruleCovers(&rules[i], &rules[j]) {
				out = append(out, Shadowing{Rule: j + 1, ShadowedBy: i + 1})
				break
			}
		}
	}
	return out
}

// ruleCovers reports whether every request b matches, a matches too.
func ruleCovers(a, b *auditinternal.PolicyRule) bool {
	if !listCovers(a.Users, b.Users) || !listCovers(a.UserGroups, b.UserGroups) || !listCovers(a.Verbs, b.Verbs) {
		return false
	}
	aRes := len(a.Namespaces) > 0 || len(a.Resources) > 0
	bRes := len(b.Namespaces) > 0 || len(b.Resources) > 0
	switch {
	case aRes:
		if !bRes {
			return false // b matches non-resource requests (or only them), a none
		}
		if !listCovers(a.Namespaces, b.Namespaces) {
			return false
		}
		if len(a.Resources) == 0 {
			return true
		}
		if len(b.Resources) == 0 {
			return false
		}
		for _, bgr := range b.Resources {
			if !groupCovered(a.Resources, bgr) {
				return false
			}
		}
		return true
	case len(a.NonResourceURLs) > 0:
		if bRes || len(b.NonResourceURLs) == 0 {
			return false
		}
		for _, u := range b.NonResourceURLs {
			if !slices.ContainsFunc(a.NonResourceURLs, func(spec string) bool { return urlSpecCovers(spec, u) }) {
				return false
			}
		}
		return true
	}
	return true // a matches every request its user and verb lists allow
}

// listCovers: a list constraint that is empty matches everything; otherwise
// b's must be a non-empty subset.
func listCovers(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, s := range b {
		if !slices.Contains(a, s) {
			return false
		}
	}
	return true
}

func groupCovered(as []auditinternal.GroupResources, b auditinternal.GroupResources) bool {
	if len(b.Resources) == 0 {
		// b matches every resource of its group: only a whole-group entry covers it.
		return slices.ContainsFunc(as, func(a auditinternal.GroupResources) bool {
			return (a.Group == "*" || a.Group == b.Group) && len(a.Resources) == 0
		})
	}
	for _, res := range b.Resources {
		if !slices.ContainsFunc(as, func(a auditinternal.GroupResources) bool {
			if a.Group != "*" && a.Group != b.Group {
				return false
			}
			if len(a.Resources) == 0 {
				return true
			}
			return listCovers(a.ResourceNames, b.ResourceNames) &&
				slices.ContainsFunc(a.Resources, func(ar string) bool { return resourceCovers(ar, res) })
		}) {
			return false
		}
	}
	return true
}

// resourceCovers: every resource b matches, a matches ("*", "r", "r/s",
// "r/*" and "*/s" as the evaluator reads them).
func resourceCovers(a, b string) bool {
	if a == "*" || a == b {
		return true
	}
	bRes, bSub, _ := strings.Cut(b, "/")
	if r, ok := strings.CutSuffix(a, "/*"); ok && r != "*" {
		return bRes == r // "r/*" matches r itself and every subresource of r
	}
	if s, ok := strings.CutPrefix(a, "*/"); ok {
		return bSub == s && bSub != ""
	}
	return false
}

// urlSpecCovers: every path b matches, a matches.
func urlSpecCovers(a, b string) bool {
	if a == "*" || a == b {
		return true
	}
	if prefix, ok := strings.CutSuffix(a, "*"); ok {
		return strings.HasPrefix(strings.TrimRight(b, "*"), prefix)
	}
	return false
}
