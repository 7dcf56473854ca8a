package indexertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// IngestDoc is a document passing through an ingest pipeline.
type IngestDoc struct {
	Index  string
	ID     string
	Source map[string]any
	// Drop, when set by a processor, makes the document vanish (the bulk
	// item still reports success, as OpenSearch does).
	Drop bool
}

// Pipeline is an ingest pipeline.
type Pipeline func(d *IngestDoc) error

// GeoIPFunc resolves an address for a geoip processor: the properties it
// found, or nil.
type GeoIPFunc func(ip string) map[string]any

// LoadPipeline builds a Pipeline from an ingest pipeline definition (as
// PUT _ingest/pipeline/<id> takes it). It supports the processors Wazuh's
// Filebeat alerts pipeline uses: json, set, geoip (through geo; nil means no
// database, so nothing is found), date, date_index_name and remove, with
// ignore_failure, ignore_missing, override, ignore_empty_value and a
// top-level on_failure of drop.
func LoadPipeline(def []byte, geo GeoIPFunc) (Pipeline, error) {
	var spec struct {
		Processors []map[string]json.RawMessage `json:"processors"`
		OnFailure  []map[string]json.RawMessage `json:"on_failure"`
	}
	if err := json.Unmarshal(def, &spec); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	type step struct {
		run           func(d *IngestDoc) error
		ignoreFailure bool
	}
	var steps []step
	for i, p := range spec.Processors {
		for kind, raw := range p {
			var o procOptions
			if err := json.Unmarshal(raw, &o); err != nil {
				return nil, fmt.Errorf("pipeline: processor %d (%s): %w", i, kind, err)
			}
			run, err := buildProcessor(kind, o, geo)
			if err != nil {
				return nil, fmt.Errorf("pipeline: processor %d: %w", i, err)
			}
			steps = append(steps, step{run, o.IgnoreFailure})
		}
	}
	drop := false
	for _, p := range spec.OnFailure {
		if _, ok := p["drop"]; ok {
			drop = true
		}
	}
	return func(d *IngestDoc) error {
		for _, s := range steps {
			if err := s.run(d); err != nil && !s.ignoreFailure {
				if drop {
					d.Drop = true
					return nil
				}
				return err
			}
		}
		return nil
	}, nil
}

type procOptions struct {
	Field            string   `json:"field"`
	TargetField      string   `json:"target_field"`
	AddToRoot        bool     `json:"add_to_root"`
	Value            any      `json:"value"`
	Override         *bool    `json:"override"`
	IgnoreEmptyValue bool     `json:"ignore_empty_value"`
	IgnoreFailure    bool     `json:"ignore_failure"`
	IgnoreMissing    bool     `json:"ignore_missing"`
	Properties       []string `json:"properties"`
	Formats          []string `json:"formats"`
	DateRounding     string   `json:"date_rounding"`
	IndexNamePrefix  string   `json:"index_name_prefix"`
	IndexNameFormat  string   `json:"index_name_format"`
}

var errMissing = errors.New("field missing")

// processorKinds builds each supported processor kind: the ingest
// processors Wazuh's pipeline uses. A new kind is one function and one row.
var processorKinds = map[string]func(o procOptions, geo GeoIPFunc) (func(*IngestDoc) error, error){
	"json":            procJSON,
	"set":             procSet,
	"geoip":           procGeoIP,
	"date":            procDate,
	"date_index_name": procDateIndexName,
	"remove":          procRemove,
}

func buildProcessor(kind string, o procOptions, geo GeoIPFunc) (func(*IngestDoc) error, error) {
	build, ok := processorKinds[kind]
	if !ok {
		return nil, fmt.Errorf("unsupported processor %q", kind)
	}
	return build(o, geo)
}

func procJSON(o procOptions, geo GeoIPFunc) (func(*IngestDoc) error, error) {
	return func(d *IngestDoc) error {
		s, ok := getPath(d.Source, o.Field).(string)
		if !ok {
			return fmt.Errorf("json: field [%s] is not a string", o.Field)
		}
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return fmt.Errorf("json: %w", err)
		}
		if o.AddToRoot {
			m, ok := v.(map[string]any)
			if !ok {
				return errors.New("json: cannot add non-map fields to root of document")
			}
			for k, val := range m {
				d.Source[k] = val
			}
			return nil
		}
		target := o.TargetField
		if target == "" {
			target = o.Field
		}
		return setPath(d.Source, target, v)
	}, nil
}

func procSet(o procOptions, geo GeoIPFunc) (func(*IngestDoc) error, error) {
	override := o.Override == nil || *o.Override
	tmpl, _ := o.Value.(string)
	return func(d *IngestDoc) error {
		if !override && getPath(d.Source, o.Field) != nil {
			return nil
		}
		v, err := render(tmpl, d.Source)
		if err != nil {
			return err
		}
		if o.IgnoreEmptyValue && v == "" {
			return nil
		}
		return setPath(d.Source, o.Field, v)
	}, nil
}

func procGeoIP(o procOptions, geo GeoIPFunc) (func(*IngestDoc) error, error) {
	target := o.TargetField
	if target == "" {
		target = "geoip"
	}
	return func(d *IngestDoc) error {
		v := getPath(d.Source, o.Field)
		if v == nil {
			if o.IgnoreMissing {
				return nil
			}
			return errMissing
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("geoip: field [%s] is not a string", o.Field)
		}
		if geo == nil {
			return nil
		}
		if props := geo(s); len(props) > 0 {
			return setPath(d.Source, target, props)
		}
		return nil
	}, nil
}

func procDate(o procOptions, geo GeoIPFunc) (func(*IngestDoc) error, error) {
	target := o.TargetField
	if target == "" {
		target = "@timestamp"
	}
	return func(d *IngestDoc) error {
		t, err := ingestDate(getPath(d.Source, o.Field))
		if err != nil {
			return err
		}
		return setPath(d.Source, target, t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	}, nil
}

func procDateIndexName(o procOptions, geo GeoIPFunc) (func(*IngestDoc) error, error) {
	if o.DateRounding != "d" || o.IndexNameFormat != "yyyy.MM.dd" {
		return nil, fmt.Errorf("date_index_name: only date_rounding d with yyyy.MM.dd is supported")
	}
	return func(d *IngestDoc) error {
		t, err := ingestDate(getPath(d.Source, o.Field))
		if err != nil {
			return err
		}
		prefix, err := render(o.IndexNamePrefix, d.Source)
		if err != nil {
			return err
		}
		d.Index = prefix + t.UTC().Format("2006.01.02")
		return nil
	}, nil
}

func procRemove(o procOptions, geo GeoIPFunc) (func(*IngestDoc) error, error) {
	return func(d *IngestDoc) error {
		if getPath(d.Source, o.Field) == nil {
			if o.IgnoreMissing {
				return nil
			}
			return errMissing
		}
		removePath(d.Source, o.Field)
		return nil
	}, nil
}

var mustacheRE = regexp.MustCompile(`\{\{\s*([^}\s]+)\s*\}\}`)

// render expands {{a.b}} templates; a missing field renders empty.
func render(tmpl string, src map[string]any) (string, error) {
	var err error
	out := mustacheRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := mustacheRE.FindStringSubmatch(m)[1]
		switch t := getPath(src, name).(type) {
		case nil:
			return ""
		case string:
			return t
		default:
			b, merr := json.Marshal(t)
			if merr != nil && err == nil {
				err = fmt.Errorf("template %q: field %s: %w", tmpl, name, merr)
			}
			return string(b)
		}
	})
	return out, err
}

// ingestDate parses the ISO8601 forms the date processor accepts.
func ingestDate(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("date: not a string: %v", v)
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999Z07", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("date: unable to parse date [%s]", s)
}

func getPath(m map[string]any, p string) any {
	var cur any = m
	for _, seg := range strings.Split(p, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[seg]
	}
	return cur
}

func setPath(m map[string]any, p string, v any) error {
	segs := strings.Split(p, ".")
	cur := m
	for _, seg := range segs[:len(segs)-1] {
		next, ok := cur[seg]
		if !ok {
			n := map[string]any{}
			cur[seg] = n
			cur = n
			continue
		}
		obj, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("cannot set [%s]: [%s] is not an object", p, seg)
		}
		cur = obj
	}
	cur[segs[len(segs)-1]] = v
	return nil
}

func removePath(m map[string]any, p string) {
	segs := strings.Split(p, ".")
	cur := m
	for _, seg := range segs[:len(segs)-1] {
		obj, ok := cur[seg].(map[string]any)
		if !ok {
			return
		}
		cur = obj
	}
	delete(cur, segs[len(segs)-1])
}
