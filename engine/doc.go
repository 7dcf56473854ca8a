// Package engine wires the stages together: it takes a raw stream (a file or
// an S3 object) with its origin, runs the decoders and the rules on every
// record and writes each alert as a Wazuh 4.x alerts.json line to an
// alert.Sink. It owns the alert format: key order, timestamps, ids, agent,
// manager, decoder and location.
package engine
