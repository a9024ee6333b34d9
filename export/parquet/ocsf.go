package parquet

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// OCSFVersion is the OCSF schema version OCSFRow follows: the one Amazon
// Security Lake writes for EKS audit logs.
const OCSFVersion = "1.1.0"

// OCSFRow is an event as an OCSF API Activity (class 6003) record, the
// shape Amazon Security Lake gives EKS audit logs, following AWS's
// published mapping (ocsf/examples, AWS EKS Audit Logs). It is a lossy,
// derived view for security tooling: time is in milliseconds (the exact
// timestamps and what OCSF has no field for are in Unmapped). Row is the
// archive.
type OCSFRow struct {
	ActivityID   int32  `parquet:"activity_id"`
	ActivityName string `parquet:"activity_name,dict"`
	CategoryUID  int32  `parquet:"category_uid"`
	CategoryName string `parquet:"category_name,dict"`
	ClassUID     int32  `parquet:"class_uid"`
	ClassName    string `parquet:"class_name,dict"`
	TypeUID      int64  `parquet:"type_uid"`
	TypeName     string `parquet:"type_name,dict"`
	SeverityID   int32  `parquet:"severity_id"`
	Severity     string `parquet:"severity,dict"`
	StatusID     int32  `parquet:"status_id"`
	Status       string `parquet:"status,dict"`
	StatusCode   string `parquet:"status_code,optional,dict"`
	Message      string `parquet:"message,dict"` // the stage, as AWS maps it
	// Time is stageTimestamp in Unix milliseconds, StartTime
	// requestReceivedTimestamp; the _dt columns are the same as timestamps.
	Time        int64     `parquet:"time"`
	TimeDt      time.Time `parquet:"time_dt,timestamp(millisecond)"`
	StartTime   int64     `parquet:"start_time"`
	StartTimeDt time.Time `parquet:"start_time_dt,timestamp(millisecond)"`

	Metadata    OCSFMetadata      `parquet:"metadata"`
	API         OCSFAPI           `parquet:"api"`
	Actor       OCSFActor         `parquet:"actor"`
	HTTPRequest OCSFHTTPRequest   `parquet:"http_request"`
	SrcEndpoint OCSFEndpoint      `parquet:"src_endpoint"`
	Resources   []OCSFResource    `parquet:"resources,list"`
	Cloud       *OCSFCloud        `parquet:"cloud,optional"`
	Observables []OCSFObservable  `parquet:"observables,list"`
	Unmapped    map[string]string `parquet:"unmapped,optional"`
}

// OCSFMetadata is metadata.
type OCSFMetadata struct {
	Version  string      `parquet:"version,dict"`
	Product  OCSFProduct `parquet:"product"`
	Profiles []string    `parquet:"profiles,list"`
	LogLevel string      `parquet:"log_level,dict"`
	LogName  string      `parquet:"log_name,dict"`
}

// OCSFProduct is metadata.product; Version is the event's apiVersion.
type OCSFProduct struct {
	Name       string    `parquet:"name,dict"`
	VendorName string    `parquet:"vendor_name,dict"`
	Version    string    `parquet:"version,optional,dict"`
	Feature    *OCSFName `parquet:"feature,optional"`
}

// OCSFAPI is api.
type OCSFAPI struct {
	Operation string        `parquet:"operation,dict"`
	Version   string        `parquet:"version,optional,dict"`
	Group     *OCSFName     `parquet:"group,optional"`
	Request   OCSFRequest   `parquet:"request"`
	Response  *OCSFResponse `parquet:"response,optional"`
}

// OCSFRequest is api.request: Data is requestObject's JSON.
type OCSFRequest struct {
	UID        string          `parquet:"uid"`
	Data       string          `parquet:"data,optional"`
	Containers []OCSFContainer `parquet:"containers,list,optional"`
}

// OCSFResponse is api.response, from responseStatus (Error is its reason,
// ErrorMessage its status, as AWS maps them) and responseObject.
type OCSFResponse struct {
	Code         int32           `parquet:"code,optional"`
	Message      string          `parquet:"message,optional"`
	Error        string          `parquet:"error,optional,dict"`
	ErrorMessage string          `parquet:"error_message,optional,dict"`
	Data         string          `parquet:"data,optional"`
	Containers   []OCSFContainer `parquet:"containers,list,optional"`
}

// OCSFContainer is a pod's container, from the body's spec.containers.
type OCSFContainer struct {
	Name  string   `parquet:"name,optional"`
	Image OCSFName `parquet:"image"`
}

// OCSFActor is actor.
type OCSFActor struct {
	User    OCSFUser     `parquet:"user"`
	Session *OCSFSession `parquet:"session,optional"`
}

// OCSFUser is actor.user.
type OCSFUser struct {
	Name   string     `parquet:"name,optional,dict"`
	UID    string     `parquet:"uid,optional"`
	TypeID int32      `parquet:"type_id"`
	Groups []OCSFName `parquet:"groups,list"`
}

// OCSFSession is actor.session, from EKS's user.extra keys.
type OCSFSession struct {
	CredentialUID string `parquet:"credential_uid,optional"` // accessKeyId
	Issuer        string `parquet:"issuer,optional"`         // canonicalArn
	UID           string `parquet:"uid,optional"`            // sessionName
}

// OCSFHTTPRequest is http_request; the path is requestURI, query included.
type OCSFHTTPRequest struct {
	URL struct {
		Path string `parquet:"path"`
	} `parquet:"url"`
	UserAgent string `parquet:"user_agent,optional,dict"`
}

// OCSFEndpoint is src_endpoint: sourceIPs[0], and the rest.
type OCSFEndpoint struct {
	IP              string   `parquet:"ip,optional"`
	IntermediateIPs []string `parquet:"intermediate_ips,list,optional"`
}

// OCSFResource is the objectRef; Type is resource[/subresource].
type OCSFResource struct {
	Name      string `parquet:"name,optional"`
	Namespace string `parquet:"namespace,optional,dict"`
	UID       string `parquet:"uid,optional"`
	Version   string `parquet:"version,optional"`
	Type      string `parquet:"type,optional,dict"`
}

// OCSFCloud is cloud, for events read from a managed cluster's export.
type OCSFCloud struct {
	Provider string       `parquet:"provider,dict"`
	Account  *OCSFAccount `parquet:"account,optional"`
}

// OCSFName is an object of which OCSF records only the name.
type OCSFName struct {
	Name string `parquet:"name,dict"`
}

// OCSFAccount is cloud.account: EKS's user.extra arn.
type OCSFAccount struct {
	UID string `parquet:"uid"`
}

// OCSFObservable is an entry of observables.
type OCSFObservable struct {
	Name   string `parquet:"name,dict"`
	Type   string `parquet:"type,dict"`
	TypeID int32  `parquet:"type_id"`
	Value  string `parquet:"value"`
}

// activityOf maps a verb to OCSF's activity: the mapping AWS publishes
// names only create; the rest is ours (docs/export.md).
func activityOf(verb string) (int32, string) {
	switch verb {
	case "create":
		return 1, "Create"
	case "get", "list", "watch":
		return 2, "Read"
	case "update", "patch":
		return 3, "Update"
	case "delete", "deletecollection":
		return 4, "Delete"
	}
	return 99, "Other"
}

// productOf names the product and the cloud from the export format an
// event was read from.
func productOf(format string) (p OCSFProduct, provider string) {
	eks := &OCSFName{Name: "Elastic Kubernetes Service"}
	switch {
	case strings.HasPrefix(format, "eks"):
		return OCSFProduct{Name: "Amazon EKS", VendorName: "AWS", Feature: eks}, "AWS"
	case format == "aks":
		return OCSFProduct{Name: "Azure Kubernetes Service", VendorName: "Microsoft"}, "Azure"
	case strings.HasPrefix(format, "gke"):
		return OCSFProduct{Name: "Google Kubernetes Engine", VendorName: "Google"}, "GCP"
	case strings.HasPrefix(format, "openshift"):
		return OCSFProduct{Name: "OpenShift", VendorName: "Red Hat"}, ""
	}
	return OCSFProduct{Name: "Kubernetes", VendorName: "Kubernetes"}, ""
}

// EKS's user.extra keys that OCSF has fields for.
const (
	extraAccessKey = "accessKeyId"
	extraARN       = "arn"
	extraCanonical = "canonicalArn"
	extraSession   = "sessionName"
)

// ToOCSF projects r (the native row) onto OCSF API Activity.
func ToOCSF(r *Row) OCSFRow {
	verb := r.Verb
	aid, aname := activityOf(verb)
	if aid == 99 {
		aname = verb
	}
	typeName := "API Activity: Other"
	if aid != 99 {
		typeName = "API Activity: " + aname
	}
	o := OCSFRow{
		ActivityID: aid, ActivityName: aname,
		CategoryUID: 6, CategoryName: "Application Activity",
		ClassUID: 6003, ClassName: "API Activity",
		TypeUID: 600300 + int64(aid), TypeName: typeName,
		SeverityID: 1, Severity: "Informational",
		Status:  "Unknown",
		Message: r.Stage,
		Time:    r.StageTimestamp.UnixMilli(), TimeDt: r.StageTimestamp.UTC().Truncate(time.Millisecond),
		StartTime: r.RequestReceivedTimestamp.UnixMilli(), StartTimeDt: r.RequestReceivedTimestamp.UTC().Truncate(time.Millisecond),
		Unmapped: map[string]string{},
	}
	product, provider := productOf(r.Origin.Format)
	product.Version = r.APIVersion
	o.Metadata = OCSFMetadata{Version: OCSFVersion, Product: product, Profiles: []string{"datetime"}, LogLevel: r.Level, LogName: "Event"}

	o.API = OCSFAPI{Operation: verb, Request: OCSFRequest{UID: r.AuditID, Data: r.RequestObject}}
	if ref := r.ObjectRef; ref != nil {
		o.API.Version = ref.APIVersion
		if ref.APIGroup != "" {
			o.API.Group = &OCSFName{Name: ref.APIGroup}
		}
		typ := ref.Resource
		if ref.Subresource != "" {
			typ += "/" + ref.Subresource
		}
		o.Resources = []OCSFResource{{Name: ref.Name, Namespace: ref.Namespace, UID: ref.UID, Version: ref.ResourceVersion, Type: typ}}
	}
	podBody := r.ObjectRef != nil && r.ObjectRef.Resource == "pods" && r.ObjectRef.Subresource == "" && r.ObjectRef.APIGroup == ""
	if podBody {
		o.API.Request.Containers = containersOf(r.RequestObject)
	}
	if st := r.ResponseStatus; st != nil || r.ResponseObject != "" {
		o.API.Response = &OCSFResponse{Data: r.ResponseObject}
		if st != nil {
			o.API.Response.Code, o.API.Response.Message = st.Code, st.Message
			o.API.Response.Error, o.API.Response.ErrorMessage = st.Reason, st.Status
			if st.Details != "" {
				o.Unmapped["responseStatus.details"] = st.Details
			}
		}
		if podBody {
			o.API.Response.Containers = containersOf(r.ResponseObject)
		}
	}
	if st := r.ResponseStatus; st != nil && st.Code != 0 {
		o.StatusCode = strconv.Itoa(int(st.Code))
		o.StatusID, o.Status = 1, "Success"
		if st.Code >= 400 {
			o.StatusID, o.Status = 2, "Failure"
		}
	}

	o.Actor.User = OCSFUser{Name: r.User.Username, UID: r.User.UID}
	for _, g := range r.User.Groups {
		o.Actor.User.Groups = append(o.Actor.User.Groups, OCSFName{Name: g})
	}
	first := func(k string) string {
		if vs := r.User.Extra[k]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	if s := (OCSFSession{CredentialUID: first(extraAccessKey), Issuer: first(extraCanonical), UID: first(extraSession)}); s != (OCSFSession{}) {
		o.Actor.Session = &s
	}
	for k, vs := range r.User.Extra {
		switch k {
		case extraAccessKey, extraCanonical, extraSession, extraARN:
			if len(vs) <= 1 {
				continue
			}
		}
		o.Unmapped["user.extra."+k] = strings.Join(vs, ",")
	}
	if iu := r.ImpersonatedUser; iu != nil {
		o.Unmapped["impersonatedUser.username"] = iu.Username
		if iu.UID != "" {
			o.Unmapped["impersonatedUser.uid"] = iu.UID
		}
		if len(iu.Groups) > 0 {
			o.Unmapped["impersonatedUser.groups"] = strings.Join(iu.Groups, ",")
		}
	}

	o.HTTPRequest.URL.Path = r.RequestURI
	o.HTTPRequest.UserAgent = r.UserAgent
	if len(r.SourceIPs) > 0 {
		o.SrcEndpoint.IP = r.SourceIPs[0]
		o.SrcEndpoint.IntermediateIPs = r.SourceIPs[1:]
	}
	if provider != "" {
		o.Metadata.Profiles = []string{"cloud", "datetime"}
		o.Cloud = &OCSFCloud{Provider: provider}
		if arn := first(extraARN); arn != "" {
			o.Cloud.Account = &OCSFAccount{UID: arn}
		}
	}

	o.Observables = observablesOf(&o)
	for k, v := range r.Annotations {
		o.Unmapped["annotations."+k] = v
	}
	if r.AuthenticationMetadata != "" {
		o.Unmapped["authenticationMetadata"] = r.AuthenticationMetadata
	}
	// OCSF's times are milliseconds; the log's are microseconds.
	o.Unmapped["stageTimestamp"] = r.StageTimestamp.UTC().Format(time.RFC3339Nano)
	o.Unmapped["requestReceivedTimestamp"] = r.RequestReceivedTimestamp.UTC().Format(time.RFC3339Nano)
	o.Unmapped["cluster"] = r.Origin.Cluster
	if strings.HasPrefix(r.Origin.Format, "eks") {
		o.Unmapped["eks_cluster_name"] = r.Origin.Cluster // the key AWS uses
	}
	if r.Origin.Node != "" {
		o.Unmapped["node"] = r.Origin.Node
	}
	o.Unmapped["origin.format"] = r.Origin.Format
	o.Unmapped["origin.file"] = r.Origin.File
	o.Unmapped["origin.line"] = strconv.FormatInt(r.Origin.Line, 10)
	return o
}

func observablesOf(o *OCSFRow) []OCSFObservable {
	var out []OCSFObservable
	add := func(name, typ string, id int32, value string) {
		if value != "" {
			out = append(out, OCSFObservable{Name: name, Type: typ, TypeID: id, Value: value})
		}
	}
	add("actor.user.name", "User Name", 4, o.Actor.User.Name)
	add("src_endpoint.ip", "IP Address", 2, o.SrcEndpoint.IP)
	for _, ip := range o.SrcEndpoint.IntermediateIPs {
		add("src_endpoint.intermediate_ips", "IP Address", 2, ip)
	}
	add("http_request.url.path", "URL String", 6, o.HTTPRequest.URL.Path)
	for _, r := range o.Resources {
		add("resources.uid", "Resource UID", 10, r.UID)
	}
	return out
}

// containersOf reads spec.containers of a pod's JSON; nothing when the
// body is not a pod (a Status, a patch) or not JSON.
func containersOf(body string) []OCSFContainer {
	if !strings.Contains(body, `"containers"`) {
		return nil
	}
	var pod struct {
		Spec struct {
			Containers []struct{ Name, Image string }
		}
	}
	if json.Unmarshal([]byte(body), &pod) != nil {
		return nil
	}
	var out []OCSFContainer
	for _, c := range pod.Spec.Containers {
		var oc OCSFContainer
		oc.Name, oc.Image.Name = c.Name, c.Image
		out = append(out, oc)
	}
	return out
}
