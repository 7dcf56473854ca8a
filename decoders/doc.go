// Package decoders turns raw AWS log streams (VPC flow-log text, CloudTrail
// JSON files, already decoded Wazuh event bodies) into event.Events whose
// fields are exactly those the Wazuh 4.x AWS wodle would have sent
// (docs/wazuh-compat.md: "The wodle's messages", "VPC flow logs",
// "CloudTrail records").
//
// Decoders are data: each YAML file in ruleset/decoders declares which
// streams it takes (an expr condition over the origin and, when the log type
// is unknown, over a sniff of the content), how records are framed, and an
// ordered list of steps built from a small set of generic primitives. The
// language is documented key by key in README.md.
//
// Load reads and compiles a directory of decoder files once; Set.Open picks a
// decoder for one stream (gzip is detected by its magic bytes) and returns a
// Stream whose Next fills one event per record. Flow-log lines are decoded
// without allocating: field values alias the stream's buffers and stay valid
// until the next call to Next. For a parallel pipeline, ReadBatch cuts the
// next run of records on the stream's goroutine (line numbers, header lines,
// blank and too-long lines) and Decode decodes a batch on any goroutine,
// several batches at once, with exactly Next's results.
package decoders
