package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/vpcalertd/vpcalertd/metrics"
)

// Handler reads one object. Returning nil is the "done" signal: it must mean
// the object's alerts are durably written (alerts file fsync'd, or accepted
// by the indexer or its disk queue), because the message may be deleted
// right after. An error whose chain holds ErrObjectGone, or an S3 API error
// NoSuchKey or NotFound, reports that the object no longer exists: the
// notification is logged, counted and deleted. An error whose chain holds
// ErrMoveAside moves the message aside at once. Any other error leaves the
// message to be retried. A message may announce several objects; it is
// deleted only when every one of them is done or gone, so a handler sees an
// object again after a partial failure and must skip objects it already
// finished (the daemon's done-set does). The handler must return promptly
// once ctx is done, or finish the object first if it prefers.
type Handler func(ctx context.Context, obj Object) error

// ErrObjectGone marks a handler error for an object that no longer exists.
var ErrObjectGone = errors.New("object no longer exists")

// ErrMoveAside marks a handler error for an object that must not be tried
// again (the daemon died while reading it too often): the message is moved
// aside at once, whatever its receive count.
var ErrMoveAside = errors.New("object must not be read again")

// Client is the part of the SQS API the consumer uses; *sqs.Client from
// aws-sdk-go-v2 implements it.
type Client interface {
	ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *awssqs.DeleteMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *awssqs.ChangeMessageVisibilityInput, optFns ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityOutput, error)
	SendMessage(ctx context.Context, in *awssqs.SendMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.SendMessageOutput, error)
}

var _ Client = (*awssqs.Client)(nil)

// settleTimeout bounds the SQS calls that settle a message (delete, move
// aside, release); they run even after Run's context is done.
const settleTimeout = 30 * time.Second

// Consumer receives notifications from one queue and hands their objects to
// a Handler on a bounded pool of workers.
type Consumer struct {
	cfg       Config
	client    Client
	log       *slog.Logger
	m         *metrics.Metrics
	readyName string
	quar      *quarantine // nil when a dead-letter queue is used
}

// NewConsumer checks cfg (after WithDefaults) and returns a consumer for its
// queue. client is usually NewClient's; logger and m may be nil.
func NewConsumer(cfg Config, client Client, logger *slog.Logger, m *metrics.Metrics) (*Consumer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sqs: %w", err)
	}
	if client == nil {
		return nil, errors.New("sqs: nil client")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Consumer{
		cfg:       cfg,
		client:    client,
		log:       logger.With("queue_url", cfg.QueueURL),
		m:         m,
		readyName: "sqs " + cfg.QueueURL,
	}
	if cfg.DeadLetterQueueURL == "" {
		c.quar = &quarantine{path: cfg.QuarantineFile}
	}
	return c, nil
}

// Config returns the consumer's configuration with defaults applied.
func (c *Consumer) Config() Config { return c.cfg }

// Run receives messages and processes them with handle, at most
// Config.Workers at a time, until ctx is done; then it stops receiving (the
// receive in progress ends within WaitTime), waits for the messages in hand
// (each is deleted if its handler finished, else made visible again at once
// for another instance) and returns nil.
// It returns an error only when it cannot start (the quarantine file cannot
// be opened).
func (c *Consumer) Run(ctx context.Context, handle Handler) error {
	return c.run(ctx, handle, false)
}

// Drain is Run that also returns once a receive finds no message while
// none is in hand: it reads what the queue holds now, for a one-off run
// (`vpcalertd run --once`) or a benchmark. Messages that failed and wait
// to be retried are not waited for.
func (c *Consumer) Drain(ctx context.Context, handle Handler) error {
	return c.run(ctx, handle, true)
}

func (c *Consumer) run(ctx context.Context, handle Handler, untilIdle bool) error {
	if handle == nil {
		return errors.New("sqs: nil handler")
	}
	if c.quar != nil {
		if err := c.quar.open(); err != nil {
			return fmt.Errorf("sqs: quarantine_file: %w", err)
		}
		defer c.quar.close()
	}
	c.m.SetReady(c.readyName, errors.New("no receive has completed yet"))
	defer c.m.RemoveReady(c.readyName)

	// A message holds a slot from its receipt to its settlement; a worker
	// token while its objects are handled. Twice as many slots as workers
	// let the next messages be received (and kept invisible) while the
	// current ones are handled, so a worker never waits for a receive.
	// One receive loop per ten slots keeps receiving while another waits
	// for its answer: a receive returns at most ten messages, and its round
	// trip, not the work, bounds an instance that reads small objects.
	h := &hold{
		slots:   make(chan struct{}, c.cfg.holdLimit()),
		workers: make(chan struct{}, c.cfg.Workers),
	}
	defer h.wg.Wait()
	var loops sync.WaitGroup
	for range (c.cfg.holdLimit() + maxBatch - 1) / maxBatch {
		loops.Add(1)
		go func() {
			defer loops.Done()
			c.receiveLoop(ctx, handle, untilIdle, h)
		}()
	}
	loops.Wait()
	return nil
}

// hold is what the receive loops of one run share.
type hold struct {
	slots   chan struct{} // a token per message held (or asked for)
	workers chan struct{} // a token per message being handled
	inHand  atomic.Int64  // messages received and not yet settled
	wg      sync.WaitGroup
}

// receiveLoop receives messages into free slots and starts their
// processing, until ctx is done (untilIdle: until a receive finds nothing
// while no message is in hand).
func (c *Consumer) receiveLoop(ctx context.Context, handle Handler, untilIdle bool, h *hold) {
	backoff := newBackoff(500*time.Millisecond, 30*time.Second)
	for {
		// Take one free slot (waiting for it), then any others free now, up
		// to SQS's batch of ten.
		select {
		case h.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < min(maxBatch, c.cfg.holdLimit()) {
			select {
			case h.slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		// The receive is not cancelled with ctx: a long poll dropped midway
		// may still take messages on the server's side, and they would stay
		// invisible for a whole visibility timeout. It ends within WaitTime;
		// what it brings after ctx is done is released at once.
		asked := time.Now()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.WaitTime+30*time.Second)
		msgs, err := c.receive(rctx, n)
		rcancel()
		for range n - len(msgs) {
			<-h.slots
		}
		if ctx.Err() != nil {
			for _, msg := range msgs {
				c.m.Message(metrics.MessageReceived)
				c.release(ctx, msg, c.log.With("message_id", aws.ToString(msg.MessageId)))
				<-h.slots
			}
			return
		}
		if err != nil {
			c.m.Error(metrics.ErrorSQSReceive)
			c.m.SetReady(c.readyName, err)
			d := backoff.next()
			c.log.Warn("sqs receive failed; retrying", "err", err, "retry_in", d)
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff.reset()
		c.m.SetReady(c.readyName, nil)
		// No message came and none is held: the queue has nothing visible
		// for us. (Another loop may still be receiving; what it gets is
		// handled before Drain returns.)
		if untilIdle && len(msgs) == 0 && h.inHand.Load() == 0 {
			return
		}
		for _, msg := range msgs {
			h.inHand.Add(1)
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				defer func() { <-h.slots; h.inHand.Add(-1) }()
				c.process(ctx, msg, asked, h.workers, handle)
			}()
		}
	}
}

// receive makes one long-polling ReceiveMessage call for up to n messages.
func (c *Consumer) receive(ctx context.Context, n int) ([]types.Message, error) {
	out, err := c.client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
		QueueUrl:            aws.String(c.cfg.QueueURL),
		MaxNumberOfMessages: int32(n),
		WaitTimeSeconds:     seconds(c.cfg.WaitTime),
		VisibilityTimeout:   seconds(c.cfg.VisibilityTimeout),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
		},
		// The deprecated field too: SQS still reads it, and some
		// SQS-compatible servers (local-aws-sqs 2.0) read only it.
		//lint:ignore SA1019 local-aws-sqs 2.0, the SQS server of the tests, reads only AttributeNames
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeName(types.MessageSystemAttributeNameApproximateReceiveCount),
			types.QueueAttributeName(types.MessageSystemAttributeNameSentTimestamp),
		},
	})
	if err != nil {
		return nil, err
	}
	if len(out.Messages) > n {
		// A server must not return more than asked; keep the bound anyway.
		return out.Messages[:n], nil
	}
	return out.Messages, nil
}

// process handles one message from receipt to settlement; asked is when the
// ReceiveMessage call that brought it started, the earliest its visibility
// timeout can have started. It takes a token of workers while the handler
// runs.
func (c *Consumer) process(ctx context.Context, msg types.Message, asked time.Time, workers chan struct{}, handle Handler) {
	c.m.Message(metrics.MessageReceived)
	c.m.MessagesInFlight(1)
	defer c.m.MessagesInFlight(-1)
	count := receiveCount(msg)
	log := c.log.With("message_id", aws.ToString(msg.MessageId), "receive_count", count)

	if ctx.Err() != nil {
		c.release(ctx, msg, log)
		return
	}
	stop := c.keepVisible(ctx, msg, asked, log)
	defer stop()

	n, err := ParseNotification([]byte(aws.ToString(msg.Body)))
	if err != nil {
		stop()
		c.m.Error(metrics.ErrorBadMessage)
		c.moveAside(ctx, msg, count, fmt.Sprintf("unreadable notification: %v", err), log)
		return
	}
	if count > c.cfg.MaxReceives {
		// Received more often than allowed without ever being settled: the
		// instances that had it died or stalled (an object that crashes the
		// daemon, for example). Stop the loop here.
		stop()
		c.moveAside(ctx, msg, count, fmt.Sprintf(
			"received %d times, more than max_receives (%d), without being completed (the instances handling it may have died or stalled)",
			count, c.cfg.MaxReceives), log)
		return
	}
	if len(n.Objects) == 0 {
		stop()
		if c.delete(ctx, msg, log) {
			c.m.Message(metrics.MessageIgnored)
			log.Debug("sqs message announces no created object; deleted",
				"format", n.Format, "skipped_records", n.Skipped)
		}
		return
	}

	select {
	case workers <- struct{}{}:
	case <-ctx.Done():
		stop()
		c.release(ctx, msg, log)
		return
	}
	handledAll, errs := c.handleObjects(ctx, n.Objects, sentTime(msg), handle, log)
	// The worker is free for the next message while this one is settled
	// (its slot is held until then).
	<-workers
	stop()
	c.settle(ctx, msg, count, handledAll, errs, log)
}

// handleObjects calls handle for each object in turn; it reports whether
// every object was handled (none left out by a shutdown) and the failures.
// Objects that no longer exist are not failures.
func (c *Consumer) handleObjects(ctx context.Context, objs []Object, sent time.Time, handle Handler, log *slog.Logger) (handledAll bool, errs []error) {
	for _, obj := range objs {
		if ctx.Err() != nil {
			return false, errs // shutting down: start no other object
		}
		if obj.EventTime.IsZero() {
			obj.EventTime = sent
		}
		err := handle(ctx, obj)
		switch {
		case err == nil:
		case isGone(err):
			c.m.Error(metrics.ErrorObjectGone)
			log.Warn("notified object no longer exists; notification dropped",
				"bucket", obj.Bucket, "key", obj.Key, "err", err)
		default:
			c.m.Error(metrics.ErrorObject)
			errs = append(errs, fmt.Errorf("s3://%s/%s: %w", obj.Bucket, obj.Key, err))
		}
	}
	return true, errs
}

// settle ends a handled message: deleted when all its objects are done,
// released at shutdown, moved aside on its last allowed receive, else left
// to be retried.
func (c *Consumer) settle(ctx context.Context, msg types.Message, count int, handledAll bool, errs []error, log *slog.Logger) {
	switch {
	case handledAll && len(errs) == 0:
		if c.delete(ctx, msg, log) {
			c.m.Message(metrics.MessageDeleted)
		}
	case ctx.Err() != nil && !errors.Is(errors.Join(errs...), ErrMoveAside):
		c.release(ctx, msg, log)
	case count >= c.cfg.MaxReceives || errors.Is(errors.Join(errs...), ErrMoveAside):
		c.moveAside(ctx, msg, count, errors.Join(errs...).Error(), log)
	default:
		c.m.Message(metrics.MessageRetried)
		log.Warn("object failed; the message will be retried",
			"err", errors.Join(errs...), "max_receives", c.cfg.MaxReceives)
		if c.cfg.RetryDelay > 0 {
			c.changeVisibility(ctx, msg, c.cfg.RetryDelay, log)
		}
	}
}

// keepVisible extends the message's visibility every half visibility
// timeout, the first time half a timeout after asked, until stop is called;
// stop waits for an extension in progress, so none can override a later
// visibility change.
func (c *Consumer) keepVisible(ctx context.Context, msg types.Message, asked time.Time, log *slog.Logger) (stop func()) {
	// Extensions go on after ctx is done: a handler may choose to finish.
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	period := c.cfg.VisibilityTimeout / 2
	go func() {
		defer close(done)
		t := time.NewTimer(time.Until(asked.Add(period)))
		defer t.Stop()
		for {
			select {
			case <-kctx.Done():
				return
			case <-t.C:
			}
			t.Reset(period)
			cctx, ccancel := context.WithTimeout(kctx, period)
			_, err := c.client.ChangeMessageVisibility(cctx, &awssqs.ChangeMessageVisibilityInput{
				QueueUrl:          aws.String(c.cfg.QueueURL),
				ReceiptHandle:     msg.ReceiptHandle,
				VisibilityTimeout: seconds(c.cfg.VisibilityTimeout),
			})
			ccancel()
			if err == nil {
				c.m.VisibilityExtended()
				continue
			}
			if kctx.Err() != nil {
				return
			}
			c.m.Error(metrics.ErrorSQSVisibility)
			log.Warn("could not extend the message's visibility; another instance may take it", "err", err)
			if receiptGone(err) {
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// delete deletes the message and reports whether it succeeded.
func (c *Consumer) delete(ctx context.Context, msg types.Message, log *slog.Logger) bool {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	_, err := c.client.DeleteMessage(sctx, &awssqs.DeleteMessageInput{
		QueueUrl:      aws.String(c.cfg.QueueURL),
		ReceiptHandle: msg.ReceiptHandle,
	})
	if err != nil {
		c.m.Error(metrics.ErrorSQSDelete)
		log.Error("could not delete the message; it will be delivered again", "err", err)
		return false
	}
	return true
}

// release makes the message visible again at once, for another instance.
func (c *Consumer) release(ctx context.Context, msg types.Message, log *slog.Logger) {
	if c.changeVisibility(ctx, msg, 0, log) {
		c.m.Message(metrics.MessageReleased)
	}
}

func (c *Consumer) changeVisibility(ctx context.Context, msg types.Message, d time.Duration, log *slog.Logger) bool {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	_, err := c.client.ChangeMessageVisibility(sctx, &awssqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(c.cfg.QueueURL),
		ReceiptHandle:     msg.ReceiptHandle,
		VisibilityTimeout: seconds(d),
	})
	if err != nil {
		c.m.Error(metrics.ErrorSQSVisibility)
		log.Warn("could not change the message's visibility; it comes back when its timeout runs out", "err", err)
		return false
	}
	return true
}

// receiveCount returns the ApproximateReceiveCount attribute, 1 when absent.
func receiveCount(msg types.Message) int {
	n, err := strconv.Atoi(msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// sentTime returns the SentTimestamp attribute (epoch milliseconds), or the
// zero time.
func sentTime(msg types.Message) time.Time {
	ms, err := strconv.ParseInt(msg.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// isGone reports whether a handler error says the object no longer exists.
func isGone(err error) bool {
	if errors.Is(err, ErrObjectGone) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		}
	}
	return false
}

// receiptGone reports whether an SQS error means the receipt handle can no
// longer be used (the message was deleted, or is no longer in flight, or
// reached the 12-hour visibility limit).
func receiptGone(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ReceiptHandleIsInvalid", "MessageNotInflight", "InvalidParameterValue", "AWS.SimpleQueueService.MessageNotInflight":
			return true
		}
	}
	return false
}

// backoff doubles a delay from min to max.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(lo, hi time.Duration) *backoff { return &backoff{min: lo, max: hi} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
