package config

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/specfile"
)

// wodle is what the enabled <wodle name="aws-s3"> blocks of an ossec.conf
// say. Wazuh runs each block as a module of its own; vpcalertd merges them:
// their buckets in order, the first block's settings.
type wodle struct {
	file string
	// Disabled says every block is disabled.
	Disabled    bool
	Interval    *time.Duration
	RunOnStart  *bool
	SkipOnError *bool
	Buckets     []ossecBucket
}

// block is one <wodle name="aws-s3">.
type block struct {
	line        int
	disabled    bool
	interval    *time.Duration
	runOnStart  *bool
	skipOnError *bool
	// removeLegacy is the module's <remove_from_bucket>: Wazuh applies it
	// only to the legacy <bucket>name</bucket> form.
	removeLegacy *bool
	buckets      []ossecBucket
	// legacy is the last <bucket>name</bucket> of the legacy form.
	legacy *ossecBucket
}

type ossecBucket struct {
	spec bucketSpec
	src  bucketSrc
}

// xmlElem is an element of the wodle with its text and position.
type xmlElem struct {
	name  string
	attrs []xml.Attr
	text  string // entities decoded, trimmed
	// raw is the text as written, trimmed: what Wazuh's XML reader gives,
	// which decodes no entity.
	raw  string
	kids []*xmlElem
	line int
}

func (e *xmlElem) attr(name string) (string, bool) {
	for _, a := range e.attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// ossecReader reads the aws-s3 wodle blocks of an ossec.conf as Wazuh
// 4.14.7's wm_aws_read (src/config/wmodules-aws.c) does, collecting every
// problem (errs) and what Wazuh accepts but vpcalertd does differently
// (warns), each a *specfile.Error at the element's line.
type ossecReader struct {
	file  string
	data  []byte
	errs  []error
	warns []error
	// nb counts the <bucket> elements of the file.
	nb int
}

func (r *ossecReader) errf(e *xmlElem, key, format string, args ...any) {
	r.errs = append(r.errs, specfile.Errorf(r.pos(e), key, format, args...))
}

func (r *ossecReader) warnf(e *xmlElem, key, format string, args ...any) {
	r.warns = append(r.warns, specfile.Errorf(r.pos(e), key, format, args...))
}

// pos is the position of an element: the line encoding/xml's InputPos gives
// after its start tag; its column is left out, as it points after the tag.
func (r *ossecReader) pos(e *xmlElem) specfile.Pos { return specfile.Pos{File: r.file, Line: e.line} }

// parseOssec reads the aws-s3 wodle blocks of an ossec.conf. An ossec.conf
// usually has several <ossec_config> roots and is read leniently, as Wazuh's
// own XML reader does. It returns nil when the file cannot be read as XML
// or has no aws-s3 wodle; otherwise errs and warns are the problems found.
func parseOssec(file string, data []byte) (w *wodle, errs, warns []error) {
	r := &ossecReader{file: file, data: data}
	blocks, err := r.wodles()
	if err != nil {
		return nil, []error{err}, nil
	}
	if len(blocks) == 0 {
		return nil, []error{&specfile.Error{Pos: specfile.Pos{File: file}, Err: errors.New(`no <wodle name="aws-s3"> block`)}}, nil
	}
	w = &wodle{file: file, Disabled: true}
	var first *block
	for _, el := range blocks {
		b := r.readWodle(el)
		if b.disabled {
			continue // a disabled module does not run
		}
		w.Disabled = false
		if first == nil {
			first = b
			w.Interval, w.RunOnStart, w.SkipOnError = b.interval, b.runOnStart, b.skipOnError
		} else {
			r.merge(w, first, b, el)
		}
		w.Buckets = append(w.Buckets, b.buckets...)
		if b.legacy != nil {
			b.legacy.spec.RemoveFromBucket = b.removeLegacy
			w.Buckets = append(w.Buckets, *b.legacy)
		}
		r.warnRemove(b, el)
	}
	return w, r.errs, r.warns
}

// merge adds what a later enabled block says about the module to w: a
// shorter interval wins (its buckets are read at least as often as Wazuh
// would), the rest is the first block's.
func (r *ossecReader) merge(w *wodle, first, b *block, el *xmlElem) {
	if b.interval != nil && (w.Interval == nil || *b.interval < *w.Interval) {
		w.Interval = b.interval
	}
	r.warnf(el, `<wodle name="aws-s3">`, "a second aws-s3 wodle (the first is at line %d): its buckets are read too, as Wazuh runs both; "+
		"vpcalertd has one schedule: the shorter <interval> and the first block's <run_on_start> and <skip_on_error> hold for all", first.line)
}

// warnRemove says that the module's <remove_from_bucket> does not apply to
// typed <bucket> blocks: Wazuh's wm_aws_read gives it only to the legacy
// form.
func (r *ossecReader) warnRemove(b *block, el *xmlElem) {
	if b.removeLegacy == nil || !*b.removeLegacy {
		return
	}
	for _, ob := range b.buckets {
		if ob.spec.RemoveFromBucket == nil {
			r.warnf(el, "<remove_from_bucket>", "the module's <remove_from_bucket>yes applies only to the legacy <bucket>name</bucket> form, as in Wazuh: "+
				"%s is not deleted from; say <remove_from_bucket>yes</remove_from_bucket> inside the <bucket> to delete what is read", ob.src.key(""))
		}
	}
}

// wodles returns the <wodle name="aws-s3"> elements of the file.
func (r *ossecReader) wodles() ([]*xmlElem, error) {
	d := xml.NewDecoder(bytes.NewReader(r.data))
	d.Strict = false
	var found []*xmlElem
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return found, nil
		}
		if err != nil {
			return nil, r.syntaxError(d, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "wodle" {
			continue
		}
		line, _ := d.InputPos()
		el, err := r.readElem(d, se, line)
		if err != nil {
			return nil, r.syntaxError(d, err)
		}
		if name, _ := el.attr("name"); name == "aws-s3" {
			found = append(found, el)
		}
	}
}

func (r *ossecReader) syntaxError(d *xml.Decoder, err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &specfile.Error{Pos: specfile.Pos{File: r.file, Line: se.Line}, Err: fmt.Errorf("not XML: %s", se.Msg)}
	}
	line, _ := d.InputPos()
	return &specfile.Error{Pos: specfile.Pos{File: r.file, Line: line}, Err: err}
}

func (r *ossecReader) readElem(d *xml.Decoder, se xml.StartElement, line int) (*xmlElem, error) {
	el := &xmlElem{name: se.Name.Local, attrs: se.Attr, line: line}
	var text, raw strings.Builder
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return nil, &xml.SyntaxError{Msg: fmt.Sprintf("<%s> of line %d is not closed", el.name, line), Line: line}
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			l, _ := d.InputPos()
			kid, err := r.readElem(d, t, l)
			if err != nil {
				return nil, err
			}
			el.kids = append(el.kids, kid)
		case xml.CharData:
			text.Write(t)
			raw.Write(r.data[off:d.InputOffset()])
		case xml.EndElement:
			el.text = strings.TrimSpace(text.String())
			el.raw = strings.TrimSpace(raw.String())
			return el, nil
		}
	}
}

// wodleElems are the elements of the wodle block: Wazuh's (wm_aws_read and
// the scheduling elements of sched_scan_read, src/shared/schedule_scan.c).
// <bucket> is read by readBucket.
var wodleElems = map[string]func(r *ossecReader, b *block, e *xmlElem){
	"disabled": func(r *ossecReader, b *block, e *xmlElem) {
		if v, ok := r.yesNo(e); ok {
			b.disabled = v
		}
	},
	"interval":           (*ossecReader).interval,
	"run_on_start":       func(r *ossecReader, b *block, e *xmlElem) { r.moduleBool(e, &b.runOnStart) },
	"skip_on_error":      func(r *ossecReader, b *block, e *xmlElem) { r.moduleBool(e, &b.skipOnError) },
	"remove_from_bucket": func(r *ossecReader, b *block, e *xmlElem) { r.moduleBool(e, &b.removeLegacy) },
	"bucket":             nil,
	"service": func(r *ossecReader, _ *block, e *xmlElem) {
		t, _ := e.attr("type")
		r.warnf(e, "<service>", "not read by vpcalertd (type %q): it reads only <bucket> blocks of type cloudtrail and vpcflow; leave it to Wazuh's wodle", t)
	},
	"subscriber": func(r *ossecReader, _ *block, e *xmlElem) {
		t, _ := e.attr("type")
		r.warnf(e, "<subscriber>", "not read by vpcalertd (type %q): vpcalertd follows SQS queues of its own (a bucket's sqs section in the YAML, docs/sqs.md); leave it to Wazuh's wodle", t)
	},
	"day":        (*ossecReader).schedule,
	"wday":       (*ossecReader).schedule,
	"time":       (*ossecReader).schedule,
	"access_key": (*ossecReader).credentials,
	"secret_key": (*ossecReader).credentials,
}

// readWodle reads one aws-s3 wodle block.
func (r *ossecReader) readWodle(el *xmlElem) *block {
	b := &block{line: el.line}
	seen := map[string]int{}
	for _, k := range el.kids {
		if k.name != "bucket" && k.name != "service" && k.name != "subscriber" {
			if l, dup := seen[k.name]; dup {
				r.warnf(k, "<"+k.name+">", "repeated (the first is at line %d): the last one counts, as in Wazuh", l)
			}
			seen[k.name] = k.line
		}
		set, ok := wodleElems[k.name]
		switch {
		case !ok:
			names := elemNames(wodleElems)
			r.errf(k, "<"+k.name+">", "unknown element%s (accepted: %s)", didYouMeanElem(k.name, names), strings.Join(names, ", "))
		case k.name == "bucket":
			r.nb++
			r.readBucket(k, b)
		default:
			set(r, b, k)
		}
	}
	return b
}

func (r *ossecReader) yesNo(e *xmlElem) (bool, bool) {
	v, err := yesNo(e.text)
	if err != nil {
		r.errf(e, "<"+e.name+">", "%v", err)
		return false, false
	}
	return v, true
}

func (r *ossecReader) moduleBool(e *xmlElem, dst **bool) {
	if v, ok := r.yesNo(e); ok {
		*dst = &v
	}
}

// interval reads <interval> as sched_scan_read does: a number with an
// optional unit s, m, h, d, w or M (months, taken as 30 days here).
func (r *ossecReader) interval(b *block, e *xmlElem) {
	d, err := ParseDuration(e.text)
	if n, ok := strings.CutSuffix(e.text, "M"); ok && err != nil {
		if months, perr := strconv.Atoi(n); perr == nil && months > 0 {
			d, err = time.Duration(months)*30*24*time.Hour, nil
			r.warnf(e, "<interval>", "%s: Wazuh runs the module on the first day of every %d month(s); vpcalertd passes every %v", e.text, months, d)
		}
	}
	if err == nil && d < time.Second {
		err = fmt.Errorf("must be at least 1s, got %v", d)
	}
	if err != nil {
		r.errf(e, "<interval>", "%v", err)
		return
	}
	b.interval = &d
}

func (r *ossecReader) schedule(_ *block, e *xmlElem) {
	r.warnf(e, "<"+e.name+">", "ignored: vpcalertd starts a pass every <interval> (Wazuh would start them by <day>, <wday> and <time>)")
}

func (r *ossecReader) credentials(_ *block, e *xmlElem) { r.refuseCredentials(e, "<"+e.name+">") }

func (r *ossecReader) refuseCredentials(e *xmlElem, key string) {
	r.errf(e, key, "credentials in the configuration are not supported (Wazuh deprecated them in 4.4): "+
		"use aws_profile, iam_role_arn or the AWS SDK's environment (docs/daemon.md, Credentials)")
}

// Bucket types of Wazuh's wodle (wm_aws_read): vpcalertd reads cloudtrail
// and vpcflow, and passes over the others with a warning.
var wazuhBucketTypes = []string{"alb", "cisco_umbrella", "clb", "cloudtrail", "config", "custom", "guardduty", "nlb", "server_access", "vpcflow", "waf"}

// readBucket reads a <bucket> into b.
func (r *ossecReader) readBucket(el *xmlElem, b *block) {
	label := fmt.Sprintf("<bucket> %d", r.nb)
	if len(el.attrs) == 0 && len(el.kids) == 0 {
		r.legacyBucket(el, label, b)
		return
	}
	for _, a := range el.attrs {
		if a.Name.Local != "type" {
			r.errf(el, label, "attribute %q is not valid; the valid one is type", a.Name.Local)
		}
	}
	typ, _ := el.attr("type")
	if typ != "cloudtrail" && typ != "vpcflow" && slices.Contains(wazuhBucketTypes, typ) {
		r.warnf(el, label, "type %q is not read by vpcalertd (it reads cloudtrail and vpcflow); leave it to Wazuh's wodle", typ)
		return
	}
	ob := newOssecBucket(r, el, label)
	ob.spec.Type = typ
	seen := map[string]int{}
	for _, k := range el.kids {
		r.bucketElem(&ob, k, label, seen)
	}
	b.buckets = append(b.buckets, ob)
}

// newOssecBucket returns a bucket whose keys are named and placed by their
// elements (bucketElem records each element's line in pos).
func newOssecBucket(r *ossecReader, el *xmlElem, label string) ossecBucket {
	pos := map[string]specfile.Pos{"": r.pos(el), "type": r.pos(el)}
	return ossecBucket{src: bucketSrc{
		pos: func(key string) specfile.Pos {
			if p, ok := pos[key]; ok {
				return p
			}
			return pos[""]
		},
		key: func(key string) string {
			if key == "" || key == "type" {
				return label
			}
			return label + " <" + key + ">"
		},
		set: func(key string, p specfile.Pos) { pos[key] = p },
	}}
}

// legacyBucket reads Wazuh's deprecated <bucket>name</bucket>: a
// CloudTrail bucket whose alerts say aws_account_alias LEGACY, deleted from
// when the module says <remove_from_bucket>yes. As in Wazuh, only the last
// one counts and it is read after the others.
func (r *ossecReader) legacyBucket(el *xmlElem, label string, b *block) {
	if el.text == "" {
		r.errf(el, label, "empty: the legacy form <bucket>name</bucket> needs the bucket name (or write <bucket type=\"…\"><name>…</name></bucket>)")
		return
	}
	if b.legacy != nil {
		r.warnf(el, label, "a second legacy <bucket>name</bucket> in the block (the first is at line %d): only the last one is read, as in Wazuh", b.legacy.src.pos("").Line)
	}
	r.warnf(el, label, `deprecated form <bucket>name</bucket> (Wazuh warns the same): read as <bucket type="cloudtrail"> with aws_account_alias LEGACY`)
	ob := newOssecBucket(r, el, label)
	ob.spec.Type, ob.spec.Name, ob.spec.AccountAlias = "cloudtrail", el.text, "LEGACY"
	b.legacy = &ob
}

// bucketElem reads one element of a <bucket>.
func (r *ossecReader) bucketElem(ob *ossecBucket, k *xmlElem, label string, seen map[string]int) {
	key := label + " <" + k.name + ">"
	if k.name == "access_key" || k.name == "secret_key" {
		r.refuseCredentials(k, key)
		return
	}
	set, ok := bucketElems[k.name]
	if !ok {
		names := elemNames(bucketElems)
		r.errf(k, key, "unknown element%s (accepted: %s)", didYouMeanElem(k.name, names), strings.Join(names, ", "))
		return
	}
	if l, dup := seen[k.name]; dup {
		r.warnf(k, key, "repeated (the first is at line %d): the last one counts, as in Wazuh", l)
	}
	seen[k.name] = k.line
	ob.src.set(k.name, r.pos(k))
	if k.text == "" && k.name != "discard_regex" && k.name != "name" {
		if mustHaveContent[k.name] {
			r.errf(k, key, "empty (Wazuh refuses it too)")
		} else {
			r.warnf(k, key, "empty: ignored (Wazuh warns the same)")
		}
		return
	}
	if err := set(&ob.spec, k); err != nil {
		r.errs = append(r.errs, &specfile.Error{Pos: r.pos(k), Key: key, Err: err})
	}
	if k.name == "discard_regex" && k.text == "" {
		r.warnf(k, key, "empty: no record is discarded (Wazuh: \"No value was provided for 'discard_regex'. No event will be skipped.\")")
	}
}

// mustHaveContent are the bucket elements Wazuh refuses empty; it ignores
// the others.
// (An empty <name> is reported as a missing name.)
var mustHaveContent = map[string]bool{"aws_account_id": true, "aws_organization_id": true}

// bucketElems maps the elements of <bucket> to the spec field they set.
// Wazuh reads the same (wm_aws_read) except <external_id> and <disabled>,
// which vpcalertd adds.
var bucketElems = map[string]func(s *bucketSpec, e *xmlElem) error{
	"name":                func(s *bucketSpec, e *xmlElem) error { s.Name = e.text; return nil },
	"aws_account_id":      func(s *bucketSpec, e *xmlElem) error { s.AccountID = splitList(e.text); return nil },
	"aws_account_alias":   func(s *bucketSpec, e *xmlElem) error { s.AccountAlias = e.text; return nil },
	"aws_organization_id": func(s *bucketSpec, e *xmlElem) error { s.OrganizationID = e.text; return nil },
	"aws_profile":         func(s *bucketSpec, e *xmlElem) error { s.Profile = e.text; return nil },
	"iam_role_arn":        func(s *bucketSpec, e *xmlElem) error { s.RoleARN = e.text; return nil },
	"iam_role_duration": func(s *bucketSpec, e *xmlElem) error {
		n, err := strconv.Atoi(e.text)
		if err != nil {
			return fmt.Errorf("expected a number of seconds, got %q", e.text)
		}
		d := Duration(time.Duration(n) * time.Second)
		s.RoleDuration = &d
		return nil
	},
	"external_id": func(s *bucketSpec, e *xmlElem) error { s.ExternalID = e.text; return nil },
	// A key prefix is taken as written: Wazuh's XML reader decodes no
	// entity, and its arg_valid_key refuses &gt; and the like
	// (checkKeyPrefix).
	"path":             func(s *bucketSpec, e *xmlElem) error { s.Path = e.raw; return nil },
	"path_suffix":      func(s *bucketSpec, e *xmlElem) error { s.PathSuffix = e.raw; return nil },
	"only_logs_after":  func(s *bucketSpec, e *xmlElem) error { s.OnlyLogsAfter = e.text; return nil },
	"regions":          func(s *bucketSpec, e *xmlElem) error { s.Regions = splitList(e.text); return nil },
	"sts_endpoint":     func(s *bucketSpec, e *xmlElem) error { s.STSEndpoint = e.text; return nil },
	"service_endpoint": func(s *bucketSpec, e *xmlElem) error { s.ServiceEndpoint = e.text; return nil },
	"discard_regex": func(s *bucketSpec, e *xmlElem) error {
		if e.text == "" {
			return nil
		}
		f, _ := e.attr("field")
		if strings.TrimSpace(f) == "" {
			return errors.New(`the field attribute is missing: <discard_regex field="…">regex</discard_regex> (Wazuh refuses it too)`)
		}
		s.DiscardRegex = &discardSpec{Field: f, Regex: e.text}
		return nil
	},
	"remove_from_bucket": func(s *bucketSpec, e *xmlElem) error {
		v, err := yesNo(e.text)
		s.RemoveFromBucket = &v
		return err
	},
	"disabled": func(s *bucketSpec, e *xmlElem) error {
		v, err := yesNo(e.text)
		s.Disabled = v
		return err
	},
}

// elemNames returns the element names of a table, "<name>", sorted.
func elemNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, "<"+k+">")
	}
	sort.Strings(names)
	return names
}

// didYouMeanElem returns ", did you mean <x>?" for the element nearest to
// an unknown one, or "".
func didYouMeanElem(name string, names []string) string {
	if near := specfile.Nearest("<"+name+">", names, specfile.KeyLimit(name)); near != "" {
		return ", did you mean " + near + "?"
	}
	return ""
}

func yesNo(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, fmt.Errorf("expected yes or no, got %q", s)
}
