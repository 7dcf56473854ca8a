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
	if matchField(doc.Data.AWS, strings.Split(s.field, "."), s.re) {
		s.dropped++
		return nil
	}
	return s.next.Write(a)
}

func (s *discardSink) Sync() error  { return s.next.Sync() }
func (s *discardSink) Close() error { return s.next.Close() }

func matchField(v any, path []string, re *regexp.Regexp) bool {
	if len(path) == 0 {
		switch t := v.(type) {
		case string:
			return re.MatchString(t)
		case []any:
			for _, e := range t {
				if matchField(e, nil, re) {
					return true
				}
			}
			return false
		case nil:
			return false
		default:
			b, _ := json.Marshal(t)
			return re.Match(b)
		}
	}
	switch t := v.(type) {
	case map[string]any:
		return matchField(t[path[0]], path[1:], re)
	case []any:
		for _, e := range t {
			if matchField(e, path, re) {
				return true
			}
		}
	}
	return false
}
