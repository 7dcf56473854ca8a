// Package collector finds raw log files and says where each came from: it
// parses AWS's S3 key layout (account, region, log type, organization trails,
// Hive-style partitions) and walks local files and directories, treating a
// directory as a mirror of a bucket. It knows nothing of decoders or rules;
// the S3, flow-log discovery and state packages live below it.
package collector
