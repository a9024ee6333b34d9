// Package policy evaluates Kubernetes audit policies against the events of a
// log, with kube-apiserver's own code (k8s.io/apiserver): [Load] reads a
// policy file as kube-apiserver does; [Policy.Decide] evaluates it for a
// request, with [Attributes] rebuilding the request from its event, and
// names the rule that decided; [Policy.Apply] writes an event as the policy
// would have it written; [Simulation] counts what each rule keeps, trims and
// drops; [Comparison] puts two policies side by side; [Policy.Shadowed] and
// [Policy.Lint] check the rules themselves.
//
// A log only holds what its own policy logged: an event logged at a lower
// level than a policy asks is counted as under-logged, and the size under
// that policy is a lower bound.
//
// This is the one analysis package that imports k8s.io/apiserver (and runs
// the init of its audit package, which registers Prometheus counters).
package policy
