// Package indexer sends alerts to the Wazuh indexer (OpenSearch `_bulk`) so
// they appear on the Wazuh dashboard exactly as if Wazuh's Filebeat had
// shipped them, and loses none on the way.
//
// Each alert becomes the document that Wazuh's Filebeat ingest pipeline would
// have produced (docs/wazuh-compat.md, "The indexer": `@timestamp`, `data.aws.accountId`,
// `data.aws.region`, optional GeoLocation, the Filebeat removals), made to fit
// the `wazuh-alerts-4.x` template's field types, and is indexed into
// `wazuh-alerts-4.x-YYYY.MM.DD` with a `_id` derived from where its record
// came from, so a retry or a re-read never makes a second copy.
//
// Write puts the document into a queue (on disk when Config.Queue.Dir is
// set, else in memory); background workers send it in batches bounded by
// bytes, count and time, retry 429 and 5xx with exponential backoff and
// jitter, retry transient per-item errors and write permanent rejections
// with their reason to a dead-letter file. Sync returns once every alert
// written before it is in the indexer or durably in the disk queue; a
// restart delivers what the disk queue still holds.
package indexer
