package policy

import (
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/attrs"
)

// Attributes rebuilds the authorization attributes kube-apiserver
// evaluated its audit policy with for the request an event records: the
// authenticated user (before impersonation, as WithAudit runs first), the
// verb, and objectRef, which kube-apiserver fills from the request info;
// for a create, whose objectRef gets the object's name only after the policy
// was evaluated, the name and namespace come from the request URI, parsed by
// the apiserver's own RequestInfoFactory.
func Attributes(ev *auditlog.Event) authorizer.Attributes {
	return attrs.Request(ev, attrs.User(ev.User()))
}
