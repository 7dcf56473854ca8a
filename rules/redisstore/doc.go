// Package redisstore keeps the correlation state of a rules.Set in Redis
// (or Valkey) so that several daemons on one queue correlate as one
// (docs/sqs.md, "Shared correlation"): it runs rules.SharedScript over each
// rules.SharedBatch, atomically on the server, watches the server's health
// and says when the daemon must correlate locally instead. It is the only
// package that links the Redis client.
package redisstore
