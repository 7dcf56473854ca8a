package indexer

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/vpcalertd/vpcalertd/alert"
)

// FuzzRender feeds arbitrary alert lines to the document builder: it must
// either refuse the line as not a JSON object or produce a bulk record of
// two valid JSON lines, never panic.
func FuzzRender(f *testing.F) {
	for _, alerts := range allSampleAlerts(f) {
		for _, a := range alerts {
			f.Add(a.JSON)
		}
	}
	f.Add([]byte(`{"timestamp":"x","data":{"aws":{"srcaddr":"-","bytes":{"a":[1,{"b":null}]},"start":"2024-02-30"}},"GeoLocation":{"location":[1,2,3]}}`))
	b := testBuilder()
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := b.render(nil, &alert.Alert{JSON: line, RuleID: "1"})
		if err != nil {
			if !errors.Is(err, errInvalidAlert) {
				t.Fatalf("unexpected error %v", err)
			}
			if json.Valid(line) && len(line) > 0 && firstNonSpace(line) == '{' {
				t.Fatalf("valid object refused: %v", err)
			}
			return
		}
		action, doc := splitRecord(t, rec.line)
		if !json.Valid(action) || !json.Valid(doc) {
			t.Fatalf("invalid record %q", rec.line)
		}
	})
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}
