// Package attrs rebuilds, from an audit event, the request attributes that
// kube-apiserver's authorizers and audit policy evaluated: shared by policy
// (which user wrote the request) and rbac (which user was authorized).
package attrs

import (
	"net/http"
	"net/url"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/auditq/auditq/auditlog"
)

var requestInfos = &request.RequestInfoFactory{
	APIPrefixes:          sets.NewString("api", "apis"),
	GrouplessAPIPrefixes: sets.NewString("api"),
}

// methodOf is the HTTP method of a request with this verb, for the request
// info factory (which works the verb out again from the method and path).
var methodOf = map[string]string{
	"get": http.MethodGet, "list": http.MethodGet, "watch": http.MethodGet,
	"create": http.MethodPost, "update": http.MethodPut, "patch": http.MethodPatch,
	"delete": http.MethodDelete, "deletecollection": http.MethodDelete,
}

// User copies an event's view of a user (user or impersonatedUser).
func User(u *auditlog.UserInfo) *user.DefaultInfo {
	info := &user.DefaultInfo{Name: string(u.Username), UID: string(u.UID)}
	for _, g := range u.Groups {
		info.Groups = append(info.Groups, string(g))
	}
	if len(u.Extra) > 0 {
		info.Extra = map[string][]string{}
		for _, x := range u.Extra {
			vals := make([]string, len(x.Values))
			for i, v := range x.Values {
				vals[i] = string(v)
			}
			info.Extra[string(x.Key)] = vals
		}
	}
	return info
}

// ObjectRefAsAuthorized reports whether ev's objectRef holds a resource
// request's attributes as they were authorized: kube-apiserver fills it
// from the request info, except that a create's gets the object's name (and
// namespace) from its body afterwards.
func ObjectRefAsAuthorized(ev *auditlog.Event) bool {
	return ev.ObjectRef() != nil && string(ev.Verb()) != "create"
}

// Request rebuilds the attributes of the request ev records, for user u:
// the verb, the path without its query, and objectRef, which kube-apiserver
// fills from the request info. A create's objectRef gets the object's name
// (and namespace) from its body after authorization and the audit policy
// ran, so for a create they come from the request URI instead, parsed by the
// apiserver's own RequestInfoFactory: a collection create has no name, a
// subresource create (pods/NAME/eviction) has one.
func Request(ev *auditlog.Event, u user.Info) authorizer.AttributesRecord {
	verb := string(ev.Verb())
	attrs := authorizer.AttributesRecord{User: u, Verb: verb}
	ref := ev.ObjectRef()
	uri, err := url.ParseRequestURI(string(ev.RequestURI()))
	if err == nil {
		attrs.Path = uri.Path
	}
	if ref == nil {
		return attrs // a non-resource request: /healthz, /version, /metrics…
	}
	attrs.ResourceRequest = true
	attrs.Namespace, attrs.Name = string(ref.Namespace), string(ref.Name)
	attrs.APIGroup, attrs.APIVersion = string(ref.APIGroup), string(ref.APIVersion)
	attrs.Resource, attrs.Subresource = string(ref.Resource), string(ref.Subresource)
	if err != nil || ObjectRefAsAuthorized(ev) {
		return attrs
	}
	ri, err := requestInfos.NewRequestInfo(&http.Request{Method: methodOf[verb], URL: uri})
	if err == nil && ri.IsResourceRequest && ri.Resource == attrs.Resource && ri.Subresource == attrs.Subresource {
		attrs.Namespace, attrs.Name = ri.Namespace, ri.Name
	}
	return attrs
}
