package parquet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
)

// chunkOffset returns where column col's chunk of row group rg starts, and
// its length.
func chunkOffset(t *testing.T, data []byte, rg, col int) (int64, int64) {
	t.Helper()
	f, err := pq.OpenFile(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	md := f.Metadata().RowGroups[rg].Columns[col].MetaData
	start := md.DataPageOffset
	if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
		start = md.DictionaryPageOffset
	}
	return start, md.TotalCompressedSize
}

// TestBadFiles: a damaged Parquet file is named with its row group and row;
// the rows before the damage are kept and the rest is counted as not read.
func TestBadFiles(t *testing.T) {
	set := loadSet(t)
	text := flowText(t, strings.Fields("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"), 300, 11)
	good := toParquet(t, text, WriteOptions{RowGroupRows: 100})
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "b", Key: "k.log.parquet", Path: "s3://b/k.log.parquet"}

	damagedPages := bytes.Clone(good)
	off, n := chunkOffset(t, damagedPages, 1, 3) // row group 2, srcaddr
	for i := off + n/2; i < off+n; i++ {
		damagedPages[i] ^= 0x5a
	}
	damagedData := bytes.Clone(good)
	off, _ = chunkOffset(t, damagedData, 1, 4) // row group 2, dstaddr: inside its first page's data
	var proto thrift.CompactProtocol
	br := proto.NewReaderFromBytes(damagedData[off:])
	var hdr format.PageHeader
	require.NoError(t, thrift.NewDecoder(br).Decode(&hdr))
	for i := off + int64(br.BytesRead()) + 10; i < off+int64(br.BytesRead())+14; i++ {
		damagedData[i] ^= 0xff
	}
	damagedHeader := bytes.Clone(good)
	off, _ = chunkOffset(t, damagedHeader, 2, 0) // row group 3, version: its first page header
	for i := off; i < off+8; i++ {
		damagedHeader[i] = 0xff
	}
	type doubleRow struct {
		Version int32   `parquet:"version,optional"`
		Srcport float64 `parquet:"srcport,optional"`
	}
	var doubles bytes.Buffer
	require.NoError(t, pq.Write(&doubles, []doubleRow{{2, 22}, {2, 443}}))

	for _, tc := range []struct {
		name   string
		data   []byte
		events int
		errs   []string // a prefix of each error
		suffix string   // the end of the last error
	}{{
		name: "truncated", data: good[:len(good)/2],
		errs:   []string{"s3://b/k.log.parquet: not a readable Parquet file: "},
		suffix: "(the whole file is skipped)",
	}, {
		name: "footer only", data: append([]byte("PAR1"), good[len(good)-200:]...),
		errs:   []string{"s3://b/k.log.parquet: not a readable Parquet file: "},
		suffix: "(the whole file is skipped)",
	}, {
		name: "damaged pages", data: damagedPages, events: 100,
		errs:   []string{"s3://b/k.log.parquet: row group 2, row 101: column srcaddr: "},
		suffix: "(200 rows not read)",
	}, {
		name: "damaged page data", data: damagedData, events: 100,
		errs:   []string{"s3://b/k.log.parquet: row group 2, row 101: column dstaddr: "},
		suffix: "(200 rows not read)",
	}, {
		name: "damaged page header", data: damagedHeader, events: 200,
		errs:   []string{"s3://b/k.log.parquet: row group 3, row 201: column version: "},
		suffix: "(100 rows not read)",
	}, {
		name: "wrong column type", data: doubles.Bytes(),
		errs: []string{"s3://b/k.log.parquet: row group 1, row 1: column srcport is DOUBLE, but field srcport holds integers " +
			"(an INT32, INT64 or string column) (2 rows not read)"},
	}, {
		name: "not Parquet", data: text,
		errs: []string{"s3://b/k.log.parquet: not a Parquet file: it does not start with PAR1 (the whole file is skipped)"},
	}, {
		name: "empty", data: nil,
		errs: []string{"s3://b/k.log.parquet:1: empty file"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeAll(t, set, origin, bytes.NewReader(tc.data))
			t.Logf("%q", got.errs)
			require.Len(t, got.events, tc.events)
			require.Len(t, got.errs, len(tc.errs), "%q", got.errs)
			for i, prefix := range tc.errs {
				require.True(t, strings.HasPrefix(got.errs[i], prefix), "%q does not start with %q", got.errs[i], prefix)
			}
			require.True(t, strings.HasSuffix(got.errs[len(got.errs)-1], tc.suffix), "%q", got.errs)
			// The rows before the damage are the file's first rows.
			if tc.events > 0 {
				textOrigin := origin
				textOrigin.Key = "k.log"
				want := decodeAll(t, set, textOrigin, bytes.NewReader(text))
				require.Len(t, want.events, 300)
				for i, ev := range got.events {
					require.Equal(t, want.events[i].Fields[5:], ev.Fields[5:])
				}
			}
		})
	}
}

// TestBatchesAreNext: Parquet files read in batches (engine.Process does)
// give the events and errors Next gives, damaged files included, when the
// batches are decoded after the whole file is read.
func TestBatchesAreNext(t *testing.T) {
	set := loadSet(t)
	text := flowText(t, strings.Fields("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"), 1200, 13)
	good := toParquet(t, text, WriteOptions{RowGroupRows: 500, PageBytes: 4096})
	damaged := bytes.Clone(good)
	off, n := chunkOffset(t, damaged, 1, 3)
	for i := off + n/2; i < off+n/2+40; i++ {
		damaged[i] ^= 0x5a
	}
	files := map[string][]byte{"good": good, "damaged": damaged, "truncated": good[:len(good)-30],
		"plain":    toParquet(t, text, WriteOptions{RowGroupRows: 500, PageBytes: 4096, Plain: true}),
		"v2 pages": toParquet(t, text, WriteOptions{RowGroupRows: 300, PageBytes: 2048, PageV2: true}),
		// Damage that costs no row: a warning, in its place.
		"values past the rows": withFooter(t, good, func(md *format.FileMetaData) { md.RowGroups[1].NumRows -= 10; md.NumRows -= 10 })}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			origin := event.Origin{Type: event.LogTypeVPCFlow, Key: "k.log.parquet"}
			want := decodeAll(t, set, origin, bytes.NewReader(data))
			st, err := set.Open(origin, bytes.NewReader(data), decoders.OpenOptions{OpenTable: Open})
			require.NoError(t, err)
			// Every batch is read before any is decoded (the engine reads
			// ahead while batches are decoded): what a batch holds must
			// not change when the reader goes on.
			var batches []*decoders.Batch
			for {
				b := new(decoders.Batch)
				if st.ReadBatch(b) != nil {
					break
				}
				batches = append(batches, b)
			}
			if !strings.Contains(name, "d") { // not damaged, not truncated
				require.Greater(t, len(batches), 1)
			}
			var got result
			for _, b := range batches {
				st.Decode(b)
				for i := 0; i < b.Len(); i++ {
					rec := b.Record(i)
					switch {
					case rec.Skip:
					case rec.Warning:
						got.warnings = append(got.warnings, rec.Err.Error())
					case rec.Err != nil:
						got.errs = append(got.errs, rec.Err.Error())
					default:
						got.events = append(got.events, rec.Event.Clone())
					}
				}
			}
			require.Equal(t, want.errs, got.errs)
			require.Equal(t, want.warnings, got.warnings)
			if name == "values past the rows" {
				require.Len(t, got.warnings, 1)
			}
			require.Len(t, got.events, len(want.events))
			for i := range want.events {
				require.Equal(t, want.events[i].Fields, got.events[i].Fields, "event %d", i+1)
				require.Equal(t, want.events[i].Origin, got.events[i].Origin)
			}
		})
	}
}

// withFooter returns data with its footer's metadata changed by edit.
func withFooter(t *testing.T, data []byte, edit func(*format.FileMetaData)) []byte {
	t.Helper()
	f, err := pq.OpenFile(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	md := *f.Metadata()
	edit(&md)
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	require.NoError(t, err)
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	out := append(bytes.Clone(data[:len(data)-8-n]), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

// TestDamagePastRows: what a row group's column chunks hold past its last
// row costs no row, and is still reported: a warning per row group, with
// the stream's path, the row group and the first column's problem; every
// row is read.
func TestDamagePastRows(t *testing.T) {
	set := loadSet(t)
	fields := strings.Fields("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status")
	text := flowText(t, fields, 300, 17)
	good := toParquet(t, text, WriteOptions{RowGroupRows: 100, PageBytes: 256})
	// Row group 2 declares k rows fewer than its pages hold, k being the
	// rows of its version column's last page.
	off, size := chunkOffset(t, good, 1, 0)
	check := checkPages(bytes.NewReader(good), off, size, 100, nil)
	require.NoError(t, check.err)
	pages := check.pages
	require.Greater(t, len(pages), 2, "several pages in the chunk")
	last, before := pages[len(pages)-1], pages[len(pages)-2]
	k := int64(last.values)
	require.True(t, k > 0 && k < 100, "%d rows in the last page", k)
	shorter := func(md *format.FileMetaData) { md.RowGroups[1].NumRows -= k; md.NumRows -= k }
	valuesPast := withFooter(t, good, shorter)

	// And the header of that page is damaged: the page holds only rows
	// past the declared ones.
	headerPast := bytes.Clone(good)
	for i := before.off + int64(before.stored); i < last.off; i++ {
		headerPast[i] = 0xff
	}
	headerPast = withFooter(t, headerPast, shorter)

	origin := event.Origin{Type: event.LogTypeVPCFlow, Key: "k.log.parquet", Path: "s3://b/k.log.parquet"}
	textOrigin := origin
	textOrigin.Key = "k.log"
	want := decodeAll(t, set, textOrigin, bytes.NewReader(text))
	for _, tc := range []struct {
		name, data string
		warning    string
	}{
		{"values past the rows", string(valuesPast), fmt.Sprintf("s3://b/k.log.parquet: row group 2: damage past its last row (its %d rows were all read): "+
			"column version: page at byte %d holds values past the row group's last row: the file is damaged; 13 other columns too", 100-k, last.off)},
		{"page header past the rows", string(headerPast), fmt.Sprintf("s3://b/k.log.parquet: row group 2: damage past its last row (its %d rows were all read): "+
			"column version: page header at byte %d: ", 100-k, before.off+int64(before.stored))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeAll(t, set, origin, strings.NewReader(tc.data))
			require.Empty(t, got.errs)
			require.Len(t, got.events, 300-int(k))
			for i, ev := range got.events {
				w := want.events[i]
				if i >= 200-int(k) { // row group 3
					w = want.events[i+int(k)]
				}
				require.Equal(t, w.Fields[5:], ev.Fields[5:], "event %d", i)
			}
			require.Len(t, got.warnings, 1, "%q", got.warnings)
			require.True(t, strings.HasPrefix(got.warnings[0], tc.warning), "%q", got.warnings[0])
		})
	}
	t.Run("good", func(t *testing.T) {
		got := decodeAll(t, set, origin, bytes.NewReader(good))
		require.Empty(t, got.errs)
		require.Empty(t, got.warnings)
		require.Len(t, got.events, 300)
	})
}
