// Package jq runs jq programs on audit events, with gojq: [Compile] parses
// and compiles a program once, and [Program.Run] runs it on any number of
// goroutines at once. [Value] turns an event into the value gojq reads,
// exactly as the gojq command decodes its input (numbers as json.Number),
// so that a program's results print as gojq prints them.
//
// Most of an event's bytes are its bodies, and building map[string]any for
// whole events is most of a query's cost: [Program.Keys] walks the program
// and finds the top-level keys it reads, and [Program.Input] decodes only
// those (and only the members read of .key.member paths), or the whole event
// when the program may read it all (`.`, `keys`, `..`, a function of `.`).
// Tests hold a program's results on both to be the same.
package jq
