package duckdbtest

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/internal/audittest"
)

// TestDuckDBReadsOCSF: DuckDB reads `auditq export --schema ocsf` of the
// fixture set and of a real kube-apiserver's set, and the counts AWS's
// Security Lake queries use (by api.operation, activity, status code,
// actor, resource type, a decision in unmapped) equal what encoding/json
// gives for the same events; types are OCSF's (time BIGINT ms, time_dt a
// timestamp), the request UID has a Bloom filter, a body reads back whole.
func TestDuckDBReadsOCSF(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, path := range audittest.Corpora(t) {
		t.Run(name, func(t *testing.T) {
			glob := exportTo(t, "--schema", "ocsf", "--cluster", "c1", path)
			evs := events(t, path, nil)
			from := fmt.Sprintf("read_parquet('%s', hive_partitioning=true)", glob)
			var n, ids int64
			if err := db.QueryRow("SELECT count(*), count(DISTINCT api.request.uid) FROM "+from+" WHERE class_uid = 6003").Scan(&n, &ids); err != nil {
				t.Fatal(err)
			}
			distinct := map[string]bool{}
			for _, e := range evs {
				distinct[string(e.AuditID)] = true
			}
			if n != int64(len(evs)) || ids != int64(len(distinct)) {
				t.Fatalf("%d records and %d request UIDs, want %d and %d", n, ids, len(evs), len(distinct))
			}
			activity := map[string]string{"create": "Create", "get": "Read", "list": "Read", "watch": "Read", "update": "Update", "patch": "Update", "delete": "Delete", "deletecollection": "Delete"}
			for _, c := range []struct {
				name, sql string
				f         func(*auditv1.Event) (string, bool)
			}{
				{"operation", "SELECT api.operation, count(*) FROM " + from + " GROUP BY 1", func(e *auditv1.Event) (string, bool) { return e.Verb, true }},
				{"activity", "SELECT activity_name || ' ' || type_uid, count(*) FROM " + from + " GROUP BY 1", func(e *auditv1.Event) (string, bool) {
					a, ok := activity[e.Verb]
					if !ok {
						return e.Verb + " 600399", true
					}
					return a + " " + map[string]string{"Create": "600301", "Read": "600302", "Update": "600303", "Delete": "600304"}[a], true
				}},
				{"status_code", "SELECT status_code || ' ' || status, count(*) FROM " + from + " WHERE status_code IS NOT NULL GROUP BY 1", func(e *auditv1.Event) (string, bool) {
					if e.ResponseStatus == nil || e.ResponseStatus.Code == 0 {
						return "", false
					}
					if e.ResponseStatus.Code >= 400 {
						return fmt.Sprint(e.ResponseStatus.Code, " Failure"), true
					}
					return fmt.Sprint(e.ResponseStatus.Code, " Success"), true
				}},
				{"actor", "SELECT actor.user.name, count(*) FROM " + from + " GROUP BY 1", func(e *auditv1.Event) (string, bool) { return e.User.Username, true }},
				{"groups", "SELECT g.name, count(*) FROM (SELECT unnest(actor.user.groups) AS g FROM " + from + ") GROUP BY 1", nil},
				{"resource type", "SELECT r.type, count(*) FROM (SELECT unnest(resources) AS r FROM " + from + ") GROUP BY 1", func(e *auditv1.Event) (string, bool) {
					if e.ObjectRef == nil {
						return "", false
					}
					if e.ObjectRef.Subresource != "" {
						return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource, true
					}
					return e.ObjectRef.Resource, true
				}},
				{"decision", "SELECT unmapped['annotations.authorization.k8s.io/decision'], count(*) FROM " + from + " WHERE unmapped['annotations.authorization.k8s.io/decision'] IS NOT NULL GROUP BY 1",
					func(e *auditv1.Event) (string, bool) {
						d, ok := e.Annotations["authorization.k8s.io/decision"]
						return d, ok
					}},
			} {
				want := ""
				if c.f != nil {
					want = tally(evs, c.f)
				} else {
					m := map[string]int64{}
					for _, e := range evs {
						for _, g := range e.User.Groups {
							m[g]++
						}
					}
					want = fmtCounts(m)
				}
				if got := counts(t, db, c.sql); got != want || want == "" {
					t.Errorf("%s: DuckDB\n%.300s\nencoding/json\n%.300s", c.name, got, want)
				}
			}
			// A body and a time read back: the latest event with a request body.
			var last *auditv1.Event
			for _, e := range evs {
				if e.RequestObject != nil && (last == nil || e.StageTimestamp.After(last.StageTimestamp.Time)) {
					last = e
				}
			}
			var data, stageExact string
			var ms int64
			q := "SELECT api.request.data, time, unmapped['stageTimestamp'] FROM " + from + " WHERE api.request.uid = ? AND message = ?"
			if err := db.QueryRow(q, string(last.AuditID), string(last.Stage)).Scan(&data, &ms, &stageExact); err != nil {
				t.Fatal(err)
			}
			if data != string(last.RequestObject.Raw) || ms != last.StageTimestamp.UnixMilli() || !strings.HasPrefix(stageExact, last.StageTimestamp.UTC().Format("2006-01-02T15:04:05")) {
				t.Errorf("%s: data %d bytes (want %d), time %d (want %d), unmapped stageTimestamp %s", last.AuditID, len(data), len(last.RequestObject.Raw), ms, last.StageTimestamp.UnixMilli(), stageExact)
			}
			types := columnTypes(t, db, from)
			for col, want := range map[string]string{"time": "BIGINT", "time_dt": "TIMESTAMP WITH TIME ZONE", "class_uid": "INTEGER", "unmapped": "MAP(VARCHAR, VARCHAR)"} {
				if types[col] != want {
					t.Errorf("%s: DuckDB type %q, want %q", col, types[col], want)
				}
			}
			// DuckDB's parquet_bloom_probe takes top-level columns only, so
			// check the filter is there in every row group.
			var withBloom, groups int
			q = fmt.Sprintf("SELECT count(*) FILTER (WHERE bloom_filter_offset IS NOT NULL), count(*) FROM parquet_metadata('%s') WHERE path_in_schema = 'api, request, uid'", glob)
			if err := db.QueryRow(q).Scan(&withBloom, &groups); err != nil {
				t.Fatal(err)
			}
			if groups == 0 || withBloom != groups {
				t.Errorf("a Bloom filter on api.request.uid in %d of %d row groups", withBloom, groups)
			}
		})
	}
}
