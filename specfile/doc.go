// Package specfile reads the files that say what vpcalertd does — decoders,
// rules, lists and the daemon's configuration — strictly, and reports every
// problem in them at once, each as an *Error that names the file, the line
// and column, the definition and the key.
//
// YAML files are decoded by walking yaml.v3's node tree into the spec types
// (Decoder): an unknown key, a duplicate key or a value of the wrong type is
// an error at its own position, and decoding goes on so that one run shows
// every problem. Files in other forms (Wazuh's list text, an ossec.conf)
// report their problems with the same Error type, so that a caller tells
// them apart with errors.As, never by the text of a message. Join collects
// the errors of a load in a stable order: files in the order they were
// read, positions in file order.
package specfile
