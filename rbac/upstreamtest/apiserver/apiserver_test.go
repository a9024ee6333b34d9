package apiserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/storage/etcd3/testserver"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/kubernetes"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/rbac"
)

// TestGeneratedRBACOnARealAPIServer starts a real kube-apiserver (v1.37.2,
// RBAC authorization, the bootstrap policy, an embedded etcd), applies
// what auditq generated from the real set with the real kubectl, and asks
// the server, by SubjectAccessReview, about every distinct request of the
// log: each one the log shows RBAC allowing is allowed, each one it shows
// forbidden is refused.
func TestGeneratedRBACOnARealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver")
	}
	dir := filepath.Join("..", "..", "..", "..", "shared", "kube-apiserver", "gce-like")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s not present (../shared is optional)", dir)
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	obs := rbac.NewObservations(nil)
	for r := range auditlog.ScanFiles[struct{}](context.Background(), []string{dir}, nil) {
		var skipped *auditlog.SkippedError
		if r.Err != nil && !errors.As(r.Err, &skipped) {
			t.Fatal(r.Err)
		}
		if r.Event != nil {
			obs.Add(r.Event)
		}
	}
	plan, err := rbac.Generate(obs, rbac.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var yaml bytes.Buffer
	if err := plan.WriteYAML(&yaml); err != nil {
		t.Fatal(err)
	}

	etcdCfg := testserver.NewTestConfig(t)
	testserver.RunEtcd(t, etcdCfg)
	storage := storagebackend.NewDefaultConfig(path.Join("auditq", "registry"), nil)
	storage.Transport.ServerList = []string{etcdCfg.ListenClientUrls[0].String()}
	server := kubeapiservertesting.StartTestServerOrDie(t, nil, []string{"--authorization-mode=RBAC"}, storage)
	t.Cleanup(server.TearDownFn)
	cfg := server.ClientConfig
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// kubectl apply, as a user would.
	tmp := t.TempDir()
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	ca := cfg.TLSClientConfig.CAData
	if len(ca) == 0 {
		if ca, err = os.ReadFile(cfg.TLSClientConfig.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(kubeconfig, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, certificate-authority-data: %q, tls-server-name: %q}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, cfg.Host, b64(ca), cfg.TLSClientConfig.ServerName, cfg.BearerToken), 0o600)
	generated := filepath.Join(tmp, "generated.yaml")
	os.WriteFile(generated, yaml.Bytes(), 0o600)
	// The namespaces the Roles go in, first.
	var nsYAML bytes.Buffer
	namespaces := map[string]bool{}
	for _, sp := range plan.Subjects {
		for _, r := range sp.Roles {
			if r.Namespace != "" && !namespaces[r.Namespace] {
				namespaces[r.Namespace] = true
				fmt.Fprintf(&nsYAML, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %q}\n", r.Namespace)
			}
		}
	}
	nsFile := filepath.Join(tmp, "namespaces.yaml")
	os.WriteFile(nsFile, nsYAML.Bytes(), 0o600)
	run(t, kubectl, "--kubeconfig", kubeconfig, "apply", "-f", nsFile)
	out := run(t, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "-f", generated)
	if n := strings.Count(out, " serverside-applied"); n < 100 {
		t.Fatalf("kubectl apply: %d objects applied\n%s", n, out)
	}

	ctx := context.Background()
	allowed, refused := 0, 0
	for _, o := range obs.All() {
		if o.Class != rbac.RBACAllowed && o.Class != rbac.Forbidden {
			continue
		}
		spec := authorizationv1.SubjectAccessReviewSpec{User: o.User, Groups: o.GroupList()}
		if o.NonResource {
			spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: o.Path, Verb: o.Verb}
		} else {
			spec.ResourceAttributes = &authorizationv1.ResourceAttributes{Namespace: o.Namespace, Verb: o.Verb, Group: o.APIGroup,
				Resource: o.Resource, Subresource: o.Subresource, Name: o.Name}
		}
		sar, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case o.Class == rbac.RBACAllowed && !sar.Status.Allowed:
			t.Errorf("RBAC allowed %s %s/%s/%s %s for %s (auditID %s); the server refuses it with what was generated: %s",
				o.Verb, o.APIGroup, o.Resource, o.Subresource, o.Name, o.User, o.Example, sar.Status.Reason)
		case o.Class == rbac.Forbidden && sar.Status.Allowed:
			t.Errorf("the log shows %s %s %s forbidden for %s (auditID %s); the server allows it: %s", o.Verb, o.Resource, o.Name, o.User, o.Example, sar.Status.Reason)
		case o.Class == rbac.RBACAllowed:
			allowed++
		default:
			refused++
		}
	}
	t.Logf("kube-apiserver: %d distinct RBAC-allowed requests allowed, %d forbidden refused, with the generated RBAC applied by kubectl", allowed, refused)
	if allowed < 400 || refused < 500 {
		t.Fatalf("too few requests checked")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%.3000s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
