package k8saudit

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
