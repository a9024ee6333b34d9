// Package query holds auditq's filters: a [Filter] names the events to keep
// (service account, user, group, verb, resource, namespace, name, code,
// stage, level, time) and compiles to a [Matcher], matched against the
// decoded values of an event, so JSON escapes never hide a match.
// [Matcher.Literals] feeds auditlog's chunk prefilter; [Newest] resolves
// relative times (--since 2h) against the newest event of a log.
//
// Nothing here prints or reads flags; errors name the flag value at fault.
package query
