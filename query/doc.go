// Package query selects and describes the events that package auditlog reads:
// it is the matcher between auditlog (the reader) and cmd/auditq (the printer).
//
//   - [Filter] and [Matcher]: auditq's filters (service account, user, group,
//     verb, resource, namespace, name, code, stage, level, time), matched
//     against the decoded values of an event, so JSON escapes never hide a match.
//   - [Compile] and [Program]: jq expressions run by gojq; a Program may be
//     shared by goroutines. [Value] turns an event into the value gojq reads,
//     exactly as the gojq command decodes its input.
//   - [Summarizer]: the counts behind `auditq summary`, in bounded memory per
//     distinct key, copying every key it keeps.
//
// Nothing here prints or reads flags; errors name the flag value at fault.
package query
