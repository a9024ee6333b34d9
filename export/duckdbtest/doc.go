// Package duckdbtest reads auditq's Parquet export back with DuckDB (cgo),
// in a module of its own so that the library stays pure Go and `go get`
// light. CI runs it: cd export/duckdbtest && go test ./...
package duckdbtest
