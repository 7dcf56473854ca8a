package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// ruleErrors is the collector of vpcalertd_rule_errors_total: it reads the
// engine's per-rule counters at scrape time, so counting costs the
// evaluation nothing more than the counter it already keeps.
type ruleErrors struct {
	desc *prometheus.Desc
	f    atomic.Pointer[func() map[string]int64]
}

func newRuleErrors() *ruleErrors {
	return &ruleErrors{desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "rule_errors_total"),
		"Evaluations of a rule's condition that failed at run time (a type mismatch, a helper given a value "+
			"it cannot read), counted as not matching; the first one of each rule is logged with its file and line.",
		[]string{"rule_id"}, nil)}
}

func (c *ruleErrors) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *ruleErrors) Collect(ch chan<- prometheus.Metric) {
	f := c.f.Load()
	if f == nil {
		return
	}
	for id, n := range (*f)() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), id)
	}
}

// RuleErrors makes vpcalertd_rule_errors_total{rule_id} read f at each
// scrape: the run-time errors of each rule's condition, by rule id
// (engine.Engine.RuleErrors).
func (m *Metrics) RuleErrors(f func() map[string]int64) {
	if m == nil {
		return
	}
	m.ruleErrs.f.Store(&f)
}
