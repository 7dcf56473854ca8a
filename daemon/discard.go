package daemon

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/vpcalertd/vpcalertd/alert"
)

// discardSink drops alerts whose record field matches Wazuh's
// discard_regex (docs/wazuh-compat.md, "The wodle's configuration"): the field path is relative to
// the record ("action", "requestParameters.instanceType"), the regex is
// anchored at the start, and a list matches when one element does.
//
// Wazuh drops the record before analysis; here the alert is dropped after
// it, so a discarded record still counts towards correlation rules.
type discardSink struct {
	next    alert.Sink
	field   string
	re      *regexp.Regexp
	dropped int64
}

func (s *discardSink) Write(a *alert.Alert) error {
	var doc struct {
		Data struct {
			AWS map[string]any `json:"aws"`
		} `json:"data"`
	}
	if err := json.Unmarshal(a.JSON, &doc); err != nil {
		return fmt.Errorf("discard_regex: %w", err)
	}
	drop, err := matchField(doc.Data.AWS, strings.Split(s.field, "."), s.re)
	if err != nil {
		return fmt.Errorf("discard_regex: field %s: %w", s.field, err)
	}
	if drop {
		s.dropped++
		return nil
	}
	return s.next.Write(a)
}

func (s *discardSink) Sync() error  { return s.next.Sync() }
func (s *discardSink) Close() error { return s.next.Close() }

// matchField reports whether the value at path in v matches re: a string
// as it is, a number, boolean or object as its JSON, a list when one of
// its elements does.
func matchField(v any, path []string, re *regexp.Regexp) (bool, error) {
	if len(path) > 0 {
		switch t := v.(type) {
		case map[string]any:
			return matchField(t[path[0]], path[1:], re)
		case []any:
			return matchAny(t, path, re)
		}
		return false, nil
	}
	switch t := v.(type) {
	case string:
		return re.MatchString(t), nil
	case []any:
		return matchAny(t, nil, re)
	case nil:
		return false, nil
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return false, err
		}
		return re.Match(b), nil
	}
}

func matchAny(list []any, path []string, re *regexp.Regexp) (bool, error) {
	for _, e := range list {
		if ok, err := matchField(e, path, re); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}
