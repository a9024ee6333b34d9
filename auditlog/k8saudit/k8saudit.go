// Package k8saudit converts auditlog's zero-copy events to the upstream
// audit.k8s.io/v1 Event type (k8s.io/apiserver/pkg/apis/audit/v1), for
// callers that want to hand events to Kubernetes code. It is kept apart so
// that only they link k8s.io/apiserver and its dependencies.
package k8saudit

import (
	"encoding/json"
	"fmt"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/auditlog"
)

// ToV1 returns the event as the upstream type, with every string copied. It
// equals what encoding/json gives for the same bytes, except that for
// v1alpha1/v1beta1 events the legacy timestamps fill in zero v1 timestamps,
// as upstream's conversion does, and that keys match case-sensitively, as in
// Kubernetes' own decoder. Times are in the local zone, as
// metav1.MicroTime.UnmarshalJSON makes them.
func ToV1(e *auditlog.Event) (*auditv1.Event, error) {
	out := &auditv1.Event{
		TypeMeta:                 metav1.TypeMeta{Kind: string(e.Kind()), APIVersion: string(e.APIVersion())},
		Level:                    auditv1.Level(e.Level()),
		AuditID:                  types.UID(e.AuditID()),
		Stage:                    auditv1.Stage(e.Stage()),
		RequestURI:               string(e.RequestURI()),
		Verb:                     string(e.Verb()),
		User:                     userOf(e.User()),
		SourceIPs:                stringsOf(e.SourceIPs()),
		UserAgent:                string(e.UserAgent()),
		RequestObject:            unknownOf(e.RequestObject()),
		ResponseObject:           unknownOf(e.ResponseObject()),
		RequestReceivedTimestamp: microTimeOf(e.RequestReceivedTimestamp()),
		StageTimestamp:           microTimeOf(e.StageTimestamp()),
	}
	if u := e.ImpersonatedUser(); u != nil {
		v := userOf(u)
		out.ImpersonatedUser = &v
	}
	if raw := e.AuthenticationMetadata(); raw != nil {
		out.AuthenticationMetadata = new(auditv1.AuthenticationMetadata)
		if err := json.Unmarshal(raw, out.AuthenticationMetadata); err != nil {
			return nil, fmt.Errorf("authenticationMetadata: %w", err)
		}
	}
	if o := e.ObjectRef(); o != nil {
		out.ObjectRef = &auditv1.ObjectReference{
			Resource:        string(o.Resource),
			Namespace:       string(o.Namespace),
			Name:            string(o.Name),
			UID:             types.UID(o.UID),
			APIGroup:        string(o.APIGroup),
			APIVersion:      string(o.APIVersion),
			ResourceVersion: string(o.ResourceVersion),
			Subresource:     string(o.Subresource),
		}
	}
	if st := e.ResponseStatus(); st != nil {
		s, err := statusOf(st)
		if err != nil {
			return nil, err
		}
		out.ResponseStatus = s
	}
	if as := e.Annotations(); as != nil {
		out.Annotations = make(map[string]string, len(as))
		for _, a := range as {
			out.Annotations[string(a.Key)] = string(a.Value)
		}
	}
	return out, nil
}

func userOf(u *auditlog.UserInfo) authnv1.UserInfo {
	out := authnv1.UserInfo{Username: string(u.Username), UID: string(u.UID), Groups: stringsOf(u.Groups)}
	if u.Extra != nil {
		out.Extra = make(map[string]authnv1.ExtraValue, len(u.Extra))
		for _, x := range u.Extra {
			out.Extra[string(x.Key)] = authnv1.ExtraValue(stringsOf(x.Values))
		}
	}
	return out
}

func statusOf(s *auditlog.Status) (*metav1.Status, error) {
	out := &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: string(s.Kind), APIVersion: string(s.APIVersion)},
		Status:   string(s.Status),
		Message:  string(s.Message),
		Reason:   metav1.StatusReason(s.Reason),
		Code:     s.Code,
	}
	if s.Metadata != nil {
		if err := json.Unmarshal(s.Metadata, &out.ListMeta); err != nil {
			return nil, fmt.Errorf("responseStatus.metadata: %w", err)
		}
	}
	if s.Details != nil {
		out.Details = new(metav1.StatusDetails)
		if err := json.Unmarshal(s.Details, out.Details); err != nil {
			return nil, fmt.Errorf("responseStatus.details: %w", err)
		}
	}
	return out, nil
}

func stringsOf(bs [][]byte) []string {
	if bs == nil {
		return nil
	}
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func unknownOf(raw []byte) *runtime.Unknown {
	if raw == nil {
		return nil
	}
	return &runtime.Unknown{Raw: append([]byte(nil), raw...), ContentType: runtime.ContentTypeJSON}
}

func microTimeOf(t time.Time) metav1.MicroTime {
	if t.IsZero() {
		return metav1.MicroTime{}
	}
	return metav1.NewMicroTime(t.Local())
}
