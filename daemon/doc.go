// Package daemon is `vpcalertd run`: a long-running loop that, every
// interval, discovers the accounts and regions of each configured bucket,
// lists them from the start of a look-back window, fetches and decodes the
// objects not yet done (several at once, each object's alerts kept in
// order), writes their alerts to the outputs and marks the objects done only
// after the outputs made the alerts durable. It replaces Wazuh's aws-s3
// wodle without its lost and repeated logs (docs/wazuh-compat.md, "Reading a bucket").
//
// Buckets with an sqs section are followed through their S3 event
// notifications instead (or as well): one collector/sqs consumer per queue
// hands each announced object to the bucket whose folders hold it, and the
// message is deleted only once the object is committed, so that many
// instances can share one stream of work (docs/sqs.md). Listing passes and
// queues share one committer, the only writer of the outputs and of the
// done-marks.
package daemon
