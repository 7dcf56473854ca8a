// Package filelock takes exclusive advisory locks on whole files (flock, as
// bbolt and the flock(1) command do) and names the process that holds one,
// from /proc/locks, so that a refusal can say who is in the way.
package filelock
