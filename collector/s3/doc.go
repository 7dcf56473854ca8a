// Package s3 reads AWS log buckets: it builds AWS clients from the SDK's
// credential chain (profile, environment, role assumption), discovers the
// accounts, organization trails and regions under a bucket's AWSLogs/
// folders, lists each account and region from a given day on, parses the
// key layouts (plain and Hive-style), and reads objects through a reader
// that resumes a broken download where it stopped, with backoff.
package s3
