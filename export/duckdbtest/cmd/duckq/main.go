// Command duckq runs one SQL statement on an in-memory DuckDB and prints
// the first column of the first row: the DuckDB peer of the benchmark
// harness (go run ./bench harness), which must stay cgo-free.
package main

import (
	"database/sql"
	"fmt"
	"os"

	_ "github.com/duckdb/duckdb-go/v2"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: duckq SQL")
		os.Exit(2)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "duckq:", err)
		os.Exit(1)
	}
	defer db.Close()
	var v any
	if err := db.QueryRow(os.Args[1]).Scan(&v); err != nil {
		fmt.Fprintln(os.Stderr, "duckq:", err)
		os.Exit(1)
	}
	fmt.Println(v)
}
