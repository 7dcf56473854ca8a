// Package flowgen writes a day of synthetic VPC flow logs as a bucket mirror
// (AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/<one gzip file per
// hour>): busy background traffic with a daily rhythm, a planted transfer of
// 2.4 GB from 10.0.2.40 to 192.0.2.66 (an address of the shipped example
// threat list) at 13:07-13:12 UTC, and a port scan rejected from
// 203.0.113.99 at 03:40 UTC. The output depends only on the arguments, so
// the demo data in testdata/buckets/demo-vpc-flowlogs can be rebuilt
// (go test ./report -run TestDemo -update) and the report benchmark reads
// the same traffic at any size.
package flowgen
