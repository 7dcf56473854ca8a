// Command vpcalertd turns Amazon VPC flow logs and CloudTrail files into
// Wazuh-compatible alerts: run the daemon, replay files, test a log line like
// wazuh-logtest, and check or test the ruleset.
package main
