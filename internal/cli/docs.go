package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// ReferenceCommand is the command tree as --help shows it, for generating
// the reference (man pages, Markdown: internal/tools/gendocs): with the
// completion command, without the build's version or cobra's dated tag.
func ReferenceCommand() *cobra.Command {
	root := newRootCommand(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	root.InitDefaultCompletionCmd()
	root.Version = ""
	var noTag func(*cobra.Command)
	noTag = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, sub := range c.Commands() {
			noTag(sub)
		}
	}
	noTag(root)
	return root
}
