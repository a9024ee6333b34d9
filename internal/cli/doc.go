// Package cli is the auditq command: flags (cobra), inputs and filters,
// progress on a terminal, colour, the printers of each subcommand and the
// exit statuses. [Run] takes the arguments and the three streams and returns
// the exit status, so that tests run the command in-process and a second
// binary (a kubectl plugin) is a few lines. The work is done by the library
// packages: auditlog reads, query filters, jq, summary and policy analyse.
package cli
