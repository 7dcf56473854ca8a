package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/internal/golden"
	"github.com/vpcalertd/vpcalertd/output"
)

// goldenNow is the fixed processing time of every golden alert.
var goldenNow = time.Date(2024, 3, 5, 10, 20, 31, 102e6, time.UTC)

// newTestEngine returns an engine with the fixed clock and names the golden
// files use, and a buffer collecting its error reports.
func newTestEngine(t testing.TB, mod func(*Options)) (*Engine, *bytes.Buffer) {
	t.Helper()
	var errs bytes.Buffer
	opts := Options{
		ManagerName: "wazuh-manager",
		Now:         func() time.Time { return goldenNow },
		OnError:     func(err error) { fmt.Fprintln(&errs, err) },
	}
	if mod != nil {
		mod(&opts)
	}
	e, err := New(opts)
	require.NoError(t, err)
	return e, &errs
}

// replay runs files through a fresh engine and returns the alerts and the
// error reports.
func replay(t testing.TB, files []collector.File, mod func(*Options)) (alerts, errs []byte) {
	t.Helper()
	e, errBuf := newTestEngine(t, mod)
	var out bytes.Buffer
	sink := output.NewStream(&out)
	_, err := e.Replay(context.Background(), files, sink, ReplayOptions{})
	require.NoError(t, err)
	return out.Bytes(), errBuf.Bytes()
}

// goldenCase is one input fixture and how to replay it.
type goldenCase struct {
	name  string
	paths []string
	opts  collector.LocalOptions
}

func goldenCases(t *testing.T) []goldenCase {
	cases := []goldenCase{
		{name: "bucket-my-vpc-flowlogs", paths: []string{"../testdata/buckets/my-vpc-flowlogs"}, opts: collector.LocalOptions{Bucket: "my-vpc-flowlogs"}},
		{name: "bucket-my-cloudtrail-bucket", paths: []string{"../testdata/buckets/my-cloudtrail-bucket"}, opts: collector.LocalOptions{Bucket: "my-cloudtrail-bucket", AccountAlias: "prod-account"}},
	}
	entries, err := os.ReadDir("../testdata/alerts")
	require.NoError(t, err)
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.Contains(n, ".golden.") {
			continue
		}
		cases = append(cases, goldenCase{
			name:  strings.TrimSuffix(n, filepath.Ext(n)),
			paths: []string{filepath.Join("../testdata/alerts", n)},
		})
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	return cases
}

// TestGolden replays every input fixture and compares the alerts (and the
// error reports, when there are any) with the golden files byte for byte.
// go test ./... -update rewrites them.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			files, err := collector.Local(c.paths, c.opts)
			require.NoError(t, err)
			alerts, errs := replay(t, files, nil)
			// A second run of the same input gives the same bytes.
			again, againErrs := replay(t, files, nil)
			require.Equal(t, string(alerts), string(again), "replay is not deterministic")
			require.Equal(t, string(errs), string(againErrs))
			golden.Check(t, filepath.Join("../testdata/alerts", c.name+".golden.json"), alerts)
			golden.Check(t, filepath.Join("../testdata/alerts", c.name+".errors.golden.txt"), errs)
		})
	}
}
