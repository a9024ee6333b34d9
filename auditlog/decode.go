package auditlog

import (
	"bytes"
)

// maxDepth matches encoding/json's nesting limit, so both accept the same inputs.
const maxDepth = 10000

// depthMsg is the error for a value nested deeper than maxDepth (encoding/json
// says "exceeded max depth").
const depthMsg = "exceeded max depth: JSON nested more than 10000 levels deep"

// decodeError is a fault at an offset of the decoded bytes. incomplete is set when
// the bytes ended inside a value, which framing uses to join pretty-printed lines.
type decodeError struct {
	off        int
	err        error
	incomplete bool
}

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// decoder decodes one JSON document into an Event. Field semantics follow
// encoding/json decoding into auditv1.Event (null, duplicate keys, strict int32,
// U+FFFD for invalid UTF-8), except that keys match case-sensitively, as in
// Kubernetes' own decoder (sigs.k8s.io/json).
type decoder struct {
	data    []byte
	pos     int
	ev      *Event
	scratch *[]byte // where strings with escapes are decoded to
	depth   int
	typeErr *decodeError // first field-type error; syntax errors take precedence

	itemsOff int  // offset of the "items" array of an EventList, or -1
	topArray bool // the document is a JSON array

	noBodies bool // WithoutBodies: requestObject and responseObject are not kept
	jumped   bool // bodies were stepped over by bodyJump
	members  bool // WithRawFields: record the top-level members

	// The event's members so far came in kube-apiserver's order (see at).
	canonical bool
	last      int8   // the last member's place in that order
	seen      uint32 // bit m: member m was seen
}

// The members of an event in the order of the audit.k8s.io/v1 Event type,
// which is the order kube-apiserver's encoder writes them in.
const (
	mKind int8 = iota
	mAPIVersion
	mLevel
	mAuditID
	mStage
	mRequestURI
	mVerb
	mUser
	mImpersonatedUser
	mAuthenticationMetadata
	mSourceIPs
	mUserAgent
	mObjectRef
	mResponseStatus
	mRequestObject
	mResponseObject
	mRequestReceivedTimestamp
	mStageTimestamp
	mAnnotations
	mLegacy // timestamp and metadata: v1alpha1 and v1beta1 members
	mOther  // a key the audit Event types do not have
)

// writtenBeforeBodies are the members kube-apiserver writes before the
// bodies of every event that has bodies (a resource request), and
// responseStatus those of every stage after RequestReceived.
const (
	writtenBeforeBodies = 1<<mLevel | 1<<mAuditID | 1<<mStage | 1<<mRequestURI | 1<<mVerb | 1<<mUser | 1<<mSourceIPs | 1<<mObjectRef
	statusBeforeBodies  = 1 << mResponseStatus
)

// at notes that a top-level member m starts, and whether the members so far
// are in kube-apiserver's order, each once.
func (d *decoder) at(m int8) {
	if m >= mLegacy || m <= d.last {
		d.canonical = false
	} else {
		d.last = m
	}
	d.seen |= 1 << m
}

// decodeEvent decodes the document data into ev. The returned decoder tells
// whether the document was a list (see isList). With noBodies, the bodies are
// stepped over when the line has kube-apiserver's shape; a line on which that
// goes wrong is decoded again in full, so that its result and errors are the
// full decoder's.
func decodeEvent(ev *Event, data []byte, noBodies, members bool) (decoder, error) {
	d := decoder{data: data, ev: ev, scratch: &ev.scratch, itemsOff: -1, noBodies: noBodies, members: members, canonical: true, last: -1}
	ev.reset(data)
	err := d.topLevel()
	if d.jumped && (err != nil || !d.canonical) {
		d = decoder{data: data, ev: ev, scratch: &ev.scratch, itemsOff: -1, members: members, last: -1}
		ev.reset(data)
		err = d.topLevel()
	}
	ev.noBodies, ev.rawFields = noBodies, members
	if err != nil {
		return d, err
	}
	ev.timestampsFromLegacy()
	if noBodies {
		ev.requestObject, ev.responseObject = nil, nil
	}
	return d, nil
}

// bodyTail starts the members kube-apiserver writes after the bodies.
var bodyTail = []byte(`,"requestReceivedTimestamp":`)

// bodyJump steps over the bodies without reading them. kube-apiserver writes
// requestObject and responseObject after every other field but the two
// timestamps and the annotations, so the last `,"requestReceivedTimestamp":`
// of the line ends them. The jump is taken only on a line in that shape: the
// members so far in kube-apiserver's order, with those it always writes
// before the bodies among them, the value at d.pos an object, and the byte
// before that key closing one. The rest of the line must then decode as the
// members that close the event, in order, else decodeEvent starts over with
// the full decoder. What is not checked is the inside of the bodies, and
// that a writer which keeps kube-apiserver's order puts nothing else between
// the bodies (a userAgent, an impersonatedUser, an unknown member).
func (d *decoder) bodyJump() bool {
	if d.depth != 1 || d.pos >= len(d.data) || d.data[d.pos] != '{' ||
		!d.canonical || d.seen&writtenBeforeBodies != writtenBeforeBodies ||
		d.seen&statusBeforeBodies == 0 && string(d.ev.stage) != "RequestReceived" {
		return false
	}
	t := lastIndex(d.data, bodyTail)
	if t <= d.pos || d.data[t-1] != '}' {
		return false
	}
	d.pos, d.jumped = t, true
	return true
}

// lastIndex is bytes.LastIndex for a needle found near the end of the line:
// it tests the needle only where its last byte occurs.
func lastIndex(s, needle []byte) int {
	last := needle[len(needle)-1]
	for end := len(s); end >= len(needle); {
		i := bytes.LastIndexByte(s[:end], last)
		if i < len(needle)-1 {
			return -1
		}
		if start := i + 1 - len(needle); bytes.Equal(s[start:i+1], needle) {
			return start
		}
		end = i
	}
	return -1
}

func (e *Event) reset(raw []byte) {
	groups, ips, extra, values, annots, scratch, members := e.groupsBuf[:0], e.ipsBuf[:0], e.extraBuf[:0], e.valuesBuf[:0], e.annotsBuf[:0], e.scratch[:0], e.members[:0]
	if groups == nil {
		groups, ips, values = make([][]byte, 0, 8), make([][]byte, 0, 4), make([][]byte, 0, 4)
		extra, annots = make([]Extra, 0, 4), make([]Annotation, 0, 8)
	}
	*e = Event{raw: raw, groupsBuf: groups, ipsBuf: ips, extraBuf: extra, valuesBuf: values, annotsBuf: annots, scratch: scratch, members: members, wrap: e.wrap}
}

// timestampsFromLegacy applies upstream's v1alpha1/v1beta1 conversion
// (Convert_v1beta1_Event_To_audit_Event): a zero stageTimestamp comes from
// metadata.creationTimestamp, a zero requestReceivedTimestamp from timestamp.
func (e *Event) timestampsFromLegacy() {
	if e.legacyCreation.set && e.stageTime.isZero() {
		e.stageTime = e.legacyCreation
	}
	if e.legacyTimestamp.set && e.requestReceived.isZero() {
		e.requestReceived = e.legacyTimestamp
	}
}

func (t timestamp) isZero() bool { return !t.set || t.time().IsZero() }

// topLevel decodes the document, which must be one object (an Event or an
// EventList) or an array, surrounded only by whitespace.
func (d *decoder) topLevel() error {
	d.ws()
	if d.pos >= len(d.data) {
		return d.incomplete()
	}
	switch d.data[d.pos] {
	case '{':
		if err := d.eventObject(); err != nil {
			return err
		}
	case '[':
		d.itemsOff, d.topArray = d.pos, true
		if err := d.skip(); err != nil {
			return err
		}
	default:
		start := d.pos
		if err := d.skip(); err != nil {
			return err
		}
		return &decodeError{off: start, err: ErrNotEvent}
	}
	d.ws()
	if d.pos < len(d.data) {
		return d.syntax("invalid character " + quoteChar(d.data[d.pos]) + " after top-level value")
	}
	if d.typeErr != nil {
		return d.typeErr
	}
	return nil
}

func (d *decoder) eventObject() error {
	e := d.ev
	return d.object(func(key []byte) error {
		if !d.members {
			return d.eventMember(key)
		}
		start, jumped := d.pos, d.jumped
		if err := d.eventMember(key); err != nil {
			return err
		}
		if d.jumped == jumped { // a jump spans more than one member
			e.members = append(e.members, member{key, d.data[start:d.pos:d.pos]})
		}
		e.membersDone = true
		return nil
	})
}

// scanMembers records the top-level members of e.raw, for RawField on an
// event decoded without WithRawFields.
func (e *Event) scanMembers() {
	e.members, e.membersDone = e.members[:0], true
	d := decoder{data: e.raw, ev: e, scratch: &e.scratch, itemsOff: -1}
	d.ws()
	if !d.isObject() {
		return
	}
	d.object(func(key []byte) error {
		start := d.pos
		if err := d.skip(); err != nil {
			return err
		}
		e.members = append(e.members, member{key, d.data[start:d.pos:d.pos]})
		return nil
	})
}

func (d *decoder) eventMember(key []byte) error {
	e := d.ev
	switch string(key) {
	case "kind":
		d.at(mKind)
		return d.str(&e.kind, "kind")
	case "apiVersion":
		d.at(mAPIVersion)
		return d.str(&e.apiVersion, "apiVersion")
	case "level":
		d.at(mLevel)
		return d.str(&e.level, "level")
	case "auditID":
		d.at(mAuditID)
		return d.str(&e.auditID, "auditID")
	case "stage":
		d.at(mStage)
		return d.str(&e.stage, "stage")
	case "requestURI":
		d.at(mRequestURI)
		return d.str(&e.requestURI, "requestURI")
	case "verb":
		d.at(mVerb)
		return d.str(&e.verb, "verb")
	case "userAgent":
		d.at(mUserAgent)
		return d.str(&e.userAgent, "userAgent")
	case "user":
		d.at(mUser)
		if d.null() {
			return nil
		}
		return d.userInfo(&e.user, &userFields)
	case "impersonatedUser":
		d.at(mImpersonatedUser)
		if d.null() {
			e.hasImpersonated = false
			e.impersonated = UserInfo{}
			return nil
		}
		if !d.isObject() {
			return d.typeMismatch("impersonatedUser", "object")
		}
		if !e.hasImpersonated {
			e.hasImpersonated = true
			e.impersonated = UserInfo{}
		}
		return d.userInfo(&e.impersonated, &impersonatedFields)
	case "sourceIPs":
		d.at(mSourceIPs)
		return d.strList(&e.sourceIPs, &e.ipsBuf, "sourceIPs")
	case "objectRef":
		d.at(mObjectRef)
		return d.objectRef()
	case "responseStatus":
		d.at(mResponseStatus)
		return d.responseStatus()
	case "requestObject":
		d.at(mRequestObject)
		if d.noBodies && d.bodyJump() {
			return nil
		}
		return d.rawValue(&e.requestObject)
	case "responseObject":
		d.at(mResponseObject)
		if d.noBodies && d.bodyJump() {
			return nil
		}
		return d.rawValue(&e.responseObject)
	case "requestReceivedTimestamp":
		d.at(mRequestReceivedTimestamp)
		return d.microTime(&e.requestReceived, "requestReceivedTimestamp")
	case "stageTimestamp":
		d.at(mStageTimestamp)
		return d.microTime(&e.stageTime, "stageTimestamp")
	case "annotations":
		d.at(mAnnotations)
		return d.annotations()
	case "authenticationMetadata":
		d.at(mAuthenticationMetadata)
		return d.typedRaw(&e.authnMetadata, "authenticationMetadata", checkAuthnMetadata)
	case "timestamp": // v1alpha1/v1beta1
		d.at(mLegacy)
		return d.legacyTime(&e.legacyTimestamp)
	case "metadata": // v1alpha1/v1beta1: only creationTimestamp matters
		d.at(mLegacy)
		return d.legacyMetadata()
	case "items": // EventList
		d.at(mOther)
		if d.pos < len(d.data) && d.data[d.pos] == '[' {
			d.itemsOff = d.pos
		}
		return d.skip()
	default:
		d.at(mOther)
		return d.skip()
	}
}

// userFieldNames are constant so that no field path is built unless it is reported.
type userFieldNames struct{ self, username, uid, groups, extra string }

var (
	userFields         = userFieldNames{"user", "user.username", "user.uid", "user.groups", "user.extra"}
	impersonatedFields = userFieldNames{"impersonatedUser", "impersonatedUser.username", "impersonatedUser.uid", "impersonatedUser.groups", "impersonatedUser.extra"}
)

func (d *decoder) userInfo(u *UserInfo, f *userFieldNames) error {
	if !d.isObject() {
		return d.typeMismatch(f.self, "object")
	}
	return d.object(func(key []byte) error {
		switch string(key) {
		case "username":
			return d.str(&u.Username, f.username)
		case "uid":
			return d.str(&u.UID, f.uid)
		case "groups":
			return d.strList(&u.Groups, &d.ev.groupsBuf, f.groups)
		case "extra":
			return d.extra(u, f.extra)
		default:
			return d.skip()
		}
	})
}

func (d *decoder) extra(u *UserInfo, field string) error {
	e := d.ev
	if d.null() {
		u.Extra = nil
		return nil
	}
	if !d.isObject() {
		return d.typeMismatch(field, "object")
	}
	// Entries are kept contiguous in extraBuf; merging a repeated "extra" moves the
	// earlier entries to the end first, as encoding/json merges into the same map.
	start := len(e.extraBuf)
	e.extraBuf = append(e.extraBuf, u.Extra...)
	if u.Extra == nil {
		u.Extra = e.extraBuf[start:start:start]
	}
	err := d.object(func(key []byte) error {
		var values [][]byte
		if err := d.strList(&values, &e.valuesBuf, ""); err != nil {
			return err
		}
		d.nameField(field, key)
		e.extraBuf = append(e.extraBuf, Extra{Key: key, Values: values})
		return nil
	})
	u.Extra = e.extraBuf[start:len(e.extraBuf):len(e.extraBuf)]
	return err
}

func (d *decoder) objectRef() error {
	e := d.ev
	if d.null() {
		e.hasObjectRef = false
		e.objectRef = ObjectRef{}
		return nil
	}
	if !d.isObject() {
		return d.typeMismatch("objectRef", "object")
	}
	if !e.hasObjectRef {
		e.hasObjectRef = true
		e.objectRef = ObjectRef{}
	}
	o := &e.objectRef
	return d.object(func(key []byte) error {
		switch string(key) {
		case "resource":
			return d.str(&o.Resource, "objectRef.resource")
		case "namespace":
			return d.str(&o.Namespace, "objectRef.namespace")
		case "name":
			return d.str(&o.Name, "objectRef.name")
		case "uid":
			return d.str(&o.UID, "objectRef.uid")
		case "apiGroup":
			return d.str(&o.APIGroup, "objectRef.apiGroup")
		case "apiVersion":
			return d.str(&o.APIVersion, "objectRef.apiVersion")
		case "resourceVersion":
			return d.str(&o.ResourceVersion, "objectRef.resourceVersion")
		case "subresource":
			return d.str(&o.Subresource, "objectRef.subresource")
		default:
			return d.skip()
		}
	})
}

func (d *decoder) responseStatus() error {
	e := d.ev
	if d.null() {
		e.hasStatus = false
		e.status = Status{}
		return nil
	}
	if !d.isObject() {
		return d.typeMismatch("responseStatus", "object")
	}
	if !e.hasStatus {
		e.hasStatus = true
		e.status = Status{}
	}
	s := &e.status
	start := d.pos
	err := d.object(func(key []byte) error {
		switch string(key) {
		case "code":
			return d.int32(&s.Code, "responseStatus.code")
		case "status":
			return d.str(&s.Status, "responseStatus.status")
		case "reason":
			return d.str(&s.Reason, "responseStatus.reason")
		case "message":
			return d.str(&s.Message, "responseStatus.message")
		case "kind":
			return d.str(&s.Kind, "responseStatus.kind")
		case "apiVersion":
			return d.str(&s.APIVersion, "responseStatus.apiVersion")
		case "metadata":
			if d.null() {
				return nil
			}
			return d.typedRaw(&s.Metadata, "responseStatus.metadata", checkListMeta)
		case "details":
			if d.null() {
				s.Details = nil
				return nil
			}
			start := d.pos
			if err := d.statusDetails(); err != nil {
				return err
			}
			s.Details = d.data[start:d.pos:d.pos]
			return nil
		default:
			return d.skip()
		}
	})
	s.Raw = d.data[start:d.pos:d.pos]
	return err
}

// statusDetails type-checks a metav1.StatusDetails as encoding/json would,
// without keeping it: ToV1 decodes the raw bytes when asked.
func (d *decoder) statusDetails() error {
	if !d.isObject() {
		return d.typeMismatch("responseStatus.details", "object")
	}
	var ignored []byte
	var n int32
	return d.object(func(key []byte) error {
		switch string(key) {
		case "name":
			return d.str(&ignored, "responseStatus.details.name")
		case "group":
			return d.str(&ignored, "responseStatus.details.group")
		case "kind":
			return d.str(&ignored, "responseStatus.details.kind")
		case "uid":
			return d.str(&ignored, "responseStatus.details.uid")
		case "retryAfterSeconds":
			return d.int32(&n, "responseStatus.details.retryAfterSeconds")
		case "causes":
			if d.null() {
				return nil
			}
			if d.pos < len(d.data) && d.data[d.pos] != '[' {
				return d.typeMismatch("responseStatus.details.causes", "array")
			}
			return d.array(d.statusCause)
		default:
			return d.skip()
		}
	})
}

func (d *decoder) statusCause() error {
	if d.null() {
		return nil
	}
	if !d.isObject() {
		return d.typeMismatch("responseStatus.details.causes[]", "object")
	}
	var ignored []byte
	return d.object(func(key []byte) error {
		switch string(key) {
		case "reason":
			return d.str(&ignored, "responseStatus.details.causes[].reason")
		case "message":
			return d.str(&ignored, "responseStatus.details.causes[].message")
		case "field":
			return d.str(&ignored, "responseStatus.details.causes[].field")
		default:
			return d.skip()
		}
	})
}

func (d *decoder) annotations() error {
	e := d.ev
	if d.null() {
		e.annotations = nil
		return nil
	}
	if !d.isObject() {
		return d.typeMismatch("annotations", "object")
	}
	start := len(e.annotsBuf)
	e.annotsBuf = append(e.annotsBuf, e.annotations...)
	err := d.object(func(key []byte) error {
		var value []byte
		if err := d.str(&value, ""); err != nil {
			return err
		}
		d.nameField("annotations", key)
		e.annotsBuf = append(e.annotsBuf, Annotation{Key: key, Value: value})
		return nil
	})
	e.annotations = e.annotsBuf[start:len(e.annotsBuf):len(e.annotsBuf)]
	return err
}
