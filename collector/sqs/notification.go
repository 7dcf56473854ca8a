package sqs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Object is one S3 object announced by a notification.
type Object struct {
	// Bucket is the bucket's name.
	Bucket string
	// Key is the object's key, decoded (S3 notifications URL-encode it).
	Key string
	// ETag is the object's entity tag as the notification gives it, without
	// quotes (ListObjectsV2 and GetObject return it quoted). Empty when the
	// notification has none (CloudTrail's SNS notifications).
	ETag string
	// Size is the object's size in bytes; 0 when unknown.
	Size int64
	// EventTime is when the object was created, by the notification (or the
	// SNS envelope, or the SQS message's sent time when it says nothing).
	EventTime time.Time
}

// Format names the kind of notification a message carried.
type Format string

// Notification formats.
const (
	// FormatS3 is S3's own event notification: {"Records":[{"s3":…}]}.
	FormatS3 Format = "s3"
	// FormatS3TestEvent is the s3:TestEvent S3 sends when a notification is
	// configured; it announces nothing.
	FormatS3TestEvent Format = "s3-test-event"
	// FormatEventBridge is an S3 event routed through EventBridge:
	// {"source":"aws.s3","detail-type":"Object Created","detail":{…}}.
	FormatEventBridge Format = "eventbridge"
	// FormatCloudTrail is CloudTrail's notification of delivered log files:
	// {"s3Bucket":…,"s3ObjectKey":[…]}.
	FormatCloudTrail Format = "cloudtrail"
)

// Notification is what one SQS message body announces.
type Notification struct {
	// Format is the kind of notification, after unwrapping SNS.
	Format Format
	// SNS is true when the body was an SNS envelope whose Message held the
	// notification.
	SNS bool
	// Objects are the objects created, in the message's order.
	Objects []Object
	// Skipped counts records about something other than an object being
	// created (ObjectRemoved, an EventBridge "Object Deleted", …).
	Skipped int
}

// ErrNotNotification is returned for a body that is not a notification this
// package reads. Such a message is moved aside at once: retrying cannot help.
var ErrNotNotification = errors.New("not an S3 or CloudTrail object notification")

// body is the union of the top-level fields of every shape. encoding/json
// matches keys case-insensitively, so "Time" (s3:TestEvent) and "time"
// (EventBridge) share a field; the shapes never carry both.
type body struct {
	// S3 event notification.
	Records []s3Record `json:"Records"`
	// SNS envelope.
	Type      string  `json:"Type"`
	TopicArn  string  `json:"TopicArn"`
	Message   *string `json:"Message"`
	Timestamp string  `json:"Timestamp"`
	// s3:TestEvent.
	Event string `json:"Event"`
	// EventBridge.
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       string          `json:"time"`
	Detail     json.RawMessage `json:"detail"`
	// CloudTrail SNS notification.
	S3Bucket    string   `json:"s3Bucket"`
	S3ObjectKey []string `json:"s3ObjectKey"`
}

// s3Record is one record of an S3 event notification
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
type s3Record struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	S3           struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key  string `json:"key"`
			Size int64  `json:"size"`
			ETag string `json:"eTag"`
		} `json:"object"`
	} `json:"s3"`
}

// eventBridgeDetail is the detail of an S3 event sent to EventBridge
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html).
type eventBridgeDetail struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
		ETag string `json:"etag"`
	} `json:"object"`
}

// ParseNotification reads one SQS message body. It unwraps an SNS envelope
// (one level), then reads S3 Records, an EventBridge S3 event, CloudTrail's
// notification or an s3:TestEvent. Errors wrap ErrNotNotification when the
// shape is unknown; a known shape with a bad field gives an error naming it.
func ParseNotification(data []byte) (Notification, error) {
	var b body
	if err := json.Unmarshal(data, &b); err != nil {
		return Notification{}, fmt.Errorf("%w: %w", ErrNotNotification, err)
	}
	if b.Type == "Notification" && b.Message != nil {
		inner := []byte(*b.Message)
		var ib body
		if err := json.Unmarshal(inner, &ib); err != nil {
			return Notification{}, fmt.Errorf("sns %s: Message: %w: %w", b.TopicArn, ErrNotNotification, err)
		}
		if ib.Type == "Notification" && ib.Message != nil {
			return Notification{}, fmt.Errorf("sns %s: Message: %w: an SNS envelope inside an SNS envelope", b.TopicArn, ErrNotNotification)
		}
		n, err := parseBody(&ib, parseTimeOr(b.Timestamp))
		if err != nil {
			return Notification{}, fmt.Errorf("sns %s: Message: %w", b.TopicArn, err)
		}
		n.SNS = true
		return n, nil
	}
	return parseBody(&b, time.Time{})
}

// parseBody reads an unwrapped body; fallback is the event time for shapes
// that carry none.
func parseBody(b *body, fallback time.Time) (Notification, error) {
	switch {
	case b.Event == "s3:TestEvent":
		return Notification{Format: FormatS3TestEvent}, nil
	case b.Records != nil:
		return parseS3Records(b.Records)
	case b.DetailType != "" || b.Detail != nil:
		return parseEventBridge(b)
	case b.S3ObjectKey != nil:
		return parseCloudTrail(b, fallback)
	}
	return Notification{}, ErrNotNotification
}

func parseS3Records(records []s3Record) (Notification, error) {
	n := Notification{Format: FormatS3}
	for i, r := range records {
		if r.EventSource != "aws:s3" || !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			n.Skipped++
			continue
		}
		if major, _, _ := strings.Cut(r.EventVersion, "."); major != "2" {
			return Notification{}, fmt.Errorf("s3 event Records[%d]: eventVersion %q: only major version 2 is known", i, r.EventVersion)
		}
		if r.S3.Bucket.Name == "" {
			return Notification{}, fmt.Errorf("s3 event Records[%d]: s3.bucket.name: missing", i)
		}
		// The key is URL-encoded as a form value: "red flower.jpg" arrives
		// as "red+flower.jpg" (S3 User Guide, notification-content-structure).
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			return Notification{}, fmt.Errorf("s3 event Records[%d]: s3.object.key %q: %w", i, r.S3.Object.Key, err)
		}
		if key == "" {
			return Notification{}, fmt.Errorf("s3 event Records[%d]: s3.object.key: missing", i)
		}
		t, err := parseTime(r.EventTime)
		if err != nil {
			return Notification{}, fmt.Errorf("s3 event Records[%d]: eventTime: %w", i, err)
		}
		n.Objects = append(n.Objects, Object{
			Bucket:    r.S3.Bucket.Name,
			Key:       key,
			ETag:      strings.Trim(r.S3.Object.ETag, `"`),
			Size:      r.S3.Object.Size,
			EventTime: t,
		})
	}
	return n, nil
}

func parseEventBridge(b *body) (Notification, error) {
	if b.Source != "aws.s3" {
		return Notification{}, fmt.Errorf("%w: EventBridge event from source %q (%s), want aws.s3",
			ErrNotNotification, b.Source, b.DetailType)
	}
	n := Notification{Format: FormatEventBridge}
	if b.DetailType != "Object Created" {
		n.Skipped = 1
		return n, nil
	}
	var d eventBridgeDetail
	if err := json.Unmarshal(b.Detail, &d); err != nil {
		return Notification{}, fmt.Errorf("detail: %w", err)
	}
	if d.Bucket.Name == "" {
		return Notification{}, errors.New("detail.bucket.name: missing")
	}
	// EventBridge carries the key as is, not URL-encoded: AWS's examples show
	// keys with ':' that S3's own notifications would write as %3A.
	if d.Object.Key == "" {
		return Notification{}, errors.New("detail.object.key: missing")
	}
	t, err := parseTime(b.Time)
	if err != nil {
		return Notification{}, fmt.Errorf("time: %w", err)
	}
	n.Objects = []Object{{
		Bucket:    d.Bucket.Name,
		Key:       d.Object.Key,
		ETag:      strings.Trim(d.Object.ETag, `"`),
		Size:      d.Object.Size,
		EventTime: t,
	}}
	return n, nil
}

func parseCloudTrail(b *body, fallback time.Time) (Notification, error) {
	if b.S3Bucket == "" {
		return Notification{}, errors.New("s3Bucket: missing")
	}
	n := Notification{Format: FormatCloudTrail}
	for i, key := range b.S3ObjectKey {
		if key == "" {
			return Notification{}, fmt.Errorf("s3ObjectKey[%d]: empty", i)
		}
		n.Objects = append(n.Objects, Object{Bucket: b.S3Bucket, Key: key, EventTime: fallback})
	}
	return n, nil
}

// parseTime reads an ISO-8601 time as AWS writes it ("2024-03-05T10:20:31.102Z").
// An empty string is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func parseTimeOr(s string) time.Time {
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}
	}
	return t
}
