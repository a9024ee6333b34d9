package auditlog_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/auditlog"
)

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
		"ListMeta":               {reflect.TypeFor[metav1.ListMeta](), auditlog.ListMetaCopy},
		"AuthenticationMetadata": {reflect.TypeFor[auditv1.AuthenticationMetadata](), auditlog.AuthnMetadataCopy},
	}
	for name, m := range mirrors {
		if diff := cmp.Diff(jsonShape(m[0]), jsonShape(m[1])); diff != "" {
			t.Errorf("%s: upstream's JSON shape changed; update the copy in values.go (-upstream +copy):\n%s", name, diff)
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
