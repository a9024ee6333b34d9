// Package index remembers what each rotated backup of an audit log holds, so
// that a question reads only the backups that can answer it.
//
// An Entry records a backup's time range, a Bloom filter of its auditIDs and
// the exact sets of the values the filters compare (users, groups,
// namespaces, names, verbs, resources, codes, stages, levels). A Store keeps
// entries under the user's cache directory, one file per backup, keyed by the
// file's identity and content: device, inode, size, modification time and a
// hash of its first and last 64 KiB. An entry is used only when all of these
// match and its own checksum and version are right; anything else (a backup
// replaced by another of the same name, an entry cut short, a new version)
// reads as no entry, and the backup is read in full. Membership sets have no
// false negatives by construction, so an entry never hides an event.
//
// The active log is never indexed: it grows.
package index
