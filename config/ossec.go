package config

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/specfile"
)

// wodle is the <wodle name="aws-s3"> block of an ossec.conf.
type wodle struct {
	file             string
	Disabled         bool
	Interval         *time.Duration
	RunOnStart       *bool
	SkipOnError      *bool
	RemoveFromBucket *bool
	Buckets          []ossecBucket
}

type ossecBucket struct {
	spec bucketSpec
	src  bucketSrc
}

// xmlElem is an element of the wodle with its text and position.
type xmlElem struct {
	name      string
	attrs     []xml.Attr
	text      string
	kids      []*xmlElem
	line, col int
}

func (e *xmlElem) attr(name string) (string, bool) {
	for _, a := range e.attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// parseOssec finds the aws-s3 wodle in an ossec.conf and reads it with the
// element names of Wazuh's wmodules-aws.c (docs/wazuh-compat.md, "The wodle's configuration"). An
// ossec.conf usually has several <ossec_config> roots and is read leniently,
// as Wazuh's own XML reader does.
func parseOssec(file string, data []byte) (*wodle, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	var found *xmlElem
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "wodle" {
			continue
		}
		line, col := d.InputPos()
		el, err := readElem(d, se, line, col)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if name, _ := el.attr("name"); name != "aws-s3" {
			continue
		}
		if found != nil {
			return nil, specfile.Errorf(xpos(file, el), `<wodle name="aws-s3">`,
				"a second aws-s3 wodle (the first is at line %d); merge their buckets into one", found.line)
		}
		found = el
	}
	if found == nil {
		return nil, fmt.Errorf(`%s: no <wodle name="aws-s3"> block`, file)
	}
	return readWodle(file, found)
}

func readElem(d *xml.Decoder, se xml.StartElement, line, col int) (*xmlElem, error) {
	el := &xmlElem{name: se.Name.Local, attrs: se.Attr, line: line, col: col}
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("line %d: <%s> is not closed", line, el.name)
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			l, c := d.InputPos()
			kid, err := readElem(d, t, l, c)
			if err != nil {
				return nil, err
			}
			el.kids = append(el.kids, kid)
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			el.text = strings.TrimSpace(text.String())
			return el, nil
		}
	}
}

// xpos is the position of an element: Go's XML decoder gives its line; its
// column is left out, as it points after the tag.
func xpos(file string, e *xmlElem) specfile.Pos { return specfile.Pos{File: file, Line: e.line} }

// bucketElems maps the elements of <bucket> to the spec field they set.
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
	"external_id":      func(s *bucketSpec, e *xmlElem) error { s.ExternalID = e.text; return nil },
	"path":             func(s *bucketSpec, e *xmlElem) error { s.Path = e.text; return nil },
	"path_suffix":      func(s *bucketSpec, e *xmlElem) error { s.PathSuffix = e.text; return nil },
	"only_logs_after":  func(s *bucketSpec, e *xmlElem) error { s.OnlyLogsAfter = e.text; return nil },
	"regions":          func(s *bucketSpec, e *xmlElem) error { s.Regions = splitList(e.text); return nil },
	"sts_endpoint":     func(s *bucketSpec, e *xmlElem) error { s.STSEndpoint = e.text; return nil },
	"service_endpoint": func(s *bucketSpec, e *xmlElem) error { s.ServiceEndpoint = e.text; return nil },
	"discard_regex": func(s *bucketSpec, e *xmlElem) error {
		f, _ := e.attr("field")
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

// credentialElems are Wazuh elements that put keys in the configuration;
// vpcalertd takes credentials only from the AWS SDK's chain.
var credentialElems = map[string]bool{"access_key": true, "secret_key": true}

func readWodle(file string, el *xmlElem) (*wodle, error) {
	w := &wodle{file: file}
	var errs []error
	errf := func(e *xmlElem, key, format string, args ...any) {
		errs = append(errs, specfile.Errorf(xpos(file, e), key, format, args...))
	}
	seen := map[string]bool{}
	nb := 0
	for _, k := range el.kids {
		key := "<" + k.name + ">"
		if k.name != "bucket" {
			if seen[k.name] {
				errf(k, key, "repeated")
			}
			seen[k.name] = true
		}
		switch k.name {
		case "disabled":
			v, err := yesNo(k.text)
			if err != nil {
				errf(k, key, "%v", err)
			}
			w.Disabled = v
		case "interval":
			d, err := ParseDuration(k.text)
			if err != nil {
				errf(k, key, "%v", err)
			}
			w.Interval = &d
		case "run_on_start", "skip_on_error", "remove_from_bucket":
			v, err := yesNo(k.text)
			if err != nil {
				errf(k, key, "%v", err)
			}

			switch k.name {
			case "run_on_start":
				w.RunOnStart = &v
			case "skip_on_error":
				w.SkipOnError = &v
			case "remove_from_bucket":
				w.RemoveFromBucket = &v
			}
		case "bucket":
			nb++
			ob, berrs := readBucket(file, k, nb)
			errs = append(errs, berrs...)
			w.Buckets = append(w.Buckets, ob)
		case "service", "subscriber":
			errf(k, key, "not supported by vpcalertd: only <bucket> entries of type vpcflow and cloudtrail are read")
		default:
			errf(k, key, "unknown element (accepted: <bucket>, <disabled>, <interval>, <remove_from_bucket>, <run_on_start>, <skip_on_error>)")
		}
	}
	if len(errs) > 0 {
		return nil, specfile.Join(errs...)
	}
	return w, nil
}

func readBucket(file string, el *xmlElem, n int) (ossecBucket, []error) {
	var errs []error
	label := fmt.Sprintf("<bucket> %d", n)
	pos := map[string]specfile.Pos{"": xpos(file, el), "type": xpos(file, el)}
	ob := ossecBucket{src: bucketSrc{
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
	}}
	ob.spec.Type, _ = el.attr("type")
	seen := map[string]bool{}
	for _, k := range el.kids {
		key := label + " <" + k.name + ">"
		if credentialElems[k.name] {
			errs = append(errs, specfile.Errorf(xpos(file, k), key,
				"credentials in the configuration are not supported: use aws_profile, iam_role_arn or the AWS SDK's environment"))
			continue
		}
		set, ok := bucketElems[k.name]
		if !ok {
			errs = append(errs, specfile.Errorf(xpos(file, k), key, "unknown element (accepted: %s)", acceptedBucketElems()))
			continue
		}
		if seen[k.name] {
			errs = append(errs, specfile.Errorf(xpos(file, k), key, "repeated"))
			continue
		}
		seen[k.name] = true
		pos[k.name] = xpos(file, k)
		if err := set(&ob.spec, k); err != nil {
			errs = append(errs, &specfile.Error{Pos: xpos(file, k), Key: key, Err: err})
		}
	}
	return ob, errs
}

func acceptedBucketElems() string {
	names := make([]string, 0, len(bucketElems))
	for k := range bucketElems {
		names = append(names, "<"+k+">")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
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
