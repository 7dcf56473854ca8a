// Package redistest starts a real redis-server (Debian's, installed by
// .ci/redis.sh) on a free 127.0.0.1 port for tests, under
// internal/testproc's watchdog so that it never outlives the test binary.
// When redis-server is missing the test is skipped with a message saying to
// run .ci/redis.sh, or fails when CI is "true".
package redistest
