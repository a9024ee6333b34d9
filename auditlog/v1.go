package auditlog

import (
	"encoding/json"
	"fmt"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// ToV1 returns the event as the upstream type, with every string copied. It
// equals what encoding/json gives for the same bytes, except that for
// v1alpha1/v1beta1 events the legacy timestamps fill in zero v1 timestamps, as
// upstream's conversion does. Times are in the local zone, as
// metav1.MicroTime.UnmarshalJSON makes them.
func (e *Event) ToV1() (*auditv1.Event, error) {
	out := &auditv1.Event{
		TypeMeta:                 metav1.TypeMeta{Kind: string(e.kind), APIVersion: string(e.apiVersion)},
		Level:                    auditv1.Level(e.level),
		AuditID:                  types.UID(e.auditID),
		Stage:                    auditv1.Stage(e.stage),
		RequestURI:               string(e.requestURI),
		Verb:                     string(e.verb),
		User:                     e.user.toV1(),
		SourceIPs:                stringsOf(e.sourceIPs),
		UserAgent:                string(e.userAgent),
		RequestObject:            unknownOf(e.requestObject),
		ResponseObject:           unknownOf(e.responseObject),
		RequestReceivedTimestamp: microTimeOf(e.requestReceived),
		StageTimestamp:           microTimeOf(e.stageTime),
	}
	if e.hasImpersonated {
		u := e.impersonated.toV1()
		out.ImpersonatedUser = &u
	}
	if e.authnMetadata != nil {
		out.AuthenticationMetadata = new(auditv1.AuthenticationMetadata)
		if err := json.Unmarshal(e.authnMetadata, out.AuthenticationMetadata); err != nil {
			return nil, fmt.Errorf("authenticationMetadata: %w", err)
		}
	}
	if e.hasObjectRef {
		o := &e.objectRef
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
	if e.hasStatus {
		s, err := e.status.toV1()
		if err != nil {
			return nil, err
		}
		out.ResponseStatus = s
	}
	if e.annotations != nil {
		out.Annotations = make(map[string]string, len(e.annotations))
		for _, a := range e.annotations {
			out.Annotations[string(a.Key)] = string(a.Value)
		}
	}
	return out, nil
}

func (u *UserInfo) toV1() authnv1.UserInfo {
	out := authnv1.UserInfo{Username: string(u.Username), UID: string(u.UID), Groups: stringsOf(u.Groups)}
	if u.Extra != nil {
		out.Extra = make(map[string]authnv1.ExtraValue, len(u.Extra))
		for _, x := range u.Extra {
			out.Extra[string(x.Key)] = authnv1.ExtraValue(stringsOf(x.Values))
		}
	}
	return out
}

func (s *Status) toV1() (*metav1.Status, error) {
	out := &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: string(s.kind), APIVersion: string(s.apiVersion)},
		Status:   string(s.Status),
		Message:  string(s.Message),
		Reason:   metav1.StatusReason(s.Reason),
		Code:     s.Code,
	}
	if s.metadata != nil {
		if err := json.Unmarshal(s.metadata, &out.ListMeta); err != nil {
			return nil, fmt.Errorf("responseStatus.metadata: %w", err)
		}
	}
	if s.details != nil {
		out.Details = new(metav1.StatusDetails)
		if err := json.Unmarshal(s.details, out.Details); err != nil {
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

func microTimeOf(t timestamp) metav1.MicroTime {
	if !t.set {
		return metav1.MicroTime{}
	}
	return metav1.NewMicroTime(t.time().Local())
}
