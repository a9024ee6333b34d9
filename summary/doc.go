// Package summary counts what a responder reads first about a log: the time
// range, events and requests, requests by verb and code, the top users,
// service accounts, resources, namespaces, user agents and source IPs,
// failures and authorization denials, latency percentiles, sensitive
// activity and the request rate over time. A [Builder] takes events one at
// a time, in log order, and its [Report] has stable JSON keys.
//
// Memory stays bounded however long the log: a request is remembered while
// it is in flight (see internal/requests), each top list keeps at most
// 131,072 keys (pruning the least frequent, which marks the report
// approximate), and latency goes into a log-bucketed histogram.
// A Builder copies every key it keeps, so events may be views that the
// reader reuses.
package summary
