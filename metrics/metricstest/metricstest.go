package metricstest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Samples maps a sample's identity, `name` or `name{a="x",b="y"}` with the
// labels sorted by name, to its value. Counters and gauges only.
type Samples map[string]float64

// Get returns the value of the sample name with the given label pairs
// ("kind", "object", …), or 0 when it is absent.
func (s Samples) Get(name string, labelPairs ...string) float64 {
	return s[Key(name, labelPairs...)]
}

// Has reports whether the sample exists.
func (s Samples) Has(name string, labelPairs ...string) bool {
	_, ok := s[Key(name, labelPairs...)]
	return ok
}

// Key builds a Samples key from a name and label pairs.
func Key(name string, labelPairs ...string) string {
	if len(labelPairs)%2 != 0 {
		panic("metricstest: odd number of label arguments")
	}
	if len(labelPairs) == 0 {
		return name
	}
	pairs := make([]string, 0, len(labelPairs)/2)
	for i := 0; i < len(labelPairs); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", labelPairs[i], labelPairs[i+1]))
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// Scrape GETs url (a /metrics endpoint) and parses the text format. It fails
// the test on any error.
func Scrape(t testing.TB, url string) Samples {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape %s: status %s: %s", url, resp.Status, body)
	}
	s, err := Parse(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return s
}

// Parse reads the Prometheus text exposition format.
func Parse(r io.Reader) (Samples, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := make(Samples)
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName(), l.GetValue())
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[Key(name, pairs...)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[Key(name, pairs...)] = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				out[Key(name, pairs...)] = m.GetUntyped().GetValue()
			}
		}
	}
	return out, nil
}

// Gather reads the samples straight from a registry (no HTTP), for a test
// that stopped the endpoint.
func Gather(t testing.TB, g prometheus.Gatherer) Samples {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatalf("gather: %v", err)
		}
	}
	s, err := Parse(&buf)
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return s
}
