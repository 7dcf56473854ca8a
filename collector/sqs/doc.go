// Package sqs follows S3 object-created notifications on an SQS queue so
// that many daemons can share one stream of work: it parses the three shapes
// AWS delivers (S3's own Records, the same wrapped in an SNS envelope, and
// EventBridge "Object Created" events) plus CloudTrail's SNS notifications,
// and runs a Consumer with a bounded pool of workers that keeps each message
// invisible while its objects are processed, deletes it only once the handler
// says the objects' alerts are durable, lets a failed message come back, and
// after a bounded number of receives moves it to a dead-letter queue or a
// local quarantine file with the reason.
//
// The package knows nothing of decoders, rules or outputs: the daemon passes
// a Handler that reads one object and returns nil once its alerts are
// durably written.
package sqs
