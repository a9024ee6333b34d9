package auditlog

import "reflect"

// The copies of upstream types the decoder checks values with, for
// mirror_test.go (package auditlog_test, which may import k8s.io).
var (
	ListMetaCopy      = reflect.TypeFor[listMeta]()
	AuthnMetadataCopy = reflect.TypeFor[authnMetadata]()
)
