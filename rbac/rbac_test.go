package rbac

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// observe reads paths event by event into new observations.
func observe(t *testing.T, selected func(*auditlog.UserInfo) bool, paths ...string) *Observations {
	t.Helper()
	obs := NewObservations(selected)
	for r := range auditlog.ScanFiles[struct{}](context.Background(), paths, nil, auditlog.WithConcurrency(1)) {
		var skipped *auditlog.SkippedError
		if r.Err != nil && !errors.As(r.Err, &skipped) {
			t.Fatal(r.Err)
		}
		if r.Event != nil {
			obs.Add(r.Event)
		}
	}
	return obs
}

// gceLike is the real kube-apiserver's rotated set, observed.
func gceLike(t *testing.T) *Observations {
	dir := audittest.Shared(t, "kube-apiserver", "gce-like")
	return observe(t, nil, dir)
}

// TestGenerateAgreesWithTheLog: on the real kube-apiserver set, for every
// subject, the generated RBAC (with the default bindings every cluster has)
// allows every request the log shows RBAC allowing, and none of those it
// shows forbidden; no create rule names objects; the YAML decodes strictly
// as rbac.authorization.k8s.io/v1 objects.
func TestGenerateAgreesWithTheLog(t *testing.T) {
	obs := gceLike(t)
	plan, err := Generate(obs, GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := plan.Set()
	if err != nil {
		t.Fatal(err)
	}
	defaults := DefaultSet()
	allowed, forbidden, sas := 0, 0, map[string]bool{}
	for _, o := range obs.All() {
		a := o.Attributes()
		byPlan := set.AuthorizeRBAC(a).Allowed || defaults.AuthorizeRBAC(a).Allowed
		switch o.Class {
		case RBACAllowed:
			allowed++
			if strings.HasPrefix(o.User, "system:serviceaccount:") {
				sas[o.User] = true
			}
			if !byPlan {
				t.Errorf("RBAC allowed %s for %s (auditID %s); the generated RBAC does not", describeRequest(&o.Request), o.User, o.Example)
			}
		case Forbidden:
			forbidden++
			if byPlan {
				t.Errorf("the log shows %s forbidden for %s (auditID %s); the generated RBAC allows it", describeRequest(&o.Request), o.User, o.Example)
			}
		}
	}
	if allowed < 100 || forbidden < 100 || len(sas) < 50 {
		t.Fatalf("only %d distinct RBAC-allowed and %d forbidden requests, %d service accounts: not the corpus expected", allowed, forbidden, len(sas))
	}
	for _, sp := range plan.Subjects {
		for _, gr := range sp.Roles {
			for _, r := range gr.Rules {
				if len(r.ResourceNames) > 0 && slicesHas(r.Verbs, "create") {
					t.Errorf("%s %s: a create rule with resourceNames: %+v", gr.Namespace, gr.Name, r.PolicyRule)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := plan.WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	n := decodeStrict(t, buf.Bytes())
	t.Logf("%d distinct RBAC-allowed and %d forbidden requests of %d subjects (%d service accounts): %d objects, %d bytes of YAML", allowed, forbidden, len(plan.Subjects), len(sas), n, buf.Len())
}

func slicesHas(xs []string, v string) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

// decodeStrict decodes every YAML document as an RBAC v1 object, failing on
// unknown or duplicate fields, and returns how many there were.
func decodeStrict(t *testing.T, data []byte) int {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := rbacv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	docs := utilyaml.NewYAMLReader(bufioReader(data))
	n := 0
	for {
		doc, err := docs.Read()
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("document %d: %v\n%s", n+1, err, doc)
		}
		if gvk.GroupVersion() != rbacv1.SchemeGroupVersion {
			t.Fatalf("document %d: %v", n+1, gvk)
		}
		_ = obj
		n++
	}
	return n
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func sharedGCE() (string, bool) { return audittest.SharedPath("kube-apiserver", "gce-like") }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
