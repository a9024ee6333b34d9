// Package apiserver holds the test that applies generated RBAC to a real
// kube-apiserver. It is a package of its own so that the other upstream
// tests (and their fuzz target) do not link the API server.
package apiserver
