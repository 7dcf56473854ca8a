package flowgen

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

const (
	account = "123456789012"
	region  = "us-east-1"
	header  = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
)

// Write writes the 24 hourly files of day under dir: records background
// flows spread over the day, plus the planted transfer and scan.
func Write(dir string, day time.Time, records int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 42))
	// Records per minute follow a daily rhythm: quiet at night, busy in
	// the afternoon.
	weights := make([]float64, 1440)
	var total float64
	for m := range weights {
		x := float64(m) / 1440
		weights[m] = 0.25 + math.Pow(math.Sin(math.Pi*(x-0.2)), 2)
		total += weights[m]
	}
	prefix := filepath.Join(dir, "AWSLogs", account, "vpcflowlogs", region, day.Format("2006/01/02"))
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return err
	}
	for h := range 24 {
		name := fmt.Sprintf("%s_vpcflowlogs_%s_fl-0a1b2c3d4e5f60718_%sT%02d00Z_%08x.log.gz", account, region, day.Format("20060102"), h, uint32(seed)*1000+uint32(h))
		if err := writeHour(filepath.Join(prefix, name), day, h, records, weights, total, r); err != nil {
			return err
		}
	}
	return nil
}

func writeHour(path string, day time.Time, h, records int, weights []float64, total float64, r *rand.Rand) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(f)
	w := bufio.NewWriterSize(zw, 256<<10)
	fmt.Fprintln(w, header)
	line := func(eni, src, dst string, sport, dport, proto, packets int, bytes int64, start int64, action string) {
		fmt.Fprintf(w, "2 %s %s %s %s %d %d %d %d %d %d %d %s OK\n", account, eni, src, dst, sport, dport, proto, packets, bytes, start, start+60, action)
	}
	base := day.Unix()
	for m := h * 60; m < h*60+60; m++ {
		n := int(float64(records)*weights[m]/total + r.Float64())
		for range n {
			start := base + int64(m)*60 + r.Int64N(60)
			host := fmt.Sprintf("10.0.%d.%d", 1+r.IntN(4), 10+r.IntN(50))
			eni := fmt.Sprintf("eni-0%015x", 0xa1b2c3d4e50+r.IntN(40))
			bytes := int64(math.Exp(8 + 1.6*r.NormFloat64()))
			packets := int(1 + bytes/1200)
			action := "ACCEPT"
			switch k := r.IntN(100); {
			case k < 55: // clients of the web tier
				client := fmt.Sprintf("198.51.100.%d", 1+r.IntN(120))
				if r.IntN(60) == 0 {
					action = "REJECT"
				}
				line(eni, client, host, 1024+r.IntN(60000), 443, 6, packets, bytes, start, action)
			case k < 85: // calls out to the internet
				line(eni, host, fmt.Sprintf("203.0.113.%d", 1+r.IntN(90)), 1024+r.IntN(60000), 443, 6, packets, bytes, start, action)
			case k < 97: // the database
				line(eni, host, "10.0.2.40", 1024+r.IntN(60000), 5432, 6, packets, bytes, start, action)
			default: // DNS
				line(eni, host, "10.0.0.2", 1024+r.IntN(60000), 53, 17, 1, 80+int64(r.IntN(100)), start, action)
			}
		}
	}
	if h == 3 { // 03:40-03:42: a port scan, rejected
		for p := 1; p <= 1024; p++ {
			line("eni-00a1b2c3d4e5f0010", "203.0.113.99", "10.0.1.25", 40000+p, p, 6, 1, 44, base+3*3600+40*60+int64(p*120/1024), "REJECT")
		}
	}
	if h == 13 { // 13:07-13:12: 2.4 GB to a threat-listed address
		for i := range 60 {
			line("eni-0a1b2c3d4e5f00020", "10.0.2.40", "192.0.2.66", 50000+i, 443, 6, 28000, 40_000_000, base+13*3600+7*60+int64(i*5), "ACCEPT")
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}
