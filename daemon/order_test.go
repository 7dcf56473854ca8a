package daemon

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
)

// scanObjects returns 24 flow-log objects of one account and region
// (scanObjectsN).
func scanObjects() (keys []string, bodies [][]byte) { return scanObjectsN(24) }

// scanObjectsN returns n flow-log objects of one account and region, in
// key order, whose records move on in time (object k covers the ten
// minutes from 10:00 + 10k min) and n-1 port scans that straddle the
// objects' boundaries: 8 rejected ports at the end of object k and 8 at the
// start of object k+1, from a source of their own, within 20 seconds. Each
// object also holds 300 rejected flows from many sources to one port, spread
// over its ten minutes, which move the scan rule's windows on.
func scanObjectsN(n int) (keys []string, bodies [][]byte) {
	return boundaryScans(n, func(line flowLine, start int64) {
		for i := 0; i < 300; i++ {
			line(fmt.Sprintf("203.0.113.%d", i%250+1), 50000+i, 443, start+10+int64(i)*2)
		}
	})
}

// flowLine writes one rejected TCP flow record.
type flowLine func(src string, sport, dport int, t int64)

// boundaryScans returns n objects with the boundary scans of scanObjectsN;
// fill writes each object's other records, between the scans' halves.
func boundaryScans(n int, fill func(line flowLine, start int64)) (keys []string, bodies [][]byte) {
	const acct = "123456789012"
	t0 := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC).Unix()
	for k := 0; k < n; k++ {
		var b bytes.Buffer
		line := func(src string, sport, dport int, t int64) {
			fmt.Fprintf(&b, "2 %s eni-0a1b2c3d4e5f60718 %s 10.0.1.25 %d %d 6 1 44 %d %d REJECT OK\n", acct, src, sport, dport, t, t+1)
		}
		b.WriteString(flowHeader + "\n")
		start := t0 + int64(k)*600
		if k > 0 {
			for p := 8; p < 16; p++ {
				line(fmt.Sprintf("198.51.100.%d", k), 40000+p, 20+p, start+int64(p-8))
			}
		}
		fill(line, start)
		if k < n-1 {
			for p := 0; p < 8; p++ {
				line(fmt.Sprintf("198.51.100.%d", k+1), 40000+p, 20+p, start+600-12+int64(p))
			}
		}
		keys = append(keys, flowKey(acct, "us-east-1", "2024-03-05", "fl-1", k))
		bodies = append(bodies, b.Bytes())
	}
	return keys, bodies
}

// scans returns the sources of the port-scan alerts (100401) in the files.
func scans(t *testing.T, paths ...string) []string {
	t.Helper()
	var out []string
	for _, a := range readAllAlerts(t, paths...) {
		if a.RuleID == "100401" {
			i := strings.Index(a.Raw, `"srcaddr":"`)
			require.Positive(t, i, a.Raw)
			src := a.Raw[i+len(`"srcaddr":"`):]
			out = append(out, src[:strings.IndexByte(src, '"')])
		}
	}
	sort.Strings(out)
	return out
}

// TestScansAcrossObjectsWhateverTheConcurrency (issue 14): the correlation
// rules see a scope's objects in key order whatever the concurrency, so the
// daemon raises every scan that straddles two objects — the 23 that replay,
// which reads the objects one after the other, raises — in every pass,
// while objects are read four at a time.
func TestScansAcrossObjectsWhateverTheConcurrency(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	b := srv.NewBucket(t, "order-it")
	keys, bodies := scanObjects()
	// What replay raises.
	replayed, _ := putAndReplay(t, srv, b, keys, bodies)
	want := scans(t, replayed)
	require.Len(t, want, 23, "replay raises one scan per boundary")

	for run := 0; run < 4; run++ {
		td := newTestDaemon(t, fmt.Sprintf("state: s.db\nconcurrency: 4\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: %s, only_logs_after: 2024-03-05, service_endpoint: %q}]\n", b, srv.Endpoint))
		td.now = time.Date(2024, 3, 5, 16, 0, 0, 0, time.UTC)
		res := td.pass(t)
		require.Equal(t, int64(24), res.Stats.Objects)
		assert.Equal(t, want, scans(t, td.alerts), "run %d", run)
	}
}
