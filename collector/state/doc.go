// Package state is the daemon's embedded store (bbolt, one file, no server):
// a done-mark per object (bucket, key, ETag) instead of a "last key" marker,
// the time of each scope's last complete pass (from which the look-back
// window is measured), the first day read per bucket, and small metadata
// such as the alerts file checkpoint. Every Commit is one fsync'd
// transaction. Marks that no listing can reach again are pruned, so the
// store stays bounded.
package state
