// Package s3test starts a real S3-compatible server (versitygw, posix
// backend) on 127.0.0.1 for tests, and uploads objects to it. Tests share one
// server per test binary: call Main from TestMain and get the server with
// Need, which starts it on first use. The server and its storage go when the
// test binary ends, however it ends (internal/testproc).
package s3test
