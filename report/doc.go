// Package report aggregates VPC traffic and alerts into a bounded summary and
// renders it as one self-contained HTML page: the traffic view of
// `vpcalertd report` and of the daemon's /traffic endpoint.
//
// The page answers the question the Wazuh Amazon VPC guide ends on: look for
// peaks in the traffic, select that time, and see which addresses talked and
// what else they did. An Aggregator receives flows and alerts (from the
// engine through Observer, or from an alerts file through ReadAlerts) and
// keeps, per time interval, exact totals and a top-talker sketch; memory grows
// with the number of intervals times the sketch size, never with the number
// of records. Render writes the page; its data, script, style and chart
// library (uPlot, vendored under assets/) are inline, so it opens from disk
// and sends no request.
//
// Interval width: with Options.Interval unset, the width starts at one
// minute (flow logs aggregate over one minute at best) and climbs a ladder of
// widths, each a multiple of the one before (1m, 5m, 10m, 30m, 1h, 3h, 6h,
// 12h, 1d, 7d, then doubling), whenever the span seen so far would need more
// than Options.MaxIntervals (1,500) intervals. Because every width divides
// the next and both the totals and the sketches merge, climbing is exact: a
// span ends with between MaxIntervals/7 and MaxIntervals intervals, or fewer
// when it is shorter than MaxIntervals minutes. An explicit Interval doubles
// the same way when the span outgrows MaxIntervals, and the page says so.
//
// Accuracy: the totals of an interval are exact. Its talkers (source,
// destination, destination port, protocol, action) are kept in a
// Space-Saving sketch of Options.Capacity entries, each with a lower and an
// upper bound of its bytes; an interval with at most Capacity talkers is
// exact, and a heavy talker stays exact in a busy one (a Bloom filter of
// the talkers a sketch evicted tells a newcomer from a returning one). The
// page lists the top Options.TopK of each interval with an upper bound for
// every talker it leaves out; a window of several intervals merges those
// lists and marks a row approximate exactly when its bytes, or its place in
// the list, could differ from a full count. The whole span has a larger
// sketch of its own, so the page's first table is exact for heavy talkers.
//
// The daemon's /traffic page (Options.Window) keeps the intervals of a
// rolling window in memory only: it starts empty after a restart, and an
// object read again after a failure counts again.
package report
