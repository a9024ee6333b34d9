// Package parquet turns audit events into Parquet files with a stable,
// documented schema (docs/export.md), for the engines platform teams already
// run over object storage: DuckDB, Trino/Athena, Spark, ClickHouse, BigQuery.
//
// Columns carry the upstream audit.k8s.io/v1 JSON names, nested as the JSON
// is, so a jq path such as .objectRef.resource is objectRef.resource in SQL.
// It is the only package that imports parquet-go.
package parquet

import (
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/auditq/auditq/auditlog"
)

// SchemaVersion is the version of Row. A change that is not an added
// top-level column starts a new version (and a new v<N>/ folder).
const SchemaVersion = 1

// Row is one event. Strings that the upstream JSON omits when empty are
// optional columns: NULL when empty or absent.
type Row struct {
	// The timestamps are NULL only for an event that has neither.
	StageTimestamp           time.Time `parquet:"stageTimestamp,optional,timestamp(microsecond),delta"`
	RequestReceivedTimestamp time.Time `parquet:"requestReceivedTimestamp,optional,timestamp(microsecond),delta"`
	AuditID                  string    `parquet:"auditID"`
	Stage                    string    `parquet:"stage,dict"`
	Level                    string    `parquet:"level,dict"`
	Verb                     string    `parquet:"verb,dict"`
	APIVersion               string    `parquet:"apiVersion,dict"`
	RequestURI               string    `parquet:"requestURI"`
	User                     User      `parquet:"user"`
	ImpersonatedUser         *User     `parquet:"impersonatedUser,optional"`
	// AuthenticationMetadata is its raw JSON.
	AuthenticationMetadata string            `parquet:"authenticationMetadata,optional"`
	SourceIPs              []string          `parquet:"sourceIPs,list"`
	UserAgent              string            `parquet:"userAgent,optional,dict"`
	ObjectRef              *ObjectRef        `parquet:"objectRef,optional"`
	ResponseStatus         *ResponseStatus   `parquet:"responseStatus,optional"`
	Annotations            map[string]string `parquet:"annotations,optional"`
	// RequestObject and ResponseObject are the raw JSON, byte for byte.
	RequestObject  string `parquet:"requestObject,optional"`
	ResponseObject string `parquet:"responseObject,optional"`
	Origin         Origin `parquet:"origin"`

	// Source names the API server (an export's node, else the log's
	// rotation set), for file names; not a column.
	Source string `parquet:"-"`
}

// User is user and impersonatedUser.
type User struct {
	Username string              `parquet:"username,optional,dict"`
	UID      string              `parquet:"uid,optional"`
	Groups   []string            `parquet:"groups,list"`
	Extra    map[string][]string `parquet:"extra,optional" parquet-value:",list"`
}

// ObjectRef is objectRef.
type ObjectRef struct {
	Resource        string `parquet:"resource,optional,dict"`
	Namespace       string `parquet:"namespace,optional,dict"`
	Name            string `parquet:"name,optional"`
	UID             string `parquet:"uid,optional"`
	APIGroup        string `parquet:"apiGroup,optional,dict"`
	APIVersion      string `parquet:"apiVersion,optional,dict"`
	ResourceVersion string `parquet:"resourceVersion,optional"`
	Subresource     string `parquet:"subresource,optional,dict"`
}

// ResponseStatus is responseStatus; Details is its raw JSON.
type ResponseStatus struct {
	Code    int32  `parquet:"code,optional"`
	Status  string `parquet:"status,optional,dict"`
	Reason  string `parquet:"reason,optional,dict"`
	Message string `parquet:"message,optional"`
	Details string `parquet:"details,optional"`
}

// Origin says where the event was read: provenance, not part of the event.
type Origin struct {
	Cluster string `parquet:"cluster"`
	Node    string `parquet:"node,optional,dict"`
	File    string `parquet:"file,dict"`
	Line    int64  `parquet:"line"`
	Offset  int64  `parquet:"offset"`
	Format  string `parquet:"format,dict"`
}

// FromEvent fills r from ev (whose views it copies) and the cluster name.
// An event without a stageTimestamp takes requestReceivedTimestamp, and
// the reverse, so that the sort key is never NULL.
//
// The strings are copied into shared 64 KiB slabs rather than allocated
// one by one: an event has 20 to 40 of them, and the export spent more
// time allocating and collecting them than copying. A slab lives while
// any row holding one of its strings does.
func FromEvent(r *Row, ev *auditlog.Event, cluster string) {
	a := slabs.Get().(*slab)
	defer slabs.Put(a)
	str := a.str
	*r = Row{
		StageTimestamp:           ev.StageTimestamp(),
		RequestReceivedTimestamp: ev.RequestReceivedTimestamp(),
		AuditID:                  str(ev.AuditID()),
		Stage:                    str(ev.Stage()),
		Level:                    str(ev.Level()),
		Verb:                     str(ev.Verb()),
		APIVersion:               str(ev.APIVersion()),
		RequestURI:               str(ev.RequestURI()),
		User:                     userOf(ev.User(), str),
		AuthenticationMetadata:   str(ev.AuthenticationMetadata()),
		UserAgent:                str(ev.UserAgent()),
		RequestObject:            str(ev.RequestObject()),
		ResponseObject:           str(ev.ResponseObject()),
	}
	if r.StageTimestamp.IsZero() {
		r.StageTimestamp = r.RequestReceivedTimestamp
	}
	if r.RequestReceivedTimestamp.IsZero() {
		r.RequestReceivedTimestamp = r.StageTimestamp
	}
	if u := ev.ImpersonatedUser(); u != nil {
		iu := userOf(u, str)
		r.ImpersonatedUser = &iu
	}
	for _, ip := range ev.SourceIPs() {
		r.SourceIPs = append(r.SourceIPs, str(ip))
	}
	if ref := ev.ObjectRef(); ref != nil {
		r.ObjectRef = &ObjectRef{
			Resource: str(ref.Resource), Namespace: str(ref.Namespace), Name: str(ref.Name),
			UID: str(ref.UID), APIGroup: str(ref.APIGroup), APIVersion: str(ref.APIVersion),
			ResourceVersion: str(ref.ResourceVersion), Subresource: str(ref.Subresource),
		}
	}
	if st := ev.ResponseStatus(); st != nil {
		r.ResponseStatus = &ResponseStatus{Code: st.Code, Status: str(st.Status), Reason: str(st.Reason),
			Message: str(st.Message), Details: str(st.Details)}
	}
	if as := ev.Annotations(); as != nil {
		r.Annotations = make(map[string]string, len(as))
		for _, a := range as {
			r.Annotations[str(a.Key)] = str(a.Value) // the last of a repeated key, as upstream
		}
	}
	pos, origin := ev.Pos(), ev.Origin()
	r.Origin = Origin{Cluster: cluster, Node: str(origin.Node), File: pos.File, Line: int64(pos.Line), Offset: pos.Offset, Format: origin.Format}
	if r.Origin.Format == "" {
		r.Origin.Format = "kube-apiserver"
	}
	r.Source = str(origin.Node)
	if r.Source == "" {
		set := ev.Source() // the rotation set: node1/kube-apiserver-audit.log
		dir, base := filepath.Base(filepath.Dir(set)), strings.TrimSuffix(filepath.Base(set), filepath.Ext(set))
		r.Source = base
		if dir != "." && dir != "/" && dir != "" {
			r.Source = dir + "_" + base
		}
	}
	if len(origin.Cluster) > 0 && cluster == "" {
		r.Origin.Cluster = str(origin.Cluster)
	}
}

func userOf(u *auditlog.UserInfo, str func([]byte) string) User {
	out := User{Username: str(u.Username), UID: str(u.UID)}
	for _, g := range u.Groups {
		out.Groups = append(out.Groups, str(g))
	}
	if u.Extra != nil {
		out.Extra = make(map[string][]string, len(u.Extra))
		for _, e := range u.Extra {
			vs := make([]string, len(e.Values))
			for i, v := range e.Values {
				vs[i] = str(v)
			}
			out.Extra[str(e.Key)] = vs
		}
	}
	return out
}

// slab is where FromEvent copies strings: appended, never overwritten, so
// a string made from it never changes.
type slab struct{ buf []byte }

const slabSize = 64 << 10

var slabs = sync.Pool{New: func() any { return new(slab) }}

func (a *slab) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > slabSize/4 {
		return string(b) // a body: its own allocation, freed with its row
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, slabSize)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], len(b))
}
