// Package sqstest starts a real SQS-compatible server (the npm package
// local-aws-sqs, installed by .ci/sqs.sh) on a free 127.0.0.1 port for
// tests, and offers small helpers to create queues and send, receive and
// count messages. When node or the package is missing the test is skipped
// with a message saying to run .ci/sqs.sh, or fails when CI is "true".
package sqstest
