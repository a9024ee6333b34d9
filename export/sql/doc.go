// Package sql holds the SQL that computes `auditq summary`'s core numbers
// over the Parquet export (summary.sql), checked against auditq summary in
// export/duckdbtest.
package sql

import _ "embed"

// Summary is summary.sql: statements, each after a "-- name: NAME" line.
//
//go:embed summary.sql
var Summary string
