// Package auditlog reads Kubernetes API-server audit logs: the JSON lines that
// kube-apiserver's log backend writes to --audit-log-path, rotated by lumberjack
// and gzipped when --audit-log-compress is set.
//
// A [Reader] streams the events of one input, plain, gzip or zstd (told apart by
// content), in bounded memory. Each [Event] gives the common fields as []byte
// views of the line, decoded without copying it; requestObject and
// responseObject stay raw JSON. Views are valid until the next call to
// [Reader.Next]; [Event.Clone] keeps an event. Package k8saudit converts an
// event to the upstream k8s.io/apiserver/pkg/apis/audit/v1 Event, equal to
// what encoding/json gives for the same line; this package imports nothing
// of k8s.io.
//
// [ReadFiles] reads a rotated set, a directory or a list of files in order
// (see [Expand]): the backups of an active log oldest first, then the log.
// [ScanFiles] and [ScanReader] do so on every core, running a [WorkFunc] on
// each event in the workers and delivering results in input order; [Merge]
// interleaves several such streams (one per control-plane node) by time.
//
// Real files are not always clean. Every problem is a [*ParseError] that names
// the file, line, column and byte offset; a bad line does not stop reading, and
// an I/O or decompression error stops only its file, after every event before
// it was delivered. Besides v1 events the Reader takes v1alpha1/v1beta1 events
// (their timestamp and metadata.creationTimestamp fill zero v1 timestamps, as
// upstream's conversion does), events without apiVersion, EventList documents
// (webhook batches), JSON arrays, pretty-printed events, CRLF, blank lines, a
// UTF-8 BOM and a final line without newline. Export envelopes (EKS, AKS,
// GKE, OpenShift, Loki) and the legacy text format are read with the formats
// of the packages under auditlog/format, given to [WithFormats]; without
// them a stream of such records is refused with an error that says what it
// looks like ([ErrLegacyFormat] for legacy lines).
//
// The package never prints, exits, or reads flags or the environment.
package auditlog
