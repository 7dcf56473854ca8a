package sqs

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sample reads a file of testdata/.
func sample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

// edit decodes a JSON sample, lets fn change it, and encodes it again.
func edit(t testing.TB, doc string, fn func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(doc), &m))
	fn(m)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

// s3Object returns the s3.object map of record i of an S3 notification.
func s3Object(m map[string]any, i int) map[string]any {
	rec := m["Records"].([]any)[i].(map[string]any)
	return rec["s3"].(map[string]any)["object"].(map[string]any)
}

// wrapSNS puts message into the documented SNS envelope sample as its Message.
func wrapSNS(t testing.TB, message string) string {
	return edit(t, sample(t, "sns-to-sqs-notification-envelope.awsdocs.json"), func(m map[string]any) {
		m["Message"] = message
	})
}

func TestParseNotification(t *testing.T) {
	put := sample(t, "s3-event-notification-ObjectCreated-Put.awsdocs.json")
	testEvent := sample(t, "s3-event-notification-s3TestEvent.awsdocs.json")
	trail := sample(t, "cloudtrail-sns-notification-Message-multiple-files.awsdocs.json")
	bridge := sample(t, "s3-eventbridge-object-created.awsdocs.json")

	happy := Object{
		Bucket: "mybucket", Key: "HappyFace.jpg", ETag: "d41d8cd98f00b204e9800998ecf8427e",
		Size: 1024, EventTime: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	snsTime := time.Date(2012, 3, 29, 5, 12, 16, 901e6, time.UTC)
	trailKeys := []string{
		"AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/123456789012_CloudTrail_us-east-2_20160811T2215Z_kpaMYavMQA9Ahp7L.json.gz",
		"AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/123456789012_CloudTrail_us-east-2_20160811T2210Z_zqDkyQv3TK8ZdLr0.json.gz",
		"AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/123456789012_CloudTrail_us-east-2_20160811T2205Z_jaMVRa6JfdLCJYHP.json.gz",
	}
	trailObjects := func(at time.Time) []Object {
		var out []Object
		for _, k := range trailKeys {
			out = append(out, Object{Bucket: "your-bucket-name", Key: k, EventTime: at})
		}
		return out
	}
	withKey := func(key string) string {
		return edit(t, put, func(m map[string]any) { s3Object(m, 0)["key"] = key })
	}
	withRecord := func(field, value string) string {
		return edit(t, put, func(m map[string]any) {
			m["Records"].([]any)[0].(map[string]any)[field] = value
		})
	}

	tests := []struct {
		name    string
		body    string
		want    Notification
		wantErr string
		notNote bool // the error wraps ErrNotNotification
	}{
		{name: "s3/put-sample", body: put,
			want: Notification{Format: FormatS3, Objects: []Object{happy}}},
		{name: "s3/key-form-encoded",
			body: withKey("AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/flow+log%3D1+c%2B%2B.log.gz"),
			want: Notification{Format: FormatS3, Objects: []Object{{
				Bucket: "mybucket", Key: "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/flow log=1 c++.log.gz",
				ETag: happy.ETag, Size: 1024, EventTime: happy.EventTime,
			}}}},
		{name: "s3/hive-partition-key",
			body: withKey("AWSLogs/aws-account-id%3D123456789012/aws-service%3Dvpcflowlogs/x.log.gz"),
			want: Notification{Format: FormatS3, Objects: []Object{{
				Bucket: "mybucket", Key: "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/x.log.gz",
				ETag: happy.ETag, Size: 1024, EventTime: happy.EventTime,
			}}}},
		{name: "s3/etag-quoted",
			body: edit(t, put, func(m map[string]any) { s3Object(m, 0)["eTag"] = `"abc"` }),
			want: Notification{Format: FormatS3, Objects: []Object{{
				Bucket: "mybucket", Key: "HappyFace.jpg", ETag: "abc", Size: 1024, EventTime: happy.EventTime,
			}}}},
		{name: "s3/multipart-upload", body: withRecord("eventName", "ObjectCreated:CompleteMultipartUpload"),
			want: Notification{Format: FormatS3, Objects: []Object{happy}}},
		{name: "s3/removed-skipped", body: withRecord("eventName", "ObjectRemoved:Delete"),
			want: Notification{Format: FormatS3, Skipped: 1}},
		{name: "s3/two-records-one-removed",
			body: edit(t, put, func(m map[string]any) {
				recs := m["Records"].([]any)
				var second map[string]any
				b, _ := json.Marshal(recs[0])
				require.NoError(t, json.Unmarshal(b, &second))
				second["eventName"] = "ObjectRemoved:Delete"
				m["Records"] = append(recs, second)
			}),
			want: Notification{Format: FormatS3, Objects: []Object{happy}, Skipped: 1}},
		{name: "s3/empty-records", body: `{"Records":[]}`,
			want: Notification{Format: FormatS3}},
		{name: "s3/version-2.3-accepted", body: withRecord("eventVersion", "2.3"),
			want: Notification{Format: FormatS3, Objects: []Object{happy}}},
		{name: "s3/version-3-refused", body: withRecord("eventVersion", "3.0"),
			wantErr: `Records[0]: eventVersion "3.0": only major version 2 is known`},
		{name: "s3/bad-escape", body: withKey("bad%zzkey"),
			wantErr: `Records[0]: s3.object.key "bad%zzkey": invalid URL escape "%zz"`},
		{name: "s3/no-key", body: withKey(""), wantErr: `Records[0]: s3.object.key: missing`},
		{name: "s3/bad-time", body: withRecord("eventTime", "yesterday"),
			wantErr: `Records[0]: eventTime: parsing time "yesterday"`},
		{name: "s3/test-event", body: testEvent, want: Notification{Format: FormatS3TestEvent}},

		{name: "sns/s3-put", body: wrapSNS(t, put),
			want: Notification{Format: FormatS3, SNS: true, Objects: []Object{happy}}},
		{name: "sns/test-event", body: wrapSNS(t, testEvent),
			want: Notification{Format: FormatS3TestEvent, SNS: true}},
		{name: "sns/cloudtrail", body: wrapSNS(t, trail),
			want: Notification{Format: FormatCloudTrail, SNS: true, Objects: trailObjects(snsTime)}},
		{name: "sns/eventbridge", body: wrapSNS(t, bridge),
			want: Notification{Format: FormatEventBridge, SNS: true, Objects: []Object{{
				Bucket: "amzn-s3-demo-bucket1", Key: "example-key", ETag: "b1946ac92492d2347c6235b4d2611184",
				Size: 5, EventTime: time.Date(2021, 11, 12, 0, 0, 0, 0, time.UTC),
			}}}},
		{name: "sns/hello-world-sample", body: sample(t, "sns-to-sqs-notification-envelope.awsdocs.json"),
			wantErr: "sns arn:aws:sns:us-west-2:123456789012:MyTopic: Message: not an S3 or CloudTrail object notification", notNote: true},
		{name: "sns/in-sns", body: wrapSNS(t, wrapSNS(t, put)),
			wantErr: "an SNS envelope inside an SNS envelope", notNote: true},

		{name: "cloudtrail/raw-delivery", body: trail,
			want: Notification{Format: FormatCloudTrail, Objects: trailObjects(time.Time{})}},
		{name: "cloudtrail/no-bucket", body: `{"s3ObjectKey":["a"]}`, wantErr: "s3Bucket: missing"},

		{name: "eventbridge/object-created", body: bridge,
			want: Notification{Format: FormatEventBridge, Objects: []Object{{
				Bucket: "amzn-s3-demo-bucket1", Key: "example-key", ETag: "b1946ac92492d2347c6235b4d2611184",
				Size: 5, EventTime: time.Date(2021, 11, 12, 0, 0, 0, 0, time.UTC),
			}}}},
		{name: "eventbridge/key-not-decoded",
			body: edit(t, bridge, func(m map[string]any) {
				m["detail"].(map[string]any)["object"].(map[string]any)["key"] = "raw/2023-08-08T14:03:40 a+b.zip"
			}),
			want: Notification{Format: FormatEventBridge, Objects: []Object{{
				Bucket: "amzn-s3-demo-bucket1", Key: "raw/2023-08-08T14:03:40 a+b.zip", ETag: "b1946ac92492d2347c6235b4d2611184",
				Size: 5, EventTime: time.Date(2021, 11, 12, 0, 0, 0, 0, time.UTC),
			}}}},
		{name: "eventbridge/object-deleted-skipped",
			body: edit(t, bridge, func(m map[string]any) { m["detail-type"] = "Object Deleted" }),
			want: Notification{Format: FormatEventBridge, Skipped: 1}},
		{name: "eventbridge/cloudtrail-api-call",
			body:    sample(t, "cloudtrail-event-CreateVpc-success.eventbridge-envelope.linuxacademy.json"),
			wantErr: `EventBridge event from source "aws.ec2" (AWS API Call via CloudTrail), want aws.s3`, notNote: true},
		{name: "eventbridge/no-key",
			body: edit(t, bridge, func(m map[string]any) {
				delete(m["detail"].(map[string]any)["object"].(map[string]any), "key")
			}),
			wantErr: "detail.object.key: missing"},

		{name: "other/not-json", body: "Hello world!", wantErr: "not an S3 or CloudTrail object notification", notNote: true},
		{name: "other/unknown-object", body: `{"foo":1}`, wantErr: "not an S3 or CloudTrail object notification", notNote: true},
		{name: "other/array", body: `[1,2]`, wantErr: "not an S3 or CloudTrail object notification", notNote: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseNotification([]byte(tt.body))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Equal(t, tt.notNote, errors.Is(err, ErrNotNotification), "wraps ErrNotNotification")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseNotification(f *testing.F) {
	for _, name := range []string{
		"s3-event-notification-ObjectCreated-Put.awsdocs.json",
		"s3-event-notification-s3TestEvent.awsdocs.json",
		"sns-to-sqs-notification-envelope.awsdocs.json",
		"cloudtrail-sns-notification-Message-multiple-files.awsdocs.json",
		"s3-eventbridge-object-created.awsdocs.json",
	} {
		f.Add([]byte(sample(f, name)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseNotification(data)
		if err != nil {
			return
		}
		for _, o := range n.Objects {
			if o.Bucket == "" || o.Key == "" {
				t.Fatalf("object without bucket or key: %+v", o)
			}
		}
	})
}
