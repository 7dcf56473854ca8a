package parquet

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
)

// FuzzParquetFile feeds damaged Parquet files to the flow-log decoder: only
// record and stream errors may come back, never a panic, and every event
// has its fields.
func FuzzParquetFile(f *testing.F) {
	set := loadSet(f)
	text := flowText(f, strings.Fields("version account-id srcaddr dstaddr srcport packets start end action log-status"), 40, 5)
	for _, opts := range []WriteOptions{{}, {Plain: true}, {RowGroupRows: 15, PageBytes: 256, NullStrings: true}} {
		data := toParquet(f, text, opts)
		f.Add(data)
		f.Add(data[:len(data)*2/3])
	}
	aws, err := os.ReadFile(awsFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(aws)
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := set.Open(event.Origin{Type: event.LogTypeVPCFlow, Key: "f.log.parquet"}, bytes.NewReader(data),
			decoders.OpenOptions{OpenTable: Open})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		var ev event.Event
		for n := 0; ; n++ {
			err := st.Next(&ev)
			var re *decoders.RecordError
			var se *decoders.StreamError
			switch {
			case err == io.EOF:
				return
			case err == nil:
				if len(ev.Fields) == 0 {
					t.Fatal("event without fields")
				}
				for _, f := range ev.Fields {
					if f.Safe && !event.IsSafe(f.Value) {
						t.Fatalf("field %s marked safe but holds %q", f.Key, f.Value)
					}
				}
			case errors.As(err, &re), errors.As(err, &se):
			default:
				t.Fatalf("error of type %T: %v", err, err)
			}
			if n > 1<<20 {
				t.Fatal("stream does not end")
			}
		}
	})
}
