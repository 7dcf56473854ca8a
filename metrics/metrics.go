package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// namespace prefixes every metric name.
const namespace = "vpcalertd"

// ErrorKind names a class of error in vpcalertd_errors_total{kind}. The
// constants below are pre-registered (they show as 0 before the first
// error); a caller may use other values for its own kinds.
type ErrorKind string

// Error kinds counted by the collectors and the daemon.
const (
	// ErrorSQSReceive is a failed ReceiveMessage call.
	ErrorSQSReceive ErrorKind = "sqs_receive"
	// ErrorSQSDelete is a failed DeleteMessage call (the message comes back).
	ErrorSQSDelete ErrorKind = "sqs_delete"
	// ErrorSQSVisibility is a failed ChangeMessageVisibility call.
	ErrorSQSVisibility ErrorKind = "sqs_visibility"
	// ErrorBadMessage is an SQS message that is not a notification we read.
	ErrorBadMessage ErrorKind = "bad_message"
	// ErrorMoveAside is a failure to move a message to the dead-letter queue
	// or the quarantine file (the message stays in the queue).
	ErrorMoveAside ErrorKind = "move_aside"
	// ErrorObjectGone is a notification for an object that no longer exists.
	ErrorObjectGone ErrorKind = "object_gone"
	// ErrorObject is an object whose processing failed (S3 read, decode,
	// output); it will be retried.
	ErrorObject ErrorKind = "object"
	// ErrorS3 is a failed S3 call.
	ErrorS3 ErrorKind = "s3"
	// ErrorOutput is a failed write to an alert output.
	ErrorOutput ErrorKind = "output"
	// ErrorIndexer is a failed bulk request to the indexer.
	ErrorIndexer ErrorKind = "indexer"
	// ErrorDiskFull is a write of the alerts file refused for lack of
	// space (ENOSPC, EDQUOT): the daemon pauses and retries.
	ErrorDiskFull ErrorKind = "disk_full"
)

var knownErrorKinds = []ErrorKind{
	ErrorSQSReceive, ErrorSQSDelete, ErrorSQSVisibility, ErrorBadMessage, ErrorMoveAside,
	ErrorObjectGone, ErrorObject, ErrorS3, ErrorOutput, ErrorIndexer, ErrorDiskFull,
}

// SkipReason says why an object or a record was skipped, in
// vpcalertd_objects_skipped_total{reason} and
// vpcalertd_records_skipped_total{reason}.
type SkipReason string

// Skip reasons.
const (
	// SkipCrashed is an object the daemon died while reading too often:
	// it is quarantined.
	SkipCrashed SkipReason = "crashed"
	// SkipTooLarge is a record larger than limits.record_size.
	SkipTooLarge SkipReason = "too_large"
	// SkipTooManyFields is a record with more fields than
	// limits.record_fields.
	SkipTooManyFields SkipReason = "too_many_fields"
	// SkipTooDeep is a record nested deeper than the JSON depth limit.
	SkipTooDeep SkipReason = "too_deep"
)

// MessageOutcome is what happened to one received SQS message, counted in
// vpcalertd_sqs_messages_total{outcome}.
type MessageOutcome string

// Message outcomes.
const (
	// MessageReceived counts every message received (including redeliveries).
	MessageReceived MessageOutcome = "received"
	// MessageDeleted is a message whose objects were all handled and that
	// was deleted from the queue.
	MessageDeleted MessageOutcome = "deleted"
	// MessageIgnored is a message with nothing to read (s3:TestEvent, an
	// event other than object creation) that was deleted.
	MessageIgnored MessageOutcome = "ignored"
	// MessageRetried is a message whose handling failed and that was left
	// to become visible again.
	MessageRetried MessageOutcome = "retried"
	// MessageReleased is a message given back to the queue at shutdown.
	MessageReleased MessageOutcome = "released"
	// MessageDeadLettered is a message moved to the dead-letter queue.
	MessageDeadLettered MessageOutcome = "dead_lettered"
	// MessageQuarantined is a message appended to the quarantine file.
	MessageQuarantined MessageOutcome = "quarantined"
)

var messageOutcomes = []MessageOutcome{
	MessageReceived, MessageDeleted, MessageIgnored, MessageRetried, MessageReleased,
	MessageDeadLettered, MessageQuarantined,
}

// Metrics holds the daemon's counters and gauges, registered in a registry of
// its own. All methods are safe for concurrent use; a nil *Metrics ignores
// every call, so a component can run without metrics.
type Metrics struct {
	reg *prometheus.Registry

	objects       prometheus.Counter
	bytes         prometheus.Counter
	records       prometheus.Counter
	alerts        *prometheus.CounterVec
	errors        *prometheus.CounterVec
	messages      *prometheus.CounterVec
	extensions    prometheus.Counter
	skippedObjs   *prometheus.CounterVec
	skippedRecs   *prometheus.CounterVec
	msgInFlight   prometheus.Gauge
	indexerDocs   atomic.Int64                               // set by SetIndexerQueue
	indexerFunc   atomic.Pointer[func() (docs, bytes int64)] // set by IndexerQueue
	retryingFunc  atomic.Pointer[func() int64]               // set by IndexerRetrying
	alertCounters sync.Map                                   // alertKey -> prometheus.Counter
	ruleErrs      *ruleErrors

	clock func() time.Time

	// mu guards inFlight, nextID, newestSeen and newestDone.
	mu         sync.Mutex
	inFlight   map[uint64]time.Time // object id -> creation time of objects being processed
	nextID     uint64
	newestSeen time.Time // creation time of the newest object started
	newestDone time.Time // creation time of the newest object done

	health health
}

type alertKey struct {
	rule  string
	level int
}

// Options tune New. The zero value is fine.
type Options struct {
	// Clock returns the current time; nil means time.Now. Tests fix it.
	Clock func() time.Time
	// NoProcessMetrics leaves out the Go runtime and process collectors.
	NoProcessMetrics bool
}

// New returns a Metrics with every metric registered in a new registry.
func New(opts Options) *Metrics {
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		clock:    opts.Clock,
		inFlight: make(map[uint64]time.Time),
	}
	if m.clock == nil {
		m.clock = time.Now
	}
	m.health.init()
	m.objects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "objects_processed_total",
		Help: "S3 objects (or local files) whose alerts were durably written.",
	})
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "bytes_processed_total",
		Help: "Bytes read from processed objects, as stored (before gunzip).",
	})
	m.records = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "records_processed_total",
		Help: "Log records (flow-log lines, header lines included; CloudTrail records) read from processed objects.",
	})
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "alerts_total",
		Help: "Alerts written, by rule id and level.",
	}, []string{"rule_id", "level"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "errors_total",
		Help: "Errors by kind.",
	}, []string{"kind"})
	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "sqs", Name: "messages_total",
		Help: "SQS messages by outcome (received counts every delivery, redeliveries included).",
	}, []string{"outcome"})
	m.extensions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "sqs", Name: "visibility_extensions_total",
		Help: "ChangeMessageVisibility calls that extended a message being processed.",
	})
	m.skippedObjs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "objects_skipped_total",
		Help: "Objects skipped without being read, by reason (crashed: the daemon died while reading them too often; they are quarantined).",
	}, []string{"reason"})
	m.skippedRecs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "records_skipped_total",
		Help: "Records skipped without being decoded, by reason (too_large, too_many_fields, too_deep).",
	}, []string{"reason"})
	m.msgInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "sqs", Name: "messages_in_flight",
		Help: "SQS messages received and not yet deleted, retried or moved aside.",
	})
	indexerQueue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "indexer", Name: "queue_size",
		Help: "Documents handed to the indexer output and not yet settled by the indexer (memory and disk queue).",
	}, func() float64 { d, _ := m.indexerQueueNow(); return float64(d) })
	indexerBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "indexer", Name: "queue_bytes",
		Help: "Bytes in the indexer output's queue, not yet acknowledged by the indexer.",
	}, func() float64 { _, b := m.indexerQueueNow(); return float64(b) })
	indexerRetrying := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "indexer", Name: "documents_retrying",
		Help: "Documents the indexer answered one by one with a transient error (429 throttling, 5xx, read-only index), waiting for their retry.",
	}, func() float64 {
		if f := m.retryingFunc.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	objectsInFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "objects_in_flight",
		Help: "Objects being processed now.",
	}, func() float64 { return float64(m.objectsInFlight()) })
	oldestAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "oldest_object_age_seconds",
		Help: "Now minus the creation time of the oldest object being processed; 0 when none is.",
	}, func() float64 { return m.OldestObjectAge().Seconds() })
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "object_lag_seconds",
		Help: "While an object newer than every finished one is being processed, now minus the creation " +
			"time of the newest finished object; 0 when the newest object known is done.",
	}, func() float64 { return m.Lag().Seconds() })
	m.ruleErrs = newRuleErrors()
	m.reg.MustRegister(m.objects, m.bytes, m.records, m.alerts, m.errors, m.messages,
		m.extensions, m.skippedObjs, m.skippedRecs, m.msgInFlight, indexerQueue, indexerBytes, indexerRetrying, objectsInFlight, oldestAge, lag, m.ruleErrs)
	if !opts.NoProcessMetrics {
		m.reg.MustRegister(collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, k := range knownErrorKinds {
		m.errors.WithLabelValues(string(k))
	}
	m.skippedObjs.WithLabelValues(string(SkipCrashed))
	for _, r := range []SkipReason{SkipTooLarge, SkipTooManyFields, SkipTooDeep} {
		m.skippedRecs.WithLabelValues(string(r))
	}
	for _, o := range messageOutcomes {
		m.messages.WithLabelValues(string(o))
	}
	return m
}

// Registry returns the registry that holds every metric of m, for a caller
// that wants to add its own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObjectStarted records that processing of an object created at created (the
// notification's event time or the listing's LastModified) began. The
// returned func ends it, whether the object succeeded or not; call it once.
func (m *Metrics) ObjectStarted(created time.Time) (end func()) {
	if m == nil {
		return func() {}
	}
	m.mu.Lock()
	m.nextID++
	id := m.nextID
	m.inFlight[id] = created
	if created.After(m.newestSeen) {
		m.newestSeen = created
	}
	m.mu.Unlock()
	var once atomic.Bool
	return func() {
		if once.Swap(true) {
			return
		}
		m.mu.Lock()
		delete(m.inFlight, id)
		m.mu.Unlock()
	}
}

// ObjectDone counts an object whose alerts are durably written: one object,
// its size in bytes as stored, and its creation time for the lag.
func (m *Metrics) ObjectDone(created time.Time, bytes int64) {
	if m == nil {
		return
	}
	m.objects.Inc()
	if bytes > 0 {
		m.bytes.Add(float64(bytes))
	}
	m.mu.Lock()
	if created.After(m.newestDone) {
		m.newestDone = created
	}
	if created.After(m.newestSeen) {
		m.newestSeen = created
	}
	m.mu.Unlock()
}

// Records counts n log records read.
func (m *Metrics) Records(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.records.Add(float64(n))
}

// Alert counts one alert of rule ruleID at level.
func (m *Metrics) Alert(ruleID string, level int) {
	if m == nil {
		return
	}
	k := alertKey{ruleID, level}
	c, ok := m.alertCounters.Load(k)
	if !ok {
		c, _ = m.alertCounters.LoadOrStore(k, m.alerts.WithLabelValues(ruleID, strconv.Itoa(level)))
	}
	c.(prometheus.Counter).Inc()
}

// Error counts one error of the given kind.
func (m *Metrics) Error(kind ErrorKind) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(string(kind)).Inc()
}

// ObjectSkipped counts one object skipped without being read.
func (m *Metrics) ObjectSkipped(reason SkipReason) {
	if m == nil {
		return
	}
	m.skippedObjs.WithLabelValues(string(reason)).Inc()
}

// RecordsSkipped counts n records skipped without being decoded.
func (m *Metrics) RecordsSkipped(reason SkipReason, n int) {
	if m == nil || n == 0 {
		return
	}
	m.skippedRecs.WithLabelValues(string(reason)).Add(float64(n))
}

// Message counts one SQS message outcome.
func (m *Metrics) Message(outcome MessageOutcome) {
	if m == nil {
		return
	}
	m.messages.WithLabelValues(string(outcome)).Inc()
}

// MessagesInFlight adds delta (+1 on receive, -1 when the message is settled)
// to the in-flight SQS message gauge.
func (m *Metrics) MessagesInFlight(delta int) {
	if m == nil {
		return
	}
	m.msgInFlight.Add(float64(delta))
}

// VisibilityExtended counts one successful visibility extension.
func (m *Metrics) VisibilityExtended() {
	if m == nil {
		return
	}
	m.extensions.Inc()
}

// SetIndexerQueue sets the number of documents waiting for the indexer
// (when no IndexerQueue function is set).
func (m *Metrics) SetIndexerQueue(n int) {
	if m == nil {
		return
	}
	m.indexerDocs.Store(int64(n))
}

// IndexerQueue makes the indexer gauges call f at each scrape: the
// documents waiting for the indexer and the bytes of its queue.
func (m *Metrics) IndexerQueue(f func() (docs, bytes int64)) {
	if m == nil {
		return
	}
	m.indexerFunc.Store(&f)
}

// IndexerRetrying makes the documents-retrying gauge call f at each
// scrape.
func (m *Metrics) IndexerRetrying(f func() int64) {
	if m == nil {
		return
	}
	m.retryingFunc.Store(&f)
}

func (m *Metrics) indexerQueueNow() (docs, bytes int64) {
	if f := m.indexerFunc.Load(); f != nil {
		return (*f)()
	}
	return m.indexerDocs.Load(), 0
}

// OldestObjectAge returns now minus the creation time of the oldest object
// being processed, or 0 when none is. Objects with an unknown (zero) creation
// time are left out.
func (m *Metrics) OldestObjectAge() time.Duration {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	var oldest time.Time
	for _, t := range m.inFlight {
		if !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	m.mu.Unlock()
	if oldest.IsZero() {
		return 0
	}
	if age := m.clock().Sub(oldest); age > 0 {
		return age
	}
	return 0
}

// Lag returns how far the written alerts are behind the newest object known:
// while an object newer than every finished one has been started, it is now
// minus the creation time of the newest finished object (or of the newest
// started one when none has finished yet); it is 0 when the newest object
// known is done. Objects still waiting in a queue are not known here: SQS's
// own ApproximateAgeOfOldestMessage covers them.
func (m *Metrics) Lag() time.Duration {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	seen, done := m.newestSeen, m.newestDone
	m.mu.Unlock()
	if seen.IsZero() || !seen.After(done) {
		return 0
	}
	ref := done
	if ref.IsZero() {
		ref = seen
	}
	if d := m.clock().Sub(ref); d > 0 {
		return d
	}
	return 0
}

func (m *Metrics) objectsInFlight() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.inFlight)
}
