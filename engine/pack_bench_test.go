package engine

import (
	"bytes"
	"context"
	"testing"

	"github.com/vpcalertd/vpcalertd/event"
)

// BenchmarkReplayStock is BenchmarkReplay with every pack off: the stock
// (Wazuh) rules alone. The pair measures what the VPC pack costs; the pack
// must keep at least 70% of this throughput.
func BenchmarkReplayStock(b *testing.B) {
	data := flowFile(b, benchLines)
	e, _ := newTestEngine(b, func(o *Options) { o.DisabledPacks = []string{"all"} })
	sink := &countingSink{}
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "my-vpc-flowlogs", AccountID: "123456789012", Region: "us-east-1",
		Key: "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e.log.gz"}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	lines := 0
	for b.Loop() {
		st, err := e.Process(context.Background(), origin, bytes.NewReader(data), sink)
		if err != nil {
			b.Fatal(err)
		}
		lines += int(st.Records)
	}
	reportLines(b, lines)
	b.ReportMetric(float64(sink.bytes)/float64(sink.alerts), "bytes/alert")
}
