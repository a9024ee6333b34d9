package parquet

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// TestOCSFRoundTrip: with SchemaOCSF every event of the fixture set, and of
// a real kube-apiserver's set when ../shared is there, comes back as an API
// Activity record carrying what encoding/json reads from the event, in the
// fields AWS's EKS mapping gives it, and the exact timestamps in unmapped.
func TestOCSFRoundTrip(t *testing.T) {
	for _, path := range audittest.Corpora(t) {
		want := audittest.OracleLog(t, path)
		rows, files := exportAs[OCSFRow](t, []string{path}, Options{RowGroupRows: 1000, Schema: SchemaOCSF})
		if len(rows) != len(want) {
			t.Fatalf("%s: %d rows, want %d", path, len(rows), len(want))
		}
		type key struct{ id, stage string }
		byKey := map[key][]*auditv1.Event{}
		for _, e := range want {
			k := key{string(e.AuditID), string(e.Stage)}
			byKey[k] = append(byKey[k], e)
		}
		activities := map[string]int{}
		for i := range rows {
			o := &rows[i]
			k := key{o.API.Request.UID, o.Message}
			cands := byKey[k]
			if len(cands) == 0 {
				t.Fatalf("row %s %s matches no event (or too many rows)", k.id, k.stage)
			}
			byKey[k] = cands[1:]
			checkOCSF(t, o, cands[0])
			activities[o.ActivityName]++
		}
		for _, a := range []string{"Create", "Read", "Update", "Delete"} {
			if activities[a] == 0 {
				t.Errorf("%s: no %s activity in %v", path, a, activities)
			}
		}
		checkUIDBloom(t, files[0], rows[0].API.Request.UID)
		meta, err := fileMetadata(files[0])
		if err != nil {
			t.Fatal(err)
		}
		if meta["auditq.schema"] != "ocsf "+OCSFVersion+" api_activity" {
			t.Errorf("auditq.schema = %q", meta["auditq.schema"])
		}
		t.Logf("%s: %d records in %d files, activities %v", path, len(rows), len(files), activities)
	}
}

func checkOCSF(t *testing.T, o *OCSFRow, e *auditv1.Event) {
	t.Helper()
	fail := func(what string, got, want any) {
		t.Helper()
		t.Fatalf("%s %s: %s = %v, want %v", e.AuditID, e.Stage, what, got, want)
	}
	if o.ClassUID != 6003 || o.CategoryUID != 6 || o.TypeUID != 600300+int64(o.ActivityID) || o.SeverityID != 1 {
		fail("class/category/type/severity", []any{o.ClassUID, o.CategoryUID, o.TypeUID, o.SeverityID}, "6003, 6, 6003xx, 1")
	}
	wantActivity := map[string]int32{"create": 1, "get": 2, "list": 2, "watch": 2, "update": 3, "patch": 3, "delete": 4, "deletecollection": 4}[e.Verb]
	if wantActivity == 0 {
		wantActivity = 99
	}
	if o.ActivityID != wantActivity || o.API.Operation != e.Verb {
		fail("activity/operation", []any{o.ActivityID, o.API.Operation}, []any{wantActivity, e.Verb})
	}
	if o.Time != e.StageTimestamp.UnixMilli() || !o.TimeDt.Equal(e.StageTimestamp.Truncate(time.Millisecond)) || o.StartTime != e.RequestReceivedTimestamp.UnixMilli() {
		fail("time/time_dt/start_time", []any{o.Time, o.TimeDt, o.StartTime}, e.StageTimestamp.Time)
	}
	if got, err := time.Parse(time.RFC3339Nano, o.Unmapped["stageTimestamp"]); err != nil || !got.Equal(e.StageTimestamp.Time) {
		fail("unmapped stageTimestamp", o.Unmapped["stageTimestamp"], e.StageTimestamp.Time)
	}
	if o.Metadata.LogLevel != string(e.Level) || o.Metadata.Product.Version != e.APIVersion || o.Metadata.Version != OCSFVersion {
		fail("metadata", o.Metadata, e.Level)
	}
	var groups []string
	for _, g := range o.Actor.User.Groups {
		groups = append(groups, g.Name)
	}
	if o.Actor.User.Name != e.User.Username || o.Actor.User.UID != e.User.UID || !slices.Equal(groups, e.User.Groups) {
		fail("actor.user", o.Actor.User, e.User)
	}
	if o.HTTPRequest.URL.Path != e.RequestURI || o.HTTPRequest.UserAgent != e.UserAgent {
		fail("http_request", o.HTTPRequest, e.RequestURI)
	}
	if len(e.SourceIPs) > 0 && (o.SrcEndpoint.IP != e.SourceIPs[0] || !slices.Equal(o.SrcEndpoint.IntermediateIPs, e.SourceIPs[1:])) {
		fail("src_endpoint", o.SrcEndpoint, e.SourceIPs)
	}
	if ref := e.ObjectRef; ref != nil {
		typ := ref.Resource
		if ref.Subresource != "" {
			typ += "/" + ref.Subresource
		}
		want := OCSFResource{Name: ref.Name, Namespace: ref.Namespace, UID: string(ref.UID), Version: ref.ResourceVersion, Type: typ}
		if len(o.Resources) != 1 || o.Resources[0] != want || o.API.Version != ref.APIVersion {
			fail("resources", o.Resources, want)
		}
		if (ref.APIGroup != "") != (o.API.Group != nil) || o.API.Group != nil && o.API.Group.Name != ref.APIGroup {
			fail("api.group", o.API.Group, ref.APIGroup)
		}
	} else if len(o.Resources) != 0 {
		fail("resources", o.Resources, "none")
	}
	if s := e.ResponseStatus; s != nil {
		r := o.API.Response
		if r == nil || r.Code != s.Code || r.Message != s.Message || r.Error != string(s.Reason) || r.ErrorMessage != s.Status {
			fail("api.response", r, s)
		}
		wantStatus := int32(1)
		if s.Code >= 400 {
			wantStatus = 2
		}
		if s.Code != 0 && (o.StatusID != wantStatus || o.StatusCode != strconv.Itoa(int(s.Code))) {
			fail("status_id/status_code", []any{o.StatusID, o.StatusCode}, s.Code)
		}
	}
	if e.RequestObject != nil && o.API.Request.Data != string(e.RequestObject.Raw) {
		fail("api.request.data", len(o.API.Request.Data), len(e.RequestObject.Raw))
	}
	if e.ResponseObject != nil && (o.API.Response == nil || o.API.Response.Data != string(e.ResponseObject.Raw)) {
		fail("api.response.data", o.API.Response, len(e.ResponseObject.Raw))
	}
	for k, v := range e.Annotations {
		if o.Unmapped["annotations."+k] != v {
			fail("unmapped annotations."+k, o.Unmapped["annotations."+k], v)
		}
	}
	if o.Unmapped["cluster"] != "test" || o.Unmapped["origin.file"] == "" {
		fail("unmapped origin", o.Unmapped, "cluster test and a file")
	}
	if o.Cloud != nil || !slices.Equal(o.Metadata.Profiles, []string{"datetime"}) || o.Metadata.Product.Name != "Kubernetes" {
		fail("cloud/profiles/product of a kube-apiserver log", []any{o.Cloud, o.Metadata.Profiles, o.Metadata.Product.Name}, "none, [datetime], Kubernetes")
	}
}

// TestOCSFFromEKS: an event read from an EKS export gets AWS's constants,
// the cloud profile, the account and session from the IAM authenticator's
// user.extra, and a pod's containers, as AWS's published sample has them.
func TestOCSFFromEKS(t *testing.T) {
	var r Row
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{audittest.Rotated()}) {
		if err != nil {
			t.Fatal(err)
		}
		if ref := ev.ObjectRef(); ref != nil && string(ref.Resource) == "pods" && string(ev.Verb()) == "create" &&
			len(ev.RequestObject()) > 0 && len(ev.ResponseObject()) > 0 && len(ref.Subresource) == 0 {
			FromEvent(&r, ev, "eks-prod") // copies: ev's views end with the iteration
			break
		}
	}
	if r.AuditID == "" {
		t.Fatal("the fixture has no pod create with bodies")
	}
	r.Origin.Format = "eks"
	r.User.Extra = map[string][]string{
		"accessKeyId":  {"ASIAEXAMPLE"},
		"arn":          {"arn:aws:sts::123456789012:assumed-role/ci/i-0abc"},
		"canonicalArn": {"arn:aws:iam::123456789012:role/ci"},
		"sessionName":  {"i-0abc"},
		"principalId":  {"AROAEXAMPLE"},
	}
	o := ToOCSF(&r)
	if o.Metadata.Product.Name != "Amazon EKS" || o.Metadata.Product.VendorName != "AWS" || o.Metadata.Product.Feature == nil ||
		o.Metadata.Product.Feature.Name != "Elastic Kubernetes Service" || !slices.Equal(o.Metadata.Profiles, []string{"cloud", "datetime"}) {
		t.Errorf("metadata = %+v", o.Metadata)
	}
	if o.Cloud == nil || o.Cloud.Provider != "AWS" || o.Cloud.Account == nil || o.Cloud.Account.UID != "arn:aws:sts::123456789012:assumed-role/ci/i-0abc" {
		t.Errorf("cloud = %+v", o.Cloud)
	}
	if s := o.Actor.Session; s == nil || *s != (OCSFSession{CredentialUID: "ASIAEXAMPLE", Issuer: "arn:aws:iam::123456789012:role/ci", UID: "i-0abc"}) {
		t.Errorf("actor.session = %+v", s)
	}
	if o.Unmapped["user.extra.principalId"] != "AROAEXAMPLE" || o.Unmapped["user.extra.arn"] != "" || o.Unmapped["eks_cluster_name"] != "eks-prod" {
		t.Errorf("unmapped = %v", o.Unmapped)
	}
	if o.ActivityID != 1 || o.TypeName != "API Activity: Create" || o.TypeUID != 600301 {
		t.Errorf("activity %d %q %d", o.ActivityID, o.TypeName, o.TypeUID)
	}
	if len(o.API.Request.Containers) == 0 || o.API.Request.Containers[0].Name == "" || o.API.Request.Containers[0].Image.Name == "" ||
		o.API.Response == nil || len(o.API.Response.Containers) != len(o.API.Request.Containers) {
		t.Errorf("containers: request %+v, response %+v", o.API.Request.Containers, o.API.Response)
	}
}

// TestOCSFUnknownSchema: a schema the Writer does not know is an error at
// the first write, not a file in the default schema.
func TestOCSFUnknownSchema(t *testing.T) {
	w := NewWriter(Options{Dir: t.TempDir(), Schema: "ocsf2"})
	defer w.Abort()
	if err := w.Write(&Row{AuditID: "x"}, 1); err == nil {
		t.Fatal("no error for schema ocsf2")
	}
}

func fileMetadata(path string) (map[string]string, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer osf.Close()
	fi, err := osf.Stat()
	if err != nil {
		return nil, err
	}
	f, err := pq.OpenFile(osf, fi.Size())
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, kv := range f.Metadata().KeyValueMetadata {
		out[kv.Key] = kv.Value
	}
	return out, nil
}

// checkUIDBloom: every row group of the file has a Bloom filter on
// api.request.uid that passes a present UID (in some group) and rules out
// an absent one.
func checkUIDBloom(t *testing.T, path, present string) {
	t.Helper()
	osf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer osf.Close()
	fi, _ := osf.Stat()
	f, err := pq.OpenFile(osf, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	leaf, ok := f.Schema().Lookup("api", "request", "uid")
	if !ok {
		t.Fatal("no column api.request.uid")
	}
	found := false
	for i, rg := range f.RowGroups() {
		bf := rg.ColumnChunks()[leaf.ColumnIndex].BloomFilter()
		if bf == nil {
			t.Fatalf("row group %d: no Bloom filter on api.request.uid", i)
		}
		in, err := bf.Check(pq.ValueOf(present))
		if err != nil {
			t.Fatal(err)
		}
		found = found || in
		if absent, _ := bf.Check(pq.ValueOf("00000000-0000-0000-0000-000000000000")); absent {
			t.Errorf("row group %d: the Bloom filter passes an absent UID", i)
		}
	}
	if !found {
		t.Errorf("no row group's Bloom filter passes %s, which the file holds", present)
	}
}
