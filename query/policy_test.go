package query

import (
	"bytes"

	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/bench/fixture"
)

const logEverything = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"

// testPolicies are the setup guides' policies (when ../shared is there) and
// the fixture generator's own.
func testPolicies(t *testing.T) map[string]string {
	t.Helper()
	ps := map[string]string{"fixture default": fixture.DefaultPolicy, "fixture bench": fixture.BenchPolicy}
	dir := filepath.Join("..", "..", "shared", "policies")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		ps[e.Name()] = string(b)
	}
	return ps
}

// asV1 is a policy text with an old apiVersion changed to v1, which the
// generator (k8s.io/apiserver's loader) needs.
func asV1(policy string) string {
	for _, old := range []string{"audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1"} {
		policy = strings.Replace(policy, old, "audit.k8s.io/v1", 1)
	}
	return policy
}

// TestSimulateEqualsTheRealWriter: a log written at RequestResponse for every
// request, with each policy applied by ApplyPolicy, is byte for byte the log
// kube-apiserver's audit code writes under that policy for the same requests.
func TestSimulateEqualsTheRealWriter(t *testing.T) {
	for name, text := range testPolicies(t) {
		t.Run(name, func(t *testing.T) {
			cfg := fixture.Config{Seed: 11, Requests: 3000, ManagedFields: true, Policy: logEverything}
			var full, real bytes.Buffer
			if _, err := fixture.Write(&full, cfg); err != nil {
				t.Fatal(err)
			}
			cfg.Policy = asV1(text)
			if _, err := fixture.Write(&real, cfg); err != nil {
				t.Fatal(err)
			}
			p, err := LoadPolicy(name, []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			var sim []byte
			fates := map[Fate]int{}
			rd, err := auditlog.NewReader(bytes.NewReader(full.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			for ev, err := range rd.All() {
				if err != nil {
					t.Fatal(err)
				}
				var out PolicyOutcome
				before := len(sim)
				sim, out = ApplyPolicy(p, ev, sim)
				if out.Fate != Dropped {
					sim = append(sim, '\n')
				} else if len(sim) != before {
					t.Fatal("a dropped event was written")
				}
				if out.Underlogged {
					t.Fatalf("a RequestResponse log cannot be under-logged: %+v", out)
				}
				fates[out.Fate]++
			}
			wantLines := strings.Split(real.String(), "\n")
			gotLines := strings.Split(string(sim), "\n")
			if diff := cmp.Diff(wantLines, gotLines); diff != "" {
				t.Errorf("simulated log differs from the one written under the policy (-written +simulated):\n%.3000s", diff)
			}
			t.Logf("%s: %d lines written; kept %d, trimmed %d, dropped %d of the full log's events", name, len(wantLines)-1, fates[Kept], fates[Trimmed], fates[Dropped])
		})
	}
}
