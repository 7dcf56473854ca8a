// Package state is the daemon's embedded store (bbolt, one file, no server):
// a done-mark per object (bucket, key, ETag) instead of a "last key" marker,
// the time of each scope's last complete pass (from which the look-back
// window is measured) with what that pass did and how far back the scope
// was ever listed, the first day read per bucket, and small metadata such as
// the alerts file checkpoint. Every Commit is one fsync'd transaction. Marks
// that no listing can reach again are pruned, so the store stays bounded.
//
// A file that cannot be trusted is refused, never started afresh: Open
// checks bbolt's header pages and the file's length itself (bbolt would
// take an empty file as new and fault on a truncated one), runs bbolt's
// page check, and refuses files of other programs and of a newer schema,
// each with a *FileError that names the file, the problem and what to do.
// A page damaged later makes an operation fail with ErrDamaged instead of a
// panic.
package state
