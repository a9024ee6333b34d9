package k8saudit

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// TestToV1OfEveryField: one event with every field, escapes, a repeated
// annotation and an offset timestamp converts to what encoding/json gives.
func TestToV1OfEveryField(t *testing.T) {
	line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"id-1","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/pods?a=1\u0026b=2","verb":"create","user":{"username":"system:serviceaccount:ns:sa","uid":"u1","groups":["g1","g2"],` +
		`"extra":{"authentication.kubernetes.io/pod-name":["p-1"],"empty":[],"nil":null}},"impersonatedUser":{"username":"bob"},` +
		`"authenticationMetadata":{"impersonationConstraint":"impersonate:user-info"},` +
		`"sourceIPs":["10.0.0.1","::1"],"userAgent":"bad\u001b[31mred\ud800","objectRef":{"resource":"pods","namespace":"ns","name":"p",` +
		`"apiGroup":"","apiVersion":"v1","subresource":"exec"},"responseStatus":{"kind":"Status","apiVersion":"v1","metadata":{"resourceVersion":"7"},"status":"Failure","reason":"Forbidden","message":"no \"way\"",` +
		`"details":{"name":"p","kind":"pods","causes":[{"reason":"FieldValueInvalid","field":"spec"}],"retryAfterSeconds":3},"code":403},` +
		`"requestObject":{"kind":"Pod","spec":{}},"responseObject":null,"requestReceivedTimestamp":"2026-11-20T08:00:00.000001Z",` +
		`"stageTimestamp":"2026-11-20T10:00:00.123456+02:00","annotations":{"k":"v1","k":"v2","authorization.k8s.io/decision":"forbid"}}`
	rd, err := auditlog.NewReader(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ToV1(ev)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(audittest.OracleEvent(t, []byte(line)), got); diff != "" {
		t.Errorf("ToV1 differs from encoding/json (-want +got):\n%s", diff)
	}
	if got.AuthenticationMetadata == nil || got.ResponseStatus.Details == nil || got.ResponseStatus.ResourceVersion != "7" {
		t.Errorf("nested raw fields not converted: %+v", got.ResponseStatus)
	}
}

// jsonShape lists a struct type's JSON fields, nested ones too: name and
// options, and Go kind.
func jsonShape(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		ft, k := f.Type, ""
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			k += map[reflect.Kind]string{reflect.Pointer: "*", reflect.Slice: "[]"}[ft.Kind()]
			ft = ft.Elem()
		}
		out = append(out, f.Tag.Get("json")+" "+k+ft.Kind().String())
		if ft.Kind() == reflect.Struct {
			for _, sub := range jsonShape(ft) {
				out = append(out, f.Tag.Get("json")+"."+sub)
			}
		}
	}
	return out
}

// TestTypeChecksMirrorUpstream: auditlog checks responseStatus.metadata and
// authenticationMetadata with its own copies of the upstream types (so that
// it imports nothing of k8s.io). The copies must have the upstream's JSON
// shape, and accept and reject what the upstream types do.
func TestTypeChecksMirrorUpstream(t *testing.T) {
	mirrors := map[string][2]reflect.Type{
		"ListMeta": {reflect.TypeFor[metav1.ListMeta](), reflect.TypeFor[struct {
			SelfLink           string `json:"selfLink,omitempty"`
			ResourceVersion    string `json:"resourceVersion,omitempty"`
			Continue           string `json:"continue,omitempty"`
			RemainingItemCount *int64 `json:"remainingItemCount,omitempty"`
			ShardInfo          *struct {
				Selector string `json:"selector"`
			} `json:"shardInfo,omitempty"`
		}]()},
		"AuthenticationMetadata": {reflect.TypeFor[auditv1.AuthenticationMetadata](), reflect.TypeFor[struct {
			ImpersonationConstraint string `json:"impersonationConstraint,omitempty"`
		}]()},
	}
	for name, m := range mirrors {
		if diff := cmp.Diff(jsonShape(m[0]), jsonShape(m[1])); diff != "" {
			t.Errorf("%s: upstream's JSON shape changed; update auditlog's copy in decode.go and here (-upstream +copy):\n%s", name, diff)
		}
	}
	// Through the reader: accepted exactly when encoding/json accepts the
	// upstream types.
	for _, v := range []string{
		`{}`, `{"resourceVersion":"1"}`, `{"resourceVersion":1}`, `{"remainingItemCount":1.5}`, `{"remainingItemCount":-1}`,
		`{"remainingItemCount":"1"}`, `{"continue":null}`, `{"selfLink":["x"]}`, `{"unknown":{}}`, `[]`, `"x"`,
		`{"shardInfo":{"selector":"a"}}`, `{"shardInfo":{"selector":1}}`, `{"shardInfo":[]}`, `{"shardInfo":null}`,
	} {
		for _, field := range []string{"metadata", "authenticationMetadata"} {
			var line string
			var upstreamErr error
			if field == "metadata" {
				line = `{"auditID":"a","responseStatus":{"metadata":` + v + `,"code":200}}`
				upstreamErr = json.Unmarshal([]byte(v), new(metav1.ListMeta))
			} else {
				line = `{"auditID":"a","authenticationMetadata":` + strings.ReplaceAll(v, "resourceVersion", "impersonationConstraint") + `}`
				upstreamErr = json.Unmarshal([]byte(strings.ReplaceAll(v, "resourceVersion", "impersonationConstraint")), new(auditv1.AuthenticationMetadata))
			}
			rd, _ := auditlog.NewReader(strings.NewReader(line))
			_, err := rd.Next()
			if (err == nil) != (upstreamErr == nil) {
				t.Errorf("%s: auditlog says %v, encoding/json into the upstream type %v", line, err, upstreamErr)
			}
		}
	}
	if auditlog.RFC3339Micro != metav1.RFC3339Micro {
		t.Errorf("auditlog.RFC3339Micro %q, upstream %q", auditlog.RFC3339Micro, metav1.RFC3339Micro)
	}
}
