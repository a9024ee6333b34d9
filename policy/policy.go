package policy

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/apis/audit/validation"
	"k8s.io/apiserver/pkg/audit"
	kpolicy "k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"sigs.k8s.io/yaml"
)

// Policy is an audit policy as kube-apiserver loads it (--audit-policy-file),
// evaluated with k8s.io/apiserver's own rule evaluator, and able to say which
// rule decided.
type Policy struct {
	Name string // the file, for messages
	// APIVersion is the one the file declares. audit.k8s.io/v1beta1 and
	// v1alpha1, which current kube-apiservers refuse, are read as v1 (the rule
	// schema is the same) and noted in Notes.
	APIVersion string
	// Spec is the policy as written, in k8s.io/apiserver's internal type.
	Spec *auditinternal.Policy
	// Notes are what kube-apiserver would warn about or refuse: an old
	// apiVersion, unknown fields (which it ignores).
	Notes []string

	eval audit.PolicyRuleEvaluator
	// probes[i] evaluates rule i alone, at a level other than None, so that
	// a match is told apart from no match.
	probes []audit.PolicyRuleEvaluator
}

// Decision is what a policy decides for one request.
type Decision struct {
	Rule              int // index of the first rule that matched; -1: none (level None)
	Level             auditinternal.Level
	OmitStages        []auditinternal.Stage // the rule's and the policy's
	OmitManagedFields bool
}

// Load reads an audit policy file (YAML or JSON) as kube-apiserver does:
// strictly, then leniently with the problem kept in Notes, then validated
// with k8s.io/apiserver's validation. name is the file, for messages.
func Load(name string, data []byte) (*Policy, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not YAML or JSON: %w", name, err)
	}
	if err := yaml.Unmarshal(js, &head); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if head.Kind != "Policy" {
		return nil, fmt.Errorf("%s: kind %q, want an audit Policy (kind: Policy, apiVersion: audit.k8s.io/v1)", name, head.Kind)
	}
	p := &Policy{Name: name, APIVersion: head.APIVersion}
	switch head.APIVersion {
	case "audit.k8s.io/v1":
	case "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1":
		p.Notes = append(p.Notes, fmt.Sprintf("apiVersion %s is refused by kube-apiserver since v1.24; read as audit.k8s.io/v1, whose rules have the same schema: change the apiVersion line to audit.k8s.io/v1", head.APIVersion))
		js = []byte(strings.Replace(string(js), `"apiVersion":"`+head.APIVersion+`"`, `"apiVersion":"audit.k8s.io/v1"`, 1))
	default:
		return nil, fmt.Errorf("%s: apiVersion %q, want audit.k8s.io/v1", name, head.APIVersion)
	}

	pol := &auditinternal.Policy{}
	strict := serializer.NewCodecFactory(audit.Scheme, serializer.EnableStrict).UniversalDecoder()
	if _, _, err := strict.Decode(js, nil, pol); err != nil {
		if !runtime.IsStrictDecodingError(err) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		p.Notes = append(p.Notes, fmt.Sprintf("kube-apiserver would ignore, with a warning: %v", err))
		pol = &auditinternal.Policy{}
		if _, _, err := audit.Codecs.UniversalDecoder().Decode(js, nil, pol); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if errs := validation.ValidatePolicy(pol); len(errs) > 0 {
		return nil, fmt.Errorf("%s: kube-apiserver would refuse it: %w", name, errs.ToAggregate())
	}
	if len(pol.Rules) == 0 {
		return nil, fmt.Errorf("%s: a policy with no rules is refused by kube-apiserver", name)
	}
	p.Spec = pol.DeepCopy() // as written: the evaluator merges the policy's omitStages into its copy's rules
	p.eval = kpolicy.NewPolicyRuleEvaluator(pol)
	for _, r := range pol.Rules {
		probe := *pol.DeepCopy()
		r := *r.DeepCopy()
		r.Level = auditinternal.LevelMetadata
		probe.Rules = []auditinternal.PolicyRule{r}
		p.probes = append(p.probes, kpolicy.NewPolicyRuleEvaluator(&probe))
	}
	return p, nil
}

// Decide evaluates the policy for a request, as kube-apiserver's WithAudit
// filter does, and finds the rule that decided. Attributes(ev) gives the
// attributes of a logged request.
func (p *Policy) Decide(attrs authorizer.Attributes) Decision {
	rac := p.eval.EvaluatePolicyRule(attrs)
	d := Decision{Rule: -1, Level: rac.Level, OmitStages: rac.OmitStages, OmitManagedFields: rac.OmitManagedFields}
	for i, probe := range p.probes {
		if probe.EvaluatePolicyRule(attrs).Level != auditinternal.LevelNone {
			d.Rule = i
			break
		}
	}
	return d
}
