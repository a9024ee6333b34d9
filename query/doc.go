// Package query will run jq expressions (through gojq) and auditq's named
// filters over the events that package auditlog reads. The command-line
// issue fills it; it holds only this documentation until then, so that the
// layout (cmd/auditq -> query -> auditlog) is in place.
package query
