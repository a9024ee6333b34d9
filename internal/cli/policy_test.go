package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/internal/fixture"
)

// policyFixture writes a log of every request at RequestResponse, the log
// kube-apiserver's audit code writes for the same requests under policy,
// and the policy, into dir.
func policyFixture(t *testing.T, dir, policy string) (full, real, policyPath string) {
	t.Helper()
	cfg := fixture.Config{Seed: 21, Requests: 1500, ManagedFields: true,
		Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"}
	var f, r bytes.Buffer
	if _, err := fixture.Write(&f, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Policy = policy
	if _, err := fixture.Write(&r, cfg); err != nil {
		t.Fatal(err)
	}
	full, real, policyPath = filepath.Join(dir, "full-audit.log"), filepath.Join(dir, "real-audit.log"), filepath.Join(dir, "policy.yaml")
	for p, data := range map[string][]byte{full: f.Bytes(), real: r.Bytes(), policyPath: []byte(policy)} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return full, real, policyPath
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runEnv(args, &env{stdout: &out, stderr: &errOut})
	return out.String(), errOut.String(), code
}

// TestPolicySimulateShowKept: `policy simulate --show kept` on a log of
// everything prints, byte for byte, the log kube-apiserver writes under the
// policy; --show dropped prints the rest; the report's totals agree.
func TestPolicySimulateShowKept(t *testing.T) {
	dir := t.TempDir()
	full, real, policy := policyFixture(t, dir, fixture.BenchPolicy)
	want, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	for _, threads := range []string{"1", "2"} {
		kept, stderr, code := runCLI(t, "policy", "simulate", "--threads", threads, "--policy", policy, "--show", "kept", full)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(kept, "\n")); diff != "" {
			t.Errorf("--show kept differs from the log written under the policy (-written +shown):\n%.2000s", diff)
		}
		dropped, _, _ := runCLI(t, "policy", "simulate", "--threads", threads, "--policy", policy, "--show", "dropped", full)
		fullData, _ := os.ReadFile(full)
		if n, m, total := strings.Count(kept, "\n"), strings.Count(dropped, "\n"), bytes.Count(fullData, []byte("\n")); n+m != total || m == 0 {
			t.Errorf("kept %d + dropped %d != %d events", n, m, total)
		}
		out, _, code := runCLI(t, "policy", "simulate", "--threads", threads, "--policy", policy, "-o", "json", full)
		var doc struct {
			Policy struct {
				Total struct {
					Events, BytesBefore, BytesAfter, EventsKept, EventsTrimmed, EventsDropped int64
				}
			}
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
			t.Fatalf("exit %d, %v: %s", code, err, out)
		}
		tot := doc.Policy.Total
		if tot.BytesAfter != int64(len(want)) || tot.BytesBefore != int64(len(fullData)) || tot.EventsDropped != int64(strings.Count(dropped, "\n")) {
			t.Errorf("report %+v: want %d bytes after, %d before, %d dropped", tot, len(want), len(fullData), strings.Count(dropped, "\n"))
		}
	}
}

// TestPolicySimulateAgainst: the difference between two policies is the
// difference of their totals, and a policy against itself differs nowhere.
func TestPolicySimulateAgainst(t *testing.T) {
	dir := t.TempDir()
	full, _, policy := policyFixture(t, dir, fixture.BenchPolicy)
	other := filepath.Join(dir, "default.yaml")
	os.WriteFile(other, []byte(fixture.DefaultPolicy), 0o644)
	out, stderr, code := runCLI(t, "policy", "simulate", "--policy", policy, "--against", other, "-o", "json", full)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Policy, Against struct{ Total struct{ BytesAfter int64 } }
		Difference      struct {
			BytesPolicy, BytesAgainst int64
			RulePairs                 []struct{ Events, Bytes, BytesOther int64 }
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.Difference
	if d.BytesPolicy != doc.Policy.Total.BytesAfter || d.BytesAgainst != doc.Against.Total.BytesAfter || len(d.RulePairs) == 0 {
		t.Errorf("difference %+v does not match the totals %d, %d", d, doc.Policy.Total.BytesAfter, doc.Against.Total.BytesAfter)
	}
	var sum int64
	for _, rp := range d.RulePairs {
		sum += rp.Bytes - rp.BytesOther
	}
	if sum != d.BytesPolicy-d.BytesAgainst {
		t.Errorf("the rule pairs account for %d bytes of a %d difference", sum, d.BytesPolicy-d.BytesAgainst)
	}
	table, _, _ := runCLI(t, "policy", "simulate", "--policy", policy, "--against", policy, full)
	if !strings.Contains(table, "Both policies write every event the same way.") {
		t.Errorf("a policy against itself:\n%s", table)
	}
}
