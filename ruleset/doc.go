// Package ruleset embeds vpcalertd's built-in ruleset: the YAML decoders,
// the YAML rules (the port of Wazuh's AWS rules and vpcalertd's own packs),
// the lists and the MITRE ATT&CK table. The files are data; this package
// only makes them part of the binary.
package ruleset
