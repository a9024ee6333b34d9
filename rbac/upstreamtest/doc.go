// Package upstreamtest holds the tests that compare package rbac with the
// RBAC authorizer of k8s.io/kubernetes itself. It is a module of its own so
// that k8s.io/kubernetes, and the replace lines it needs for its staging
// modules, never reach the auditq module's go.mod: a library user's `go get`
// would fail on them.
package upstreamtest
