package policy

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

// Attributes rebuilds the authorization attributes kube-apiserver
// evaluated its audit policy with for the request an event records: the
// authenticated user (before impersonation, as WithAudit runs first), the
// verb, and objectRef, which kube-apiserver fills from the request info;
// for a create, whose objectRef gets the object's name only after the policy
// was evaluated, the name and namespace come from the request URI, parsed by
// the apiserver's own RequestInfoFactory.
func Attributes(ev *auditlog.Event) authorizer.Attributes {
	u := ev.User()
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
	verb := string(ev.Verb())
	attrs := authorizer.AttributesRecord{User: info, Verb: verb}
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
	if err != nil || verb != "create" {
		// Only a create has objectRef filled in after the policy was evaluated
		// (name, and namespace, from the object); other verbs log the request
		// info as it was.
		return attrs
	}
	method, ok := methodOf[verb]
	if !ok {
		method = http.MethodGet
	}
	ri, err := requestInfos.NewRequestInfo(&http.Request{Method: method, URL: uri})
	if err == nil && ri.IsResourceRequest && ri.Resource == attrs.Resource && ri.Subresource == attrs.Subresource {
		attrs.Namespace, attrs.Name = ri.Namespace, ri.Name
	}
	return attrs
}
