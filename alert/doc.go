// Package alert defines what the engine hands to an output: one Wazuh
// alerts.json line plus the facts an output needs about it (which record it
// came from, which rule fired, when), and the Sink interface that outputs
// implement. It is a leaf so that outputs never import the engine.
package alert
