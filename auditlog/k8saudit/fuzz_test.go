package k8saudit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// seedLines are lines of the fixture's active log and the first line of
// each real sample, when ../shared is there.
func seedLines(f *testing.F) [][]byte {
	f.Helper()
	var lines [][]byte
	for i, l := range bytes.Split(audittest.ReadFile(f, audittest.Rotated()), []byte("\n")) {
		if i < 40 {
			lines = append(lines, l)
		}
	}
	for _, path := range audittest.RealdataFiles(64 << 10) {
		if b, err := os.ReadFile(path); err == nil {
			if i := bytes.IndexByte(b, '\n'); i > 0 {
				lines = append(lines, b[:i])
			}
		}
	}
	return lines
}

// FuzzToV1: every event the Reader accepts, from any input, converts.
func FuzzToV1(f *testing.F) {
	for _, l := range seedLines(f) {
		f.Add(l)
	}
	f.Add([]byte(`{"responseStatus":{"metadata":{"remainingItemCount":1},"details":{"causes":[{"field":"x"}]}},"authenticationMetadata":{"impersonationConstraint":"impersonate:user-info"}}`))
	f.Add([]byte(`{"kind":"EventList","items":[{"auditID":"a"},{"auditID":"b","user":{"extra":{"k":null}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := auditlog.NewReader(bytes.NewReader(data), auditlog.WithMaxLineSize(1<<16))
		if err != nil {
			t.Fatal(err)
		}
		for {
			ev, err := rd.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				continue
			}
			if _, err := ToV1(ev); err != nil {
				t.Fatalf("ToV1 of an accepted event: %v", err)
			}
		}
	})
}

// knownKeys are the JSON names of auditv1.Event and the types inside it that
// auditlog decodes itself.
var knownKeys = strings.Fields(`kind apiversion level auditid stage requesturi verb user impersonateduser
	authenticationmetadata sourceips useragent objectref responsestatus requestobject responseobject
	requestreceivedtimestamp stagetimestamp annotations username uid groups extra resource namespace name
	apigroup resourceversion subresource status message reason details code metadata timestamp creationtimestamp causes retryafterseconds field group`)

// foldedKey reports whether data has an object key that encoding/json would match
// case-insensitively to a known field but that is not spelled exactly: keys match
// case-sensitively here, as in Kubernetes' own decoder.
func foldedKey(data []byte) bool {
	var walk func(v any) bool
	exact := map[string]bool{}
	for _, k := range strings.Fields(`kind apiVersion level auditID stage requestURI verb user impersonatedUser
		authenticationMetadata sourceIPs userAgent objectRef responseStatus requestObject responseObject
		requestReceivedTimestamp stageTimestamp annotations username uid groups extra resource namespace name
		apiGroup resourceVersion subresource status message reason details code metadata timestamp creationTimestamp causes retryAfterSeconds field group`) {
		exact[k] = true
	}
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				for _, kk := range knownKeys {
					if strings.EqualFold(k, kk) && !exact[k] {
						return true
					}
				}
				if walk(x) {
					return true
				}
			}
		case []any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		}
		return false
	}
	var v any
	if json.Unmarshal(data, &v) != nil {
		return false
	}
	return walk(v)
}

// FuzzDecodeDifferential: a line is accepted exactly when encoding/json accepts it
// into auditv1.Event, and then ToV1 equals encoding/json's result.
func FuzzDecodeDifferential(f *testing.F) {
	for _, l := range seedLines(f) {
		f.Add(l)
	}
	for _, s := range []string{
		`{"user":{"username":"a"},"user":{"uid":"u"}}`, `{"sourceIPs":[]}`, `{"annotations":{"a":"1","a":"2"}}`,
		`{"responseStatus":{"code":200.0}}`, `{"responseStatus":{"code":-0}}`, `{"verb":"\ud83d\ude00 \ud800\u0041"}`,
		"{\"verb\":\"\xff\xfe\"}", `{"stageTimestamp":"2017-02-30T19:55:05.123456Z"}`, `{"timestamp":"2017-09-11T19:55:05Z","metadata":{"creationTimestamp":"2017-09-11T19:55:06Z"}}`,
		`{"responseStatus":{"details":{"causes":[{"field":1}]}}}`, `{"timestamp":"2017-09-11T19:55:05Z","timestamp":null,"metadata":{"creationTimestamp":"2017-09-11T19:55:05Z"},"metadata":{}}`, `{"responseStatus":{"details":{"causes":[null,{"reason":null}],"retryAfterSeconds":1.5}}}`,
		`{"responseStatus":{"details":{"name":"a","uid":"u","causes":null,"kind":"pods","group":"","retryAfterSeconds":-2147483648}}}`, `{"impersonatedUser":null,"objectRef":{},"requestObject":{"a":[1,2,{"b":null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 || trimmed[0] != '{' || bytes.ContainsAny(line, "\n\r") || foldedKey(trimmed) || bytes.Contains(line, []byte(`"items"`)) {
			return // framing, lists, non-objects and case-folded keys are covered elsewhere
		}
		// An object without an auditID is refused as not an audit event;
		// give it one, so that every field's decoding is still compared.
		if !auditlog.FirstKeys(trimmed).Has("auditID") {
			body := bytes.TrimSpace(trimmed[1:])
			sep := ","
			if len(body) > 0 && body[0] == '}' {
				sep = ""
			}
			line = append([]byte(`{"auditID":"fuzz"`+sep), body...)
		}
		var want auditv1.Event
		wantErr := json.Unmarshal(line, &want)
		rd, err := auditlog.NewReader(bytes.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		e, gotErr := rd.Next()
		if errors.Is(gotErr, auditlog.ErrNotEvent) {
			return // valid JSON with an auditID of null or "": no audit event, whatever its fields
		}
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("encoding/json error %v, auditlog %v, for %q", wantErr, gotErr, line)
		}
		if gotErr != nil {
			var pe *auditlog.ParseError
			if !errors.As(gotErr, &pe) || pe.Offset < 0 || pe.Offset > int64(len(line)) {
				t.Fatalf("error %v outside %d bytes", gotErr, len(line))
			}
			return
		}
		got, err := ToV1(e)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(audittest.OracleEvent(t, line), got); diff != "" {
			t.Fatalf("differs from encoding/json for %q (-want +got):\n%s", line, diff)
		}
	})
}
