package cli

import (
	"os"
	"testing"
)

// TestMain keeps the index the commands build out of the user's cache: each
// test binary gets its own, shared by its tests, so that later tests run
// with the entries earlier ones built (and must print the same).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "auditq-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
