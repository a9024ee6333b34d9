package rbac

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/attrs"
)

// The annotations kube-apiserver's WithAuthorization writes on every event.
const (
	DecisionAnnotation = "authorization.k8s.io/decision"
	ReasonAnnotation   = "authorization.k8s.io/reason"
)

// Class says what decided a request, as its event records it.
type Class uint8

const (
	// Unknown: no decision recorded (an old policy, some cloud exports);
	// the response code alone cannot tell RBAC from another authorizer.
	Unknown Class = iota
	// RBACAllowed: allowed by RBAC; the reason names the binding.
	RBACAllowed
	// Privileged: allowed for membership of system:masters; RBAC not asked.
	Privileged
	// OtherAuthorizer: allowed by another authorizer (Node, a webhook).
	OtherAuthorizer
	// Forbidden: no authorizer allowed it.
	Forbidden
	// AdmissionDenied: authorized, then refused with 403 by admission
	// (ValidatingAdmissionPolicy, PodSecurity, a webhook) or the registry
	// (RBAC escalation checks). RBAC still had to allow it.
	AdmissionDenied
	// ImpersonationAllowed: the permission to impersonate that an
	// impersonated request needed (derived, for the impersonator).
	ImpersonationAllowed
	// ImpersonationDenied: the impersonator may not impersonate; the
	// request's objectRef is the one it tried to make as someone else.
	ImpersonationDenied
	// Refused: 403 with no decision recorded: RBAC or admission refused it.
	Refused
	// Unauthenticated: 401, no subject.
	Unauthenticated
)

var classNames = [...]string{"unknown", "rbac-allowed", "privileged", "other-authorizer", "forbidden", "admission-denied", "impersonation-allowed", "impersonation-denied", "refused", "unauthenticated"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// MarshalText names the class as String does.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// NeedsRBAC reports whether RBAC had to allow requests of this class (or
// may have had to, for Unknown ones).
func (c Class) NeedsRBAC() bool {
	return c == RBACAllowed || c == AdmissionDenied || c == ImpersonationAllowed || c == Unknown
}

// Classify says what decided the request ev records, from its decision
// and reason annotations and its response code, tried in this order: 401;
// a 403 with no decision whose message says the impersonation was refused;
// another 403 with no decision; forbid; a 403 after an allow; an allow by RBAC, for system:masters (an
// empty reason), or by another authorizer.
func Classify(ev *auditlog.Event) Class {
	code := ev.Code()
	if code == 401 {
		return Unauthenticated
	}
	decision, ok := ev.Annotation(DecisionAnnotation)
	if !ok {
		switch {
		case code == 403 && impersonationRefused(ev):
			return ImpersonationDenied
		case code == 403:
			return Refused
		}
		return Unknown
	}
	switch string(decision) {
	case "forbid":
		return Forbidden
	case "allow":
	default:
		return Unknown
	}
	if code == 403 {
		return AdmissionDenied
	}
	reason, _ := ev.Annotation(ReasonAnnotation)
	if bytes.HasPrefix(reason, []byte(rbacAllowedPrefix)) {
		return RBACAllowed
	}
	if len(reason) == 0 && slices.ContainsFunc(subject(ev).Groups, func(g []byte) bool { return string(g) == PrivilegedGroup }) {
		return Privileged
	}
	return OtherAuthorizer
}

const rbacAllowedPrefix = "RBAC: allowed by "

func impersonationRefused(ev *auditlog.Event) bool {
	st := ev.ResponseStatus()
	return st != nil && bytes.Contains(st.Message, []byte(" cannot impersonate resource "))
}

// authorized is the user a request of this class was authorized as: the
// impersonated one, unless the impersonation was refused (then the request
// never ran as anyone else).
func authorized(ev *auditlog.Event, class Class) *auditlog.UserInfo {
	if class == ImpersonationDenied {
		return ev.User()
	}
	return subject(ev)
}

// subject is the user the authorizer saw: the impersonated one, if any.
func subject(ev *auditlog.Event) *auditlog.UserInfo {
	if u := ev.ImpersonatedUser(); u != nil && len(u.Username) > 0 {
		return u
	}
	return ev.User()
}

// Request is one distinct request as the authorizer saw it, with what
// decided it. It is comparable: the key of Observations.
type Request struct {
	User string `json:"user"`
	// Groups are the user's groups, each prefixed by its length and a colon
	// (a group name may hold any character): see GroupList. JSON has the list.
	Groups string `json:"-"`
	// NonResource requests have a Verb (the lowercased HTTP method) and a
	// Path, without the query; the rest is empty.
	NonResource bool   `json:"nonResource,omitempty"`
	Path        string `json:"path,omitempty"`
	Verb        string `json:"verb"`
	APIGroup    string `json:"apiGroup,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	Class       Class  `json:"class"`
	// Binding is what the reason of an RBAC allow names:
	// `RoleBinding "b/ns" of Role "r" to ServiceAccount "sa/ns"`.
	Binding string `json:"binding,omitempty"`
}

// GroupList splits Groups.
func (r Request) GroupList() []string {
	var out []string
	for s := r.Groups; s != ""; {
		n, rest, _ := strings.Cut(s, ":")
		l, _ := strconv.Atoi(n)
		out = append(out, rest[:l])
		s = rest[l:]
	}
	return out
}

// Target is what the request was made on, as kube-apiserver's denials word
// it: "resource.group/subresource" ("pods/log", "deployments.apps"), or
// the path of a non-resource request.
func (r Request) Target() string {
	if r.NonResource {
		return r.Path
	}
	s := r.Resource
	if r.APIGroup != "" {
		s += "." + r.APIGroup
	}
	if r.Subresource != "" {
		s += "/" + r.Subresource
	}
	return s
}

// Attributes are the request's authorization attributes.
func (r Request) Attributes() authorizer.AttributesRecord {
	u := &user.DefaultInfo{Name: r.User, Groups: r.GroupList()}
	if r.NonResource {
		return authorizer.AttributesRecord{User: u, Verb: r.Verb, Path: r.Path}
	}
	return authorizer.AttributesRecord{User: u, Verb: r.Verb, ResourceRequest: true, APIGroup: r.APIGroup,
		Resource: r.Resource, Subresource: r.Subresource, Namespace: r.Namespace, Name: r.Name}
}

// Seen is how often and when a Request was seen.
type Seen struct {
	// Completed counts ResponseComplete and Panic events, Started
	// ResponseStarted ones; a long-running request (watch, exec) writes
	// both, others only the first, so the requests are the larger count.
	Completed int64     `json:"completed"`
	Started   int64     `json:"started"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	// Example is the auditID of the first event (the smallest, among the
	// earliest), so that merged partials name the same one in any order.
	Example string `json:"exampleAuditID"`
}

// earlier reports whether a request seen at t with auditID id comes before
// one seen at than with thanID: by time, then by auditID, so that the
// example a merge keeps does not depend on the order of merging.
func earlier(t time.Time, id string, than time.Time, thanID string) bool {
	return t.Before(than) || t.Equal(than) && id < thanID
}

// Requests counts the requests seen: one event per request, whichever of
// its stages the policy wrote.
func (s *Seen) Requests() int64 { return max(s.Completed, s.Started) }

func (s *Seen) merge(o *Seen) {
	s.Completed += o.Completed
	s.Started += o.Started
	if s.Example == "" || earlier(o.First, o.Example, s.First, s.Example) {
		s.First, s.Example = o.First, o.Example
	}
	if o.Last.After(s.Last) {
		s.Last = o.Last
	}
}

// Observations are the distinct requests of a log, for the selected
// subjects: memory grows with the distinct requests, not the events.
// Partial observations of chunks of a log merge exactly, in any order.
type Observations struct {
	selected func(*auditlog.UserInfo) bool
	seen     map[Request]*Seen
	strs     interner
	read     int64 // events added
	events   int64 // events with a stage that records a decision
}

// NewObservations keeps the requests whose subject (the impersonated user,
// if any; the impersonator, for the permission to impersonate) selected
// accepts; nil selects every subject.
func NewObservations(selected func(*auditlog.UserInfo) bool) *Observations {
	return &Observations{selected: selected, seen: map[Request]*Seen{}}
}

// Reset empties o for reuse (as a partial of ScanFolded).
func (o *Observations) Reset() {
	clear(o.seen)
	o.strs.reset()
	o.read, o.events = 0, 0
}

// Folding gives auditlog.ScanFolded's start and fold for partial
// observations with the same selection as o.
func (o *Observations) Folding() (start func(*Observations), fold func(*auditlog.Event, *Observations)) {
	start = func(p *Observations) {
		if p.seen == nil {
			p.selected, p.seen = o.selected, map[Request]*Seen{}
		}
		p.Reset()
	}
	return start, func(ev *auditlog.Event, p *Observations) { p.Add(ev) }
}

// Add records ev's request. RequestReceived events are not read: they come
// before impersonation and authorization, so record neither.
func (o *Observations) Add(ev *auditlog.Event) {
	o.read++
	stage := ev.Stage()
	started := string(stage) == "ResponseStarted"
	if !started && string(stage) != "ResponseComplete" && string(stage) != "Panic" {
		return
	}
	o.events++
	class := Classify(ev)
	if class == Unauthenticated {
		return
	}
	t := ev.Time()
	id := ev.AuditID()
	sub := authorized(ev, class)
	if o.selected == nil || o.selected(sub) {
		o.note(o.strs.request(ev, sub, class), started, t, id)
	}
	if imp := ev.ImpersonatedUser(); imp != nil && len(imp.Username) > 0 && class != ImpersonationDenied {
		o.impersonation(ev, imp, started, t, id)
	}
}

func (o *Observations) note(r Request, started bool, t time.Time, id []byte) {
	s := o.seen[r]
	switch {
	case s == nil:
		s = &Seen{First: t, Last: t, Example: string(id)}
		o.seen[r] = s
	case t.Before(s.First) || t.Equal(s.First) && string(id) < s.Example: // earlier, without copying id
		s.First, s.Example = t, string(id)
	case t.After(s.Last):
		s.Last = t
	}
	if started {
		s.Started++
	} else {
		s.Completed++
	}
}

// impersonation records the checks kube-apiserver's impersonation filter
// made for the impersonator before the request ran: impersonate on the
// user (or service account), each group, the UID and each extra value.
// The groups it adds itself (system:authenticated; a service account's
// own) were not checked, and a log cannot tell them from the same groups
// asked for: they are left out.
func (o *Observations) impersonation(ev *auditlog.Event, imp *auditlog.UserInfo, started bool, t time.Time, id []byte) {
	by := ev.User()
	if o.selected != nil && !o.selected(by) {
		return
	}
	class := ImpersonationAllowed
	if slices.ContainsFunc(by.Groups, func(g []byte) bool { return string(g) == PrivilegedGroup }) {
		class = Privileged
	}
	base := Request{User: o.strs.str(by.Username), Groups: o.strs.groups(by.Groups), Verb: "impersonate", Class: class}
	name := string(imp.Username)
	auto := map[string]bool{user.AllAuthenticated: true}
	r := base
	if ns, sa, err := serviceaccount.SplitUsername(name); err == nil {
		r.Resource, r.Namespace, r.Name = "serviceaccounts", ns, sa
		for _, g := range serviceaccount.MakeGroupNames(ns) {
			auto[g] = true
		}
	} else {
		r.Resource, r.Name = "users", name
	}
	o.note(r, started, t, id)
	for _, g := range imp.Groups {
		if !auto[string(g)] {
			r := base
			r.Resource, r.Name = "groups", string(g)
			o.note(r, started, t, id)
		}
	}
	if len(imp.UID) > 0 {
		r := base
		r.APIGroup, r.Resource, r.Name = "authentication.k8s.io", "uids", string(imp.UID)
		o.note(r, started, t, id)
	}
	for _, x := range imp.Extra {
		for _, v := range x.Values {
			r := base
			r.APIGroup, r.Resource, r.Subresource, r.Name = "authentication.k8s.io", "userextras", string(x.Key), string(v)
			o.note(r, started, t, id)
		}
	}
}

// RequestFor is the request ev records as the authorizer saw it: its
// subject (the impersonated user, if any; the impersonator, when the
// impersonation was refused), attributes, class and binding.
func RequestFor(ev *auditlog.Event) Request {
	class := Classify(ev)
	var in interner
	return in.request(ev, authorized(ev, class), class)
}

// request is the key of the request ev records, for user sub, with the
// strings shared with earlier keys: from objectRef's bytes where it holds
// the attributes as authorized, else (a create, a non-resource request)
// from attrs.Request.
func (in *interner) request(ev *auditlog.Event, sub *auditlog.UserInfo, class Class) Request {
	var r Request
	if attrs.ObjectRefAsAuthorized(ev) {
		ref := ev.ObjectRef()
		r = Request{Verb: in.str(ev.Verb()), Class: class, APIGroup: in.str(ref.APIGroup), Resource: in.str(ref.Resource),
			Subresource: in.str(ref.Subresource), Namespace: in.str(ref.Namespace), Name: in.str(ref.Name)}
	} else {
		a := attrs.Request(ev, nil) // the user goes into the key as it is
		r = requestOf(&a, class)
	}
	r.User, r.Groups = in.str(sub.Username), in.groups(sub.Groups)
	if class == RBACAllowed || class == AdmissionDenied {
		reason, _ := ev.Annotation(ReasonAnnotation)
		r.Binding = in.str(bytes.TrimPrefix(reason, []byte(rbacAllowedPrefix)))
	}
	return r
}

// interner shares the strings of the keys of one set of observations: a
// log repeats its users, verbs, resources and namespaces on every line.
type interner struct {
	m   map[string]string
	buf []byte
}

func (in *interner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if in.m == nil {
		in.m = map[string]string{}
	}
	in.m[s] = s
	return s
}

// groups joins a user's groups as Request.Groups holds them.
func (in *interner) groups(gs [][]byte) string {
	b := in.buf[:0]
	for _, g := range gs {
		b = strconv.AppendInt(b, int64(len(g)), 10)
		b = append(b, ':')
		b = append(b, g...)
	}
	in.buf = b
	return in.str(b)
}

// reset forgets the strings when there are many, so that a partial's
// table stays the size of a chunk's.
func (in *interner) reset() {
	if len(in.m) > 4096 {
		in.m = nil
	}
}

func requestOf(a *authorizer.AttributesRecord, class Class) Request {
	r := Request{Verb: a.Verb, Class: class}
	if !a.ResourceRequest {
		r.NonResource, r.Path = true, a.Path
		return r
	}
	r.APIGroup, r.Resource, r.Subresource, r.Namespace, r.Name = a.APIGroup, a.Resource, a.Subresource, a.Namespace, a.Name
	return r
}

// Merge adds a partial's observations to o.
func (o *Observations) Merge(p *Observations) {
	o.read += p.read
	o.events += p.events
	for r, s := range p.seen {
		if mine := o.seen[r]; mine != nil {
			mine.merge(s)
		} else {
			cp := *s
			o.seen[r] = &cp
		}
	}
}

// Events counts the events read that record a decision (every stage but
// RequestReceived), whoever their subject.
func (o *Observations) Events() int64 { return o.events }

// Window is the time of the first and the last request observed.
func (o *Observations) Window() (first, last time.Time) {
	for _, s := range o.seen {
		if first.IsZero() || s.First.Before(first) {
			first = s.First
		}
		if s.Last.After(last) {
			last = s.Last
		}
	}
	return first, last
}

// Read counts every event added, RequestReceived ones included.
func (o *Observations) Read() int64 { return o.read }

// Observed is a distinct request and how it was seen.
type Observed struct {
	Request
	Seen
}

// observedJSON is an Observed as JSON: its fields, the groups as a list
// and the count of requests.
type observedJSON struct {
	plainObserved
	Groups   []string `json:"groups"`
	Requests int64    `json:"requests"`
}

type plainObserved Observed // without the MarshalJSON method

func (o Observed) toJSON() observedJSON {
	return observedJSON{plainObserved(o), o.GroupList(), o.Requests()}
}

// MarshalJSON writes the request's fields, its groups as a list, and the
// count of requests beside the stages' counts.
func (o Observed) MarshalJSON() ([]byte, error) { return json.Marshal(o.toJSON()) }

// All lists the distinct requests, by user, then namespace, then the rest
// of the request, then class.
func (o *Observations) All() []Observed {
	out := make([]Observed, 0, len(o.seen))
	for r, s := range o.seen {
		out = append(out, Observed{r, *s})
	}
	slices.SortFunc(out, func(a, b Observed) int { return compareRequests(&a.Request, &b.Request) })
	return out
}

func compareRequests(a, b *Request) int {
	return cmp.Or(
		cmp.Compare(a.User, b.User), cmp.Compare(a.Groups, b.Groups),
		cmp.Compare(a.Namespace, b.Namespace), boolCmp(a.NonResource, b.NonResource),
		cmp.Compare(a.APIGroup, b.APIGroup), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Subresource, b.Subresource),
		cmp.Compare(a.Path, b.Path), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Verb, b.Verb),
		cmp.Compare(a.Class, b.Class), cmp.Compare(a.Binding, b.Binding))
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
