package sqs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/vpcalertd/vpcalertd/metrics"
)

// Message attributes set on a message moved to the dead-letter queue. The
// body is the original one, unchanged, so the message can be redriven to
// its queue once the cause is fixed.
const (
	AttrReason          = "vpcalertd-reason"
	AttrSourceQueue     = "vpcalertd-source-queue"
	AttrReceiveCount    = "vpcalertd-receive-count"
	AttrSourceMessageID = "vpcalertd-source-message-id"
)

// maxReasonAttr bounds the reason attribute; the log has it in full.
const maxReasonAttr = 4096

// QuarantineEntry is one line of the quarantine file (JSON Lines).
type QuarantineEntry struct {
	// Time is when the message was moved aside.
	Time time.Time `json:"time"`
	// QueueURL is the queue the message came from.
	QueueURL string `json:"queue_url"`
	// MessageID is SQS's id of the message.
	MessageID string `json:"message_id"`
	// ReceiveCount is the message's ApproximateReceiveCount.
	ReceiveCount int `json:"receive_count"`
	// Reason says why it was moved aside (the last errors, or why it could
	// not be read).
	Reason string `json:"reason"`
	// Body is the message body as received.
	Body string `json:"body"`
}

// moveAside puts the message in the dead-letter queue or the quarantine
// file, then deletes it. If the first step fails the message stays in the
// queue (and comes back); if only the delete fails it may be moved twice.
// Nothing is dropped silently.
func (c *Consumer) moveAside(ctx context.Context, msg types.Message, count int, reason string, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	var (
		outcome metrics.MessageOutcome
		dest    string
		err     error
	)
	if c.cfg.DeadLetterQueueURL != "" {
		outcome, dest = metrics.MessageDeadLettered, c.cfg.DeadLetterQueueURL
		err = c.sendToDLQ(sctx, msg, count, reason)
	} else {
		outcome, dest = metrics.MessageQuarantined, c.cfg.QuarantineFile
		err = c.quar.append(QuarantineEntry{
			Time:         time.Now().UTC(),
			QueueURL:     c.cfg.QueueURL,
			MessageID:    aws.ToString(msg.MessageId),
			ReceiveCount: count,
			Reason:       reason,
			Body:         aws.ToString(msg.Body),
		})
	}
	if err != nil {
		c.m.Error(metrics.ErrorMoveAside)
		log.Error("could not move the message aside; it stays in the queue", "to", dest, "reason", reason, "err", err)
		return
	}
	c.m.Message(outcome)
	log.Error("message moved aside", "to", dest, "reason", reason)
	c.delete(ctx, msg, log)
}

func (c *Consumer) sendToDLQ(ctx context.Context, msg types.Message, count int, reason string) error {
	attrReason := attrText(reason, maxReasonAttr)
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	in := &awssqs.SendMessageInput{
		QueueUrl:    aws.String(c.cfg.DeadLetterQueueURL),
		MessageBody: msg.Body,
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttrReason:          str(attrReason),
			AttrSourceQueue:     str(c.cfg.QueueURL),
			AttrReceiveCount:    {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(count))},
			AttrSourceMessageID: str(aws.ToString(msg.MessageId)),
		},
	}
	if strings.HasSuffix(c.cfg.DeadLetterQueueURL, ".fifo") {
		// A FIFO dead-letter queue wants a group; deduplicate on the source id.
		in.MessageGroupId = aws.String("vpcalertd")
		in.MessageDeduplicationId = msg.MessageId
	}
	if _, err := c.client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send to dead-letter queue: %w", err)
	}
	return nil
}

// attrText makes s a valid SQS attribute value of at most max bytes: valid
// UTF-8, with control characters other than tab, newline and carriage
// return replaced by spaces (SQS refuses them, and a refused move would
// leave the message in the queue).
func attrText(s string, max int) string {
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	s = strings.ToValidUTF8(s, "?")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return ' '
		}
		return r
	}, s)
}

// quarantine appends entries to a local JSON Lines file, fsync'ing each.
type quarantine struct {
	path string
	// mu guards f.
	mu sync.Mutex
	f  *os.File
}

func (q *quarantine) open() error {
	if err := os.MkdirAll(filepath.Dir(q.path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(q.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.f = f
	q.mu.Unlock()
	return nil
}

func (q *quarantine) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.f != nil {
		_ = q.f.Close()
		q.f = nil
	}
}

func (q *quarantine) append(e QuarantineEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.f == nil {
		return fmt.Errorf("%s: not open", q.path)
	}
	if _, err := q.f.Write(line); err != nil {
		return fmt.Errorf("%s: %w", q.path, err)
	}
	if err := q.f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", q.path, err)
	}
	return nil
}
