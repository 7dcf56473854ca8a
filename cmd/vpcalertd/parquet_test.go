package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/decoders/parquet"
)

// v5Format is a custom format with fields of versions 2 to 5 in AWS's
// documentation order (not the default order).
var v5Format = strings.Fields("version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport " +
	"pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type " +
	"sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path")

// asV5 rewrites default-format records in v5Format, deriving the extra
// fields from each record.
func asV5(t *testing.T, text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	names := strings.Fields(lines[0])
	var b strings.Builder
	b.WriteString(strings.Join(v5Format, " ") + "\n")
	for _, line := range lines[1:] {
		toks := strings.Fields(line)
		require.Len(t, toks, len(names))
		v := map[string]string{}
		for i, n := range names {
			v[n] = toks[i]
		}
		nodata := v["log-status"] == "NODATA"
		inbound := strings.HasPrefix(v["srcaddr"], "203.") || strings.HasPrefix(v["srcaddr"], "198.") || strings.HasPrefix(v["srcaddr"], "192.")
		extra := map[string]string{"version": "5", "vpc-id": "vpc-0a1b2c3d", "subnet-id": "subnet-0f1e2d3c", "instance-id": "i-0123456789abcdef0",
			"type": "IPv4", "pkt-srcaddr": v["srcaddr"], "pkt-dstaddr": v["dstaddr"], "tcp-flags": "19", "region": "us-east-1",
			"az-id": "use1-az4", "sublocation-type": "-", "sublocation-id": "-", "pkt-src-aws-service": "-", "pkt-dst-aws-service": "S3",
			"flow-direction": "egress", "traffic-path": "8"}
		if inbound {
			extra["flow-direction"], extra["traffic-path"], extra["pkt-dst-aws-service"] = "ingress", "-", "-"
		}
		if nodata {
			for _, k := range []string{"type", "pkt-srcaddr", "pkt-dstaddr", "tcp-flags", "flow-direction", "traffic-path", "pkt-dst-aws-service"} {
				extra[k] = "-"
			}
		}
		out := make([]string, len(v5Format))
		for i, n := range v5Format {
			if x, ok := extra[n]; ok {
				out[i] = x
			} else {
				out[i] = v[n]
			}
		}
		b.WriteString(strings.Join(out, " ") + "\n")
	}
	return b.String()
}

// genFlows generates n default-format records of a VPC over five minutes,
// with the shapes the rules look at: accepted and rejected flows both
// ways, NODATA and SKIPDATA records with their "-" values, ICMP, a
// threat-listed address (192.0.2.66) now and then, and a port scan of
// 10.0.1.25 from 198.51.100.7 (80 rejected ports in a minute).
func genFlows(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 17))
	enis := []string{"eni-0a1b2c3d4e5f60718", "eni-0f9e8d7c6b5a40312", "eni-0c9d8e7f6a5b40321"}
	var b strings.Builder
	b.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	const t0 = 1709633700
	for i := 0; i < n; i++ {
		start := t0 + i*300/n
		end := start + 60
		eni := enis[rng.IntN(len(enis))]
		switch x := rng.IntN(100); {
		case x < 2:
			fmt.Fprintf(&b, "2 123456789012 %s - - - - - - - %d %d - NODATA\n", eni, start, end)
			continue
		case x < 3:
			fmt.Fprintf(&b, "2 123456789012 %s - - - - - - - %d %d - SKIPDATA\n", eni, start, end)
			continue
		}
		inside := fmt.Sprintf("10.0.%d.%d", 1+rng.IntN(3), 1+rng.IntN(60))
		outside := []string{"203.0.113.45", "198.51.100.23", "192.0.2.66", "52.94.133.131"}[rng.IntN(4)]
		src, dst := inside, outside
		sport, dport := 1024+rng.IntN(60000), []int{443, 80, 22, 3389, 53}[rng.IntN(5)]
		if rng.IntN(2) == 0 {
			src, dst, sport, dport = dst, src, dport, sport
		}
		proto := []int{6, 6, 17, 1}[rng.IntN(4)]
		if proto == 1 {
			sport, dport = 0, 0
		}
		action := "ACCEPT"
		if rng.IntN(10) < 3 {
			action = "REJECT"
		}
		pk := 1 + rng.IntN(100)
		fmt.Fprintf(&b, "2 123456789012 %s %s %s %d %d %d %d %d %d %d %s OK\n", eni, src, dst, sport, dport, proto, pk, pk*(40+rng.IntN(1400)), start, end, action)
		if i == n/2 {
			for p := 0; p < 80; p++ {
				fmt.Fprintf(&b, "2 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.7 10.0.1.25 40000 %d 6 1 44 %d %d REJECT OK\n", 1000+p*7, start, start+1)
			}
		}
	}
	return b.String()
}

var alertID = regexp.MustCompile(`"id":"\d+\.\d+",`)

// TestParquetSameAlerts: the same records (the pack's behaviour sample, and
// 3,000 generated ones) replayed as gzip'd text and as Parquet (default
// columns, a v5 custom set) give the same alerts, except for the fields
// that name the object. Alert ids are left out too: their
// offset half counts the bytes of the alerts before, which include the
// object's name.
func TestParquetSameAlerts(t *testing.T) {
	behaviour, err := os.ReadFile("../../testdata/alerts/vpcflow-pack-behaviour.log")
	require.NoError(t, err)
	const name = "123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T0900Z_5d6e7f80"
	textKey := "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/" + name + ".log.gz"
	parquetKeys := []string{
		"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/" + name + ".log.parquet",
		"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=05/hour=09/" + name + ".log.parquet",
	}
	generated := genFlows(3000, 1)
	for _, tc := range []struct {
		name   string
		text   string
		alerts int    // alerts of the text form
		rule   string // an alert of vpcalertd's pack among them
	}{
		{"default", string(behaviour), 38, "100431"},
		{"v5-custom", asV5(t, string(behaviour)), 38, "100431"},
		{"generated", generated, 0, "100431"},
		{"generated-v5-custom", asV5(t, generated), 0, "100431"},
	} {
		text := tc.text
		t.Run(tc.name, func(t *testing.T) {
			replay := func(key string, data []byte) []string {
				dir := t.TempDir()
				path := filepath.Join(dir, filepath.FromSlash(key))
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, data, 0o644))
				code, out, errs := run(t, "", "replay", "--quiet", "--bucket", "my-vpc-flowlogs", "--now", "2024-03-05T10:20:31.102Z",
					"--manager-name", "wazuh-manager", dir)
				require.Equal(t, 0, code, errs)
				require.Empty(t, errs)
				return strings.Split(strings.TrimSpace(out), "\n")
			}
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write([]byte(text))
			require.NoError(t, zw.Close())
			want := replay(textKey, gz.Bytes())
			if tc.alerts > 0 {
				require.Len(t, want, tc.alerts, "the records raise stock and pack alerts")
			} else {
				require.Greater(t, len(want), 3000, "every record raises a stock alert, some more")
			}
			require.Contains(t, strings.Join(want, "\n"), `"id":"`+tc.rule+`"`, "an alert of the pack")
			for _, key := range parquetKeys {
				var pq bytes.Buffer
				require.NoError(t, parquet.WriteText(&pq, strings.NewReader(text), parquet.WriteOptions{}))
				got := replay(key, pq.Bytes())
				require.Len(t, got, len(want))
				for i := range want {
					require.Contains(t, got[i], `"data":{"integration":"aws","aws":{"log_info":{"log_file":"`+key+`"`)
					g := alertID.ReplaceAllString(strings.ReplaceAll(got[i], key, textKey), "")
					require.Equal(t, alertID.ReplaceAllString(want[i], ""), g, "alert %d of %s", i+1, key)
				}
			}
		})
	}
}

// TestParquetBadFilesReplayGoesOn: damaged or misnamed Parquet files are
// reported with the file and where, and the other files are read.
func TestParquetBadFilesReplayGoesOn(t *testing.T) {
	behaviour, err := os.ReadFile("../../testdata/alerts/vpcflow-pack-behaviour.log")
	require.NoError(t, err)
	var pq bytes.Buffer
	require.NoError(t, parquet.WriteText(&pq, bytes.NewReader(behaviour), parquet.WriteOptions{}))
	dir := t.TempDir()
	base := filepath.Join(dir, "AWSLogs", "123456789012", "vpcflowlogs", "us-east-1", "2024", "03", "05")
	require.NoError(t, os.MkdirAll(base, 0o755))
	files := map[string][]byte{
		"a_truncated.log.parquet": pq.Bytes()[:pq.Len()-100],
		"b_text.log.parquet":      behaviour,
		"c_good.log.parquet":      pq.Bytes(),
	}
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(base, name), data, 0o644))
	}
	code, out, errs := run(t, "", "replay", "--now", "2024-03-05T10:20:31Z", dir)
	require.Equal(t, 0, code, errs)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 38, "the good file's alerts")
	require.Contains(t, errs, filepath.Join(base, "a_truncated.log.parquet")+": not a readable Parquet file: ")
	require.Contains(t, errs, filepath.Join(base, "b_text.log.parquet")+": not a Parquet file: it does not start with PAR1 (the whole file is skipped)")
}

// TestParquetReport: the traffic report reads Parquet flow logs as it
// reads their text form.
func TestParquetReport(t *testing.T) {
	behaviour, err := os.ReadFile("../../testdata/alerts/vpcflow-pack-behaviour.log")
	require.NoError(t, err)
	dir := t.TempDir()
	textPath, pqPath := filepath.Join(dir, "flows.log"), filepath.Join(dir, "flows.log.parquet")
	require.NoError(t, os.WriteFile(textPath, behaviour, 0o644))
	var pq bytes.Buffer
	require.NoError(t, parquet.WriteText(&pq, bytes.NewReader(behaviour), parquet.WriteOptions{}))
	require.NoError(t, os.WriteFile(pqPath, pq.Bytes(), 0o644))
	var summaries []any
	for _, in := range []string{textPath, pqPath} {
		out := filepath.Join(dir, filepath.Base(in)+".html")
		code, stdout, errs := run(t, "", "report", "--quiet", "--out", out, in)
		require.Equal(t, 0, code, errs)
		require.Contains(t, stdout, "34 records, 33 flows, 1373467912 bytes, 38 alerts")
		summaries = append(summaries, summaryOf(t, pageData(t, out)))
	}
	require.Equal(t, summaries[0], summaries[1])
}
