// Package event holds the two types that every stage of vpcalertd shares: the
// Origin of a raw record (where its bytes came from) and the decoded Event, an
// ordered list of flat, dotted fields exactly as Wazuh's JSON decoder sees them
// (docs/wazuh-compat.md, "Decoded values"). It imports nothing of the project, so collector,
// decoders, rules and engine can all depend on it without depending on each
// other.
package event
