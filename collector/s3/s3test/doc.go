// Package s3test starts a real S3-compatible server (versitygw, posix
// backend) on 127.0.0.1 for tests, and uploads objects to it. Tests share one
// server per test binary: start it from TestMain with Main and get it with
// Need.
package s3test
