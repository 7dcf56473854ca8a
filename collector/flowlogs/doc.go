// Package flowlogs asks EC2 which VPC flow logs deliver to S3
// (DescribeFlowLogs, every page) and with which log format, so that files
// without a header line can be split by the right columns. It is the only
// package that imports the AWS EC2 client, which is slow to compile.
package flowlogs
