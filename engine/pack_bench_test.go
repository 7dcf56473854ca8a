package engine

import "testing"

// BenchmarkReplayStock is BenchmarkReplay with every pack off: the stock
// (Wazuh) rules alone. The pair measures what the VPC pack costs; the pack
// must keep at least 70% of this throughput.
func BenchmarkReplayStock(b *testing.B) {
	benchReplay(b, func(o *Options) { o.DisabledPacks = []string{"all"} })
}
