// Command gendocs regenerates the reference from the command definitions,
// the same text --help prints, so the two cannot drift: man pages in
// docs/man, Markdown in docs/reference.
//
//	go run ./internal/tools/gendocs [DIR]    # default: docs
//
// TestCommittedDocsAreCurrent fails when the committed files differ.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/auditq/auditq/internal/cli"
)

// manDate is the date the man pages carry: fixed, so that regenerating
// them changes nothing unless the commands did. Move it on a release.
var manDate = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func main() {
	dir := "docs"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := generate(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func generate(dir string) error {
	man, ref := filepath.Join(dir, "man"), filepath.Join(dir, "reference")
	for _, d := range []string{man, ref} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	header := &doc.GenManHeader{Title: "AUDITQ", Section: "1", Date: &manDate, Source: "auditq", Manual: "auditq manual"}
	if err := doc.GenManTree(cli.ReferenceCommand(), header, man); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	if err := doc.GenMarkdownTree(cli.ReferenceCommand(), ref); err != nil {
		return fmt.Errorf("markdown: %w", err)
	}
	return nil
}
