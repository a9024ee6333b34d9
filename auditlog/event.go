package auditlog

import (
	"bytes"
	"time"
)

// Event is one audit event, decoded from the bytes of its line without copying them.
//
// Every accessor that returns []byte (directly or inside a returned struct) returns a
// view into the Reader's buffer. Views are valid until the next call to
// [Reader.Next], [Reader.Reset] or [Reader.Close]; call [Event.Clone] to keep an event
// longer. Views must not be modified. string(view) makes a copy.
//
// String values are unescaped: a JSON string without escapes and with valid UTF-8 is
// returned in place; otherwise it is decoded once, into a buffer the Event owns,
// exactly as encoding/json would (invalid UTF-8 and lone surrogates become U+FFFD).
//
// requestObject and responseObject stay raw JSON; they are never parsed unless
// the caller parses them.
//
// An Event is not safe for concurrent use while its Reader is reading.
type Event struct {
	raw []byte // the event's JSON object
	pos Position

	kind, apiVersion           []byte
	level, auditID, stage      []byte
	requestURI, verb           []byte
	userAgent                  []byte
	user                       UserInfo
	impersonated               UserInfo
	hasImpersonated            bool
	sourceIPs                  [][]byte // nil when absent or null
	objectRef                  ObjectRef
	hasObjectRef               bool
	status                     Status
	hasStatus                  bool
	requestObject              []byte // raw JSON; nil when absent or null
	responseObject             []byte
	authnMetadata              []byte // raw JSON of authenticationMetadata
	requestReceived, stageTime timestamp
	annotations                []Annotation // nil when absent or null

	// v1alpha1/v1beta1 fields that map onto the v1 timestamps (see timestampsFromLegacy).
	legacyTimestamp, legacyCreation timestamp

	// reusable storage behind the views above
	scratch     []byte
	groupsBuf   [][]byte
	ipsBuf      [][]byte
	extraBuf    []Extra
	valuesBuf   [][]byte
	annotsBuf   []Annotation
	members     []member // the top-level members, in order
	membersDone bool     // members is filled in

	// How the event was decoded (WithoutBodies, WithRawFields), for Clone.
	noBodies, rawFields bool

	origin Origin
	set    string // the rotation set of pos.File (SetOf)
	wrap   []byte // storage for event JSON a Format unwrapped (raw points into it)
}

// member is a top-level member of the event's object: its key (decoded) and
// the raw JSON of its value.
type member struct{ key, value []byte }

// Position locates an event or an error in its input. Line and Offset count the
// decompressed stream, so they match `zcat -f FILE | sed -n LINEp`.
type Position struct {
	File   string // name given to the Reader (the path, for files)
	Line   int    // 1-based line of the event's first byte
	Offset int64  // byte offset of the event's first byte
}

// UserInfo is a view of a user as recorded in an event (user or impersonatedUser).
// Its slices share the lifetime of the Event.
type UserInfo struct {
	Username []byte
	UID      []byte
	Groups   [][]byte // nil when absent or null
	Extra    []Extra  // in the order written; nil when absent or null
}

// Extra is one entry of UserInfo.Extra.
type Extra struct {
	Key    []byte
	Values [][]byte // nil when the value was null
}

// ObjectRef is a view of the objectRef of an event.
type ObjectRef struct {
	Resource, Namespace, Name, UID []byte
	APIGroup, APIVersion           []byte
	ResourceVersion, Subresource   []byte
}

// Status is a view of the responseStatus of an event (a metav1.Status).
type Status struct {
	Code    int32
	Status  []byte
	Reason  []byte
	Message []byte
	// Kind and APIVersion are the Status object's own, rarely written.
	Kind, APIVersion []byte
	// Metadata and Details are the raw JSON of metadata and details, nil
	// when absent or null. Their types were checked as upstream decodes them.
	Metadata, Details []byte
	// Raw is the whole responseStatus object, as written.
	Raw []byte
}

// Annotation is one key/value pair of an event's annotations.
type Annotation struct {
	Key, Value []byte
}

// timestamp is a parsed time kept as seconds and nanoseconds so that decoding
// never builds a time.Time it does not need.
type timestamp struct {
	sec  int64
	nsec int32
	set  bool
}

func (t timestamp) time() time.Time {
	if !t.set {
		return time.Time{}
	}
	return time.Unix(t.sec, int64(t.nsec)).UTC()
}

// Raw returns the event's JSON object exactly as written. Like every []byte
// accessor, it returns a view valid until the next Next; Clone to keep it.
func (e *Event) Raw() []byte { return e.raw }

// Pos returns where the event starts in its input. For an event unwrapped
// from an envelope, it is where the envelope holds it.
func (e *Event) Pos() Position { return e.pos }

// Origin returns what the event's envelope said of where it came from (see
// WithFormats); the zero Origin for kube-apiserver's own lines.
func (e *Event) Origin() Origin { return e.origin }

// Source names where the event came from, for grouping and filtering by
// API server: the cluster and node its envelope names, as "cluster/node"
// (either alone when the other is unknown), else the rotation set of its
// file (SetOf), else the Reader's name ("<stdin>"), else "".
func (e *Event) Source() string {
	return string(e.AppendSource(nil))
}

// AppendSource appends Source to dst.
func (e *Event) AppendSource(dst []byte) []byte {
	o := &e.origin
	switch {
	case len(o.Cluster) > 0 && len(o.Node) > 0:
		dst = append(append(append(dst, o.Cluster...), '/'), o.Node...)
	case len(o.Node) > 0:
		dst = append(dst, o.Node...)
	case len(o.Cluster) > 0:
		dst = append(dst, o.Cluster...)
	default:
		dst = append(dst, e.set...)
	}
	return dst
}

// Kind returns the "kind" field ("Event"; empty for EventList items and for writers that omit it).
func (e *Event) Kind() []byte { return e.kind }

// APIVersion returns the "apiVersion" field, e.g. "audit.k8s.io/v1".
func (e *Event) APIVersion() []byte { return e.apiVersion }

// Level returns the audit level: None, Metadata, Request or RequestResponse.
func (e *Event) Level() []byte { return e.level }

// AuditID returns the request's audit ID, shared by all stages of one request.
func (e *Event) AuditID() []byte { return e.auditID }

// Stage returns RequestReceived, ResponseStarted, ResponseComplete or Panic.
func (e *Event) Stage() []byte { return e.stage }

// RequestURI returns the request URI as sent by the client.
func (e *Event) RequestURI() []byte { return e.requestURI }

// Verb returns the Kubernetes verb (get, list, watch, create, ...) or the
// lower-cased HTTP method for non-resource requests.
func (e *Event) Verb() []byte { return e.verb }

// UserAgent returns the client's user agent. It is attacker-controlled: escape it
// before printing it to a terminal.
func (e *Event) UserAgent() []byte { return e.userAgent }

// User returns the authenticated user. The result points into the Event.
func (e *Event) User() *UserInfo { return &e.user }

// ImpersonatedUser returns the impersonated user, or nil when the request did not
// impersonate.
func (e *Event) ImpersonatedUser() *UserInfo {
	if !e.hasImpersonated {
		return nil
	}
	return &e.impersonated
}

// SourceIPs returns the client addresses, first the X-Forwarded-For chain, then the
// peer address.
func (e *Event) SourceIPs() [][]byte { return e.sourceIPs }

// ObjectRef returns the object the request was about, or nil for non-resource
// requests.
func (e *Event) ObjectRef() *ObjectRef {
	if !e.hasObjectRef {
		return nil
	}
	return &e.objectRef
}

// ResponseStatus returns the response status, or nil when the event has none
// (RequestReceived events).
func (e *Event) ResponseStatus() *Status {
	if !e.hasStatus {
		return nil
	}
	return &e.status
}

// Code returns responseStatus.code, or 0 when there is none.
func (e *Event) Code() int32 {
	if !e.hasStatus {
		return 0
	}
	return e.status.Code
}

// AuthenticationMetadata returns the raw JSON of authenticationMetadata
// (how an impersonation was authorized), or nil. Its type was checked as
// upstream decodes it.
func (e *Event) AuthenticationMetadata() []byte { return e.authnMetadata }

// RequestObject returns the raw JSON of requestObject (logged at level Request and
// above), or nil.
func (e *Event) RequestObject() []byte { return e.requestObject }

// ResponseObject returns the raw JSON of responseObject (logged at level
// RequestResponse), or nil.
func (e *Event) ResponseObject() []byte { return e.responseObject }

// RequestReceivedTimestamp returns when the request reached the server (UTC), or the
// zero time when the event has none. For v1alpha1/v1beta1 events without it, it is
// taken from the legacy "timestamp" field, as upstream's conversion does.
func (e *Event) RequestReceivedTimestamp() time.Time { return e.requestReceived.time() }

// StageTimestamp returns when the event's stage was reached (UTC), or the zero time.
// For v1alpha1/v1beta1 events without it, it is taken from
// metadata.creationTimestamp, as upstream's conversion does.
func (e *Event) StageTimestamp() time.Time { return e.stageTime.time() }

// Time returns the time the event stands for: its stageTimestamp, else its
// requestReceivedTimestamp; the zero time when it has neither. Filters by
// time, the newest event of a log and merging logs by time all go by it.
func (e *Event) Time() time.Time {
	if !e.stageTime.isZero() {
		return e.stageTime.time()
	}
	return e.requestReceived.time()
}

// Annotations returns the annotations in the order written, or nil.
// If a key repeats, the last one is the event's value (see Annotation).
func (e *Event) Annotations() []Annotation { return e.annotations }

// Annotation returns the value of one annotation, e.g.
// "authorization.k8s.io/decision".
func (e *Event) Annotation(key string) ([]byte, bool) {
	for i := len(e.annotations) - 1; i >= 0; i-- {
		if string(e.annotations[i].Key) == key {
			return e.annotations[i].Value, true
		}
	}
	return nil, false
}

// RawField returns the raw JSON of the value of the event's top-level member
// key (the last one, if the key is repeated), and whether there is one: a view,
// with the lifetime of the event's other views. A Reader made WithRawFields
// records the members as it decodes; otherwise the first call finds them.
// With WithoutBodies, the bodies (requestObject, responseObject) may be missing.
func (e *Event) RawField(key string) ([]byte, bool) {
	if !e.membersDone {
		e.scanMembers()
	}
	for i := len(e.members) - 1; i >= 0; i-- {
		if string(e.members[i].key) == key {
			return e.members[i].value, true
		}
	}
	return nil, false
}

// DecodeRaw decodes again, into ev, the Raw bytes of an event that decoded
// without error, without bodies (as WithoutBodies reads them): the event's
// fields, without its position, origin or source. Folding callers keep an
// event's Raw (see ScanFolded) rather than the event, and decode it again
// in the rare case they need it. It reports an error for bytes that are not
// an event.
func DecodeRaw(ev *Event, raw []byte) error {
	ev.reset(nil)
	_, err := decodeEvent(ev, raw, true, false)
	return err
}

// Clone returns a copy of the event that owns its bytes and stays valid after the
// Reader moves on. The copy is decoded as the event was (with or without
// bodies), so it has the same fields; it never fails.
func (e *Event) Clone() *Event {
	c := &Event{}
	if e.raw == nil {
		return c
	}
	// These bytes decoded without error in this mode, and decoding is a
	// function of the bytes and the mode, so the copy decodes the same.
	decodeEvent(c, bytes.Clone(e.raw), e.noBodies, e.rawFields)
	c.pos = e.pos
	c.origin = Origin{Format: e.origin.Format, Cluster: bytes.Clone(e.origin.Cluster), Node: bytes.Clone(e.origin.Node)}
	c.set = e.set
	return c
}
