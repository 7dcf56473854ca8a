package indexer

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/ojson"
)

// pipelineRemovals are the top-level fields Wazuh's pipeline removes after
// parsing the alert into the document root (Filebeat's own fields, and any
// alert field of the same name).
var pipelineRemovals = map[string]bool{
	"message": true, "ecs": true, "beat": true, "input_type": true, "tags": true, "count": true,
	"@version": true, "log": true, "offset": true, "type": true, "host": true, "fields": true,
	"event": true, "fileset": true, "service": true,
}

// errInvalidAlert is returned for alert JSON that cannot be parsed.
var errInvalidAlert = errors.New("alert is not a JSON object")

// maxDocDepth bounds the nesting of a document, below OpenSearch's
// index.mapping.depth.limit for the objects that matter.
const maxDocDepth = 200

// builder turns alerts into bulk records. One builder is used by one
// goroutine at a time (it keeps scratch space).
type builder struct {
	prefix   string
	pipeline string
	input    PipelineInput // "" when Pipeline is empty
	geo      *geoDB
	now      func() time.Time

	tree ojson.Tree
	san  sanitizer
	doc  []byte
}

// record is one rendered bulk entry.
type record struct {
	index, id string
	// line is the action line, a newline, the document and a newline.
	line      []byte
	repaired  int
	truncated int
}

// render builds the bulk entry of a. The returned line is appended to dst.
func (b *builder) render(dst []byte, a *alert.Alert) (record, error) {
	t := &b.tree
	t.MaxDepth = maxDocDepth
	if err := t.Parse(a.JSON); err != nil {
		return record{}, fmt.Errorf("%w: %w", errInvalidAlert, err)
	}
	if t.Kind(0) != ojson.Object {
		return record{}, errInvalidAlert
	}
	// @timestamp and the index day come from the alert's timestamp, as the
	// pipeline's date and date_index_name processors do.
	ts, ok := time.Time{}, false
	if n, _ := t.Member(0, "timestamp"); n >= 0 && t.Kind(n) == ojson.String {
		ts, ok = parseISODate(t.Str(n), false)
	}
	if !ok {
		// The pipeline would drop the document; keep it, dated by the alert.
		ts = a.Time
		if ts.IsZero() {
			ts = b.now()
		}
	}
	ts = ts.UTC()

	b.san.reset(t)
	b.san.object(0, templateFields())
	rec := record{repaired: len(b.san.repaired), truncated: len(b.san.truncated)}
	if rec.repaired+rec.truncated > 0 {
		b.addRepairs()
	}

	b.doc = b.doc[:0]
	switch b.input {
	case "":
		b.applyPipeline(ts)
		b.doc = t.Encode(b.doc, 0)
	case PipelineInputAlert:
		b.doc = t.Encode(b.doc, 0)
	case PipelineInputFilebeat:
		b.doc = b.filebeatEnvelope(b.doc, ts)
	}

	rec.index = b.prefix + ts.Format("2006.01.02")
	rec.id = docID(a)
	start := len(dst)
	dst = append(dst, `{"create":{"_index":`...)
	dst = ojson.AppendQuoted(dst, rec.index)
	dst = append(dst, `,"_id":`...)
	dst = ojson.AppendQuoted(dst, rec.id)
	if b.pipeline != "" {
		dst = append(dst, `,"pipeline":`...)
		dst = ojson.AppendQuoted(dst, b.pipeline)
	}
	dst = append(dst, "}}\n"...)
	dst = append(dst, b.doc...)
	dst = append(dst, '\n')
	rec.line = dst[start:]
	return rec, nil
}

// applyPipeline does what Wazuh's Filebeat ingest pipeline does to the
// parsed alert: the data.aws.region and data.aws.accountId copies, GeoIP,
// @timestamp, and the removals; plus Filebeat's input.type.
func (b *builder) applyPipeline(ts time.Time) {
	t := &b.tree
	if aws := t.Path("data", "aws"); aws >= 0 && t.Kind(aws) == ojson.Object {
		b.setIfAbsent(aws, "region", "awsRegion")
		b.setIfAbsent(aws, "accountId", "aws_account_id")
	}
	if b.geo != nil {
		b.applyGeo()
	}
	// One pass over the top level: the removals, an existing @timestamp
	// (replaced), an existing input (kept).
	hasInput := false
	prev := int32(-1)
	for c := t.First(0); c >= 0; {
		next := t.Next(c)
		name := t.Name(c)
		switch {
		case pipelineRemovals[name] || name == "@timestamp":
			t.Unlink(0, prev, c)
		default:
			hasInput = hasInput || name == "input"
			prev = c
		}
		c = next
	}
	if !hasInput {
		b.addMember(0, "input", ojson.Object, nil)
		in := t.Last(0)
		b.addMember(in, "type", ojson.String, []byte(`"log"`))
	}
	b.addMember(0, "@timestamp", ojson.String, ojson.AppendQuoted(nil, formatTimestamp(ts)))
}

// formatTimestamp formats t as the ingest date processor writes @timestamp.
func formatTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// setIfAbsent is the pipeline's set processor with override false and
// ignore_empty_value: aws.<dst> = aws.<src> unless dst already holds a
// non-null value or src renders empty.
func (b *builder) setIfAbsent(aws int32, dst, src string) {
	t := &b.tree
	if c, _ := t.Member(aws, dst); c >= 0 && t.Kind(c) != ojson.Null {
		return
	}
	s, _ := t.Member(aws, src)
	if s < 0 {
		return
	}
	var v []byte
	switch t.Kind(s) {
	case ojson.String:
		v = t.Str(s)
	case ojson.Number, ojson.Bool:
		v = t.Token(s)
	default:
		return
	}
	if len(v) == 0 {
		return
	}
	if c, prev := t.Member(aws, dst); c >= 0 {
		t.Unlink(aws, prev, c)
	}
	b.addMember(aws, dst, ojson.String, ojson.AppendQuoted(nil, v))
}

// addMember adds name: tok (a token, or nil for an object) as the last
// member of obj.
func (b *builder) addMember(obj int32, name string, kind ojson.Kind, tok []byte) {
	t := &b.tree
	c := t.NewNode(kind, tok)
	t.SetName(c, name)
	t.AppendChild(obj, c)
}

// applyGeo runs the pipeline's geoip processors in order; the last one that
// finds its address wins.
func (b *builder) applyGeo() {
	t := &b.tree
	var geo []byte
	for _, path := range geoFields {
		n := t.Path(path...)
		if n < 0 || t.Kind(n) != ojson.String {
			continue
		}
		if g, ok := b.geo.appendGeo(nil, t.Str(n)); ok {
			geo = g
		}
	}
	if geo == nil {
		return
	}
	if c, prev := t.Member(0, "GeoLocation"); c >= 0 {
		t.Unlink(0, prev, c)
	}
	// The encoded object is spliced in as one token.
	b.addMember(0, "GeoLocation", ojson.Raw, geo)
}

// addRepairs adds vpcalertd.repaired / vpcalertd.truncated.
func (b *builder) addRepairs() {
	t := &b.tree
	if c, prev := t.Member(0, "vpcalertd"); c >= 0 {
		t.Unlink(0, prev, c)
	}
	b.addMember(0, "vpcalertd", ojson.Object, nil)
	obj := t.Last(0)
	list := func(name string, paths []string) {
		if len(paths) == 0 {
			return
		}
		var raw []byte
		raw = append(raw, '[')
		for i, p := range paths {
			if i > 0 {
				raw = append(raw, ',')
			}
			raw = ojson.AppendQuoted(raw, p)
		}
		raw = append(raw, ']')
		b.addMember(obj, name, ojson.Raw, raw)
	}
	list("repaired", b.san.repaired)
	list("truncated", b.san.truncated)
}

// filebeatEnvelope is the event Wazuh's Filebeat sends for one alerts.json
// line: the line in message, the index prefix in fields.index_prefix (the
// pipeline's date_index_name uses it) and input.type.
func (b *builder) filebeatEnvelope(dst []byte, ts time.Time) []byte {
	dst = append(dst, `{"@timestamp":`...)
	dst = ojson.AppendQuoted(dst, formatTimestamp(ts))
	dst = append(dst, `,"message":`...)
	line := b.tree.Encode(nil, 0)
	dst = ojson.AppendQuoted(dst, line)
	dst = append(dst, `,"fields":{"index_prefix":`...)
	dst = ojson.AppendQuoted(dst, b.prefix)
	dst = append(dst, `},"input":{"type":"log"}}`...)
	return dst
}

// docID derives the document _id from where the alert's record came from
// (bucket, key, ETag, line or record index), the rule and the alert's
// number within its record, so re-sending or re-reading the same object
// overwrites nothing and adds nothing. Without an ETag (local files) the
// path read stands in for it, so that two different files with the same
// key under the default bucket "local" do not share ids. An alert without
// an origin gets the hash of its JSON.
func docID(a *alert.Alert) string {
	o := &a.Origin
	var buf []byte
	if o.Bucket == "" && o.Key == "" && o.Path == "" {
		buf = append(append(buf, "vpcalertd/json\x00"...), a.JSON...)
	} else {
		buf = append(buf, "vpcalertd/1\x00"...)
		buf = append(append(buf, o.Bucket...), 0)
		key := o.Key
		if key == "" {
			key = o.Path
		}
		buf = append(append(buf, key...), 0)
		if etag := strings.Trim(o.ETag, `"`); etag != "" {
			buf = append(append(buf, etag...), 0)
		} else {
			buf = append(append(append(buf, "path:"...), o.Path...), 0)
		}
		buf = append(strconv.AppendInt(buf, int64(o.Line), 10), 0)
		buf = append(append(buf, a.RuleID...), 0)
		buf = strconv.AppendInt(buf, int64(a.Seq), 10)
	}
	sum := sha256.Sum256(buf)
	return base64.RawURLEncoding.EncodeToString(sum[:15])
}
