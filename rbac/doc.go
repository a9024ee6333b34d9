// Package rbac answers RBAC questions from the requests an audit log
// records: which Roles and bindings a subject needs (least privilege that
// provably allows what it did), what an RBAC dump would refuse of it, and
// which granted permissions it never used.
//
// The authorizer is re-implemented here, rule for rule, from kube-apiserver's
// RBAC authorizer and rule resolver ([RuleAllows], [Set.Authorize]): a
// library cannot import k8s.io/kubernetes. The module rbac/upstreamtest
// checks, on random rules, bindings and requests, that every decision and
// reason agrees with the real one.
//
// The log records the authorizer's own verdict on every request
// (authorization.k8s.io/decision and reason): [Classify] uses it to tell
// what RBAC allowed from what system:masters, another authorizer, an
// admission plugin or a refused impersonation decided, so that only what
// RBAC must grant is generated.
package rbac
