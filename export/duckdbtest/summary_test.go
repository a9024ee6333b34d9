package duckdbtest

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"sort"
	"strings"
	"testing"

	summarysql "github.com/auditq/auditq/export/sql"
	"github.com/auditq/auditq/internal/audittest"
)

// statements splits summary.sql into its named statements.
func statements(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, part := range strings.Split(summarysql.Summary, "-- name: ")[1:] {
		name, body, _ := strings.Cut(part, "\n")
		out[strings.TrimSpace(name)] = strings.TrimSpace(body)
	}
	if len(out) < 10 {
		t.Fatalf("summary.sql has %d statements", len(out))
	}
	return out
}

type row struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// listOf is rows as counts formats a query's: a key repeated in the
// summary's list shows twice, and so differs.
func listOf(rows []row) string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s %d", r.Key, r.Count))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestSummarySQL: the documented SQL, run by DuckDB over an export, gives
// the numbers `auditq summary -o json` gives for the same input: events,
// requests, stages, levels, and per request verbs, codes and classes,
// users, service accounts, namespaces, resources, failures and denials.
func TestSummarySQL(t *testing.T) {
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	stmts := statements(t)
	for name, path := range audittest.Corpora(t) {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(bin, "summary", "-o", "json", "--top", "1000000", "--no-index", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			var sum struct {
				Events, Requests                                 int64
				Approximate                                      bool
				Stages, Levels, Verbs, CodeClasses, Codes, Users []row
				ServiceAccounts, Namespaces, Resources           []row
				Failures, Denials                                struct{ Requests int64 }
				Latency                                          latency
				LatencyByVerb                                    []latency
			}
			if err := json.Unmarshal(out, &sum); err != nil {
				t.Fatal(err)
			}
			if sum.Approximate {
				t.Fatal("the summary is approximate: nothing exact to compare")
			}
			glob := exportTo(t, "--cluster", "c", path)
			db, err := sql.Open("duckdb", "")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1) // one connection: the temp view lives in it
			if _, err := db.Exec(fmt.Sprintf("CREATE VIEW audit AS SELECT * FROM read_parquet('%s', hive_partitioning = true)", glob)); err != nil {
				t.Fatal(err)
			}
			var events, requests int64
			if err := db.QueryRow(stmts["totals"]).Scan(&events, &requests); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d events, %d requests, %d users, %d resources, %d failures, %d denials",
				sum.Events, sum.Requests, len(sum.Users), len(sum.Resources), sum.Failures.Requests, sum.Denials.Requests)
			if events != sum.Events || requests != sum.Requests {
				t.Errorf("events %d, requests %d; auditq summary: %d, %d", events, requests, sum.Events, sum.Requests)
			}
			if _, err := db.Exec(stmts["requests"]); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				want []row
			}{
				{"stages", sum.Stages}, {"levels", sum.Levels}, {"verbs", sum.Verbs}, {"codes", sum.Codes},
				{"codeClasses", sum.CodeClasses}, {"users", sum.Users}, {"serviceAccounts", sum.ServiceAccounts},
				{"namespaces", sum.Namespaces}, {"resources", sum.Resources},
			} {
				if len(c.want) == 0 && c.name != "serviceAccounts" {
					t.Errorf("%s: auditq summary lists nothing: the comparison would be empty", c.name)
				}
				if got, want := counts(t, db, stmts[c.name]), listOf(c.want); got != want {
					t.Errorf("%s: SQL\n%.400s\nauditq summary\n%.400s", c.name, got, want)
				}
			}
			for _, c := range []struct {
				name string
				want int64
			}{{"failures", sum.Failures.Requests}, {"denials", sum.Denials.Requests}} {
				var n int64
				if err := db.QueryRow(stmts[c.name]).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != c.want {
					t.Errorf("%s: SQL %d, auditq summary %d", c.name, n, c.want)
				}
			}
			if _, err := db.Exec(stmts["latencies"]); err != nil {
				t.Fatal(err)
			}
			if sum.Latency.Requests == 0 {
				t.Fatal("auditq summary measured no latency: nothing to compare")
			}
			var got latency
			if err := db.QueryRow(stmts["latency"]).Scan(&got.Requests, &got.P50ms, &got.P90ms, &got.P99ms, &got.Maxms); err != nil {
				t.Fatal(err)
			}
			t.Logf("latency over %d requests: p50 %vms p90 %vms p99 %vms max %vms (SQL)", got.Requests, got.P50ms, got.P90ms, got.P99ms, got.Maxms)
			compareLatency(t, "all", got, sum.Latency)
			rows, err := db.Query(stmts["latencyByVerb"])
			if err != nil {
				t.Fatal(err)
			}
			byVerb := map[string]latency{}
			for rows.Next() {
				var l latency
				if err := rows.Scan(&l.Verb, &l.Requests, &l.P50ms, &l.P90ms, &l.P99ms, &l.Maxms); err != nil {
					t.Fatal(err)
				}
				byVerb[l.Verb] = l
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if len(byVerb) != len(sum.LatencyByVerb) {
				t.Errorf("latency of %d verbs; auditq summary: %d", len(byVerb), len(sum.LatencyByVerb))
			}
			for _, want := range sum.LatencyByVerb {
				compareLatency(t, want.Verb, byVerb[want.Verb], want)
			}
		})
	}
}

type latency struct {
	Verb                       string
	Requests                   int64
	P50ms, P90ms, P99ms, Maxms float64
}

// compareLatency: counts and the maximum are exact; auditq's percentiles
// come from a histogram whose buckets are within 1.6% of their values.
func compareLatency(t *testing.T, name string, sql, auditq latency) {
	t.Helper()
	if sql.Requests != auditq.Requests || sql.Maxms != auditq.Maxms {
		t.Errorf("latency %s: SQL %d requests, max %vms; auditq summary %d, %vms", name, sql.Requests, sql.Maxms, auditq.Requests, auditq.Maxms)
	}
	for _, q := range []struct {
		p         string
		sql, mine float64
	}{{"p50", sql.P50ms, auditq.P50ms}, {"p90", sql.P90ms, auditq.P90ms}, {"p99", sql.P99ms, auditq.P99ms}} {
		if math.Abs(q.sql-q.mine) > q.sql*0.02+0.002 {
			t.Errorf("latency %s %s: SQL %vms, auditq summary %vms", name, q.p, q.sql, q.mine)
		}
	}
}
