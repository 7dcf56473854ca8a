package parquet

import (
	"bytes"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
)

// awsFile is a flow log AWS delivered as Parquet (testdata/SOURCES.md at
// the repository's root says where it comes from).
const awsFile = "testdata/111111111111_vpcflowlogs_eu-west-3_fl-032a163fae170ae52_20220831T1255Z_2ad4bef5.parquet"

// awsFileText is the same records as flow-log text, read off the file
// with another reader (pyarrow).
const awsFileText = `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
2 111111111111 eni-03ef80ddb18bc0997 64.62.197.99 172.31.17.39 58938 20547 6 1 40 1661950735 1661950746 REJECT OK
2 111111111111 eni-03ef80ddb18bc0997 172.31.17.39 78.197.123.35 4712 53198 6 13 2662 1661950735 1661950746 ACCEPT OK
2 111111111111 eni-03ef80ddb18bc0997 78.197.123.35 172.31.17.39 53198 4712 6 18 4560 1661950735 1661950746 ACCEPT OK
2 111111111111 eni-03ef80ddb18bc0997 167.94.138.130 172.31.17.39 46076 8849 6 1 44 1661950735 1661950746 REJECT OK
2 111111111111 eni-03ef80ddb18bc0997 78.197.123.35 172.31.17.39 53205 4712 6 18 4560 1661950735 1661950746 ACCEPT OK
2 111111111111 eni-03ef80ddb18bc0997 124.234.182.240 172.31.17.39 53094 2323 6 1 40 1661950735 1661950746 REJECT OK
2 111111111111 eni-03ef80ddb18bc0997 172.31.17.39 78.197.123.35 4712 53205 6 12 2610 1661950735 1661950746 ACCEPT OK
`

// requireSameEvents checks that the Parquet events are the text events,
// field for field, except log_info.log_file, which names each file.
func requireSameEvents(t *testing.T, text, parquet *result, parquetKey string) {
	t.Helper()
	require.Equal(t, text.errs, parquet.errs)
	require.Len(t, parquet.events, len(text.events))
	for i, want := range text.events {
		got := parquet.events[i]
		require.Len(t, got.Fields, len(want.Fields), "event %d", i+1)
		for j, wf := range want.Fields {
			gf := got.Fields[j]
			if wf.Key == "aws.log_info.log_file" {
				require.Equal(t, parquetKey, string(gf.Value))
				continue
			}
			require.Equal(t, [3]string{wf.Key, string(wf.Value), string(rune('0' + wf.Kind))},
				[3]string{gf.Key, string(gf.Value), string(rune('0' + gf.Kind))}, "event %d field %d", i+1, j)
			if gf.Safe {
				require.True(t, event.IsSafe(gf.Value), "%s marked safe", gf.Key)
			}
		}
		require.Equal(t, want.Time, got.Time)
	}
}

// TestAWSFile: a flow log written by AWS gives the events of the same
// records in text form.
func TestAWSFile(t *testing.T) {
	set := loadSet(t)
	key := "AWSLogs/aws-account-id=111111111111/aws-service=vpcflowlogs/aws-region=eu-west-3/year=2022/month=08/day=31/" +
		"111111111111_vpcflowlogs_eu-west-3_fl-032a163fae170ae52_20220831T1255Z_2ad4bef5.log.parquet"
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "b", Key: "k.log", AccountID: "111111111111", Region: "eu-west-3"}
	text := decodeAll(t, set, origin, strings.NewReader(awsFileText))
	require.Len(t, text.events, 7)
	f, err := os.Open(awsFile)
	require.NoError(t, err)
	defer f.Close()
	origin.Key = key
	got := decodeAll(t, set, origin, f)
	requireSameEvents(t, text, got, key)
	require.Equal(t, "2022-08-31T12:59:06Z", valueOf(got.events[0], "aws.end"))
	require.Equal(t, "64.62.197.99", valueOf(got.events[0], "aws.srcaddr"))
}

func valueOf(ev *event.Event, key string) string {
	f, ok := ev.Get(key)
	if !ok {
		return "<absent>"
	}
	return string(f.Value)
}

// TestPandasFile: a file written by pandas, not AWS, with "None" strings in
// integer columns: its good rows are read, its bad values named as in text.
func TestPandasFile(t *testing.T) {
	set := loadSet(t)
	f, err := os.Open("testdata/vpcflow-v2-columns.flowlogs-reader-test.parquet")
	require.NoError(t, err)
	defer f.Close()
	got := decodeAll(t, set, event.Origin{Path: "flows.parquet"}, f)
	require.Len(t, got.events, 1)
	require.Equal(t, "198.51.100.1", valueOf(got.events[0], "aws.srcaddr"))
	require.Equal(t, "123456789010", valueOf(got.events[0], "aws.account_id"), "an integer account column is read as its text")
	require.Equal(t, []string{
		`flows.parquet: row group 1, row 2: field srcport: "None" is not an integer`,
		`flows.parquet: row group 1, row 3: field packets: "None" is not an integer`,
	}, got.errs)
}

// writeVariants are the shapes of Parquet files the same records are
// written in.
var writeVariants = map[string]WriteOptions{
	"aws":          {},
	"plain":        {Plain: true},
	"null-strings": {NullStrings: true},
	"row-groups":   {RowGroupRows: 70, PageBytes: 512},
	"plain-pages":  {Plain: true, RowGroupRows: 100, PageBytes: 1024, NullStrings: true},
	"snappy":       {Codec: &pq.Snappy},
	"zstd":         {Codec: &pq.Zstd, RowGroupRows: 200, PageBytes: 1024},
	"lz4-raw":      {Codec: &pq.Lz4Raw, PageV2: true, PageBytes: 1024},
	"brotli":       {Codec: &pq.Brotli, PageBytes: 1024},
	"uncompressed": {Codec: &pq.Uncompressed, PageBytes: 1024, NullStrings: true},
	"v2-pages":     {PageV2: true, RowGroupRows: 150, PageBytes: 2048},
}

// TestSameEvents: records give the same events in text and in Parquet,
// for the default format, custom formats of every version, every field
// AWS documents, and files of one or many row groups and pages.
func TestSameEvents(t *testing.T) {
	set := loadSet(t)
	all, _ := fieldTable(t)
	formats := map[string][]string{
		"default": strings.Fields("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"),
		"v5-custom": strings.Fields("version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport " +
			"pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id flow-direction " +
			"traffic-path pkt-src-aws-service pkt-dst-aws-service"),
		"every-field": all,
		"reordered":   {"end", "action", "srcaddr", "dstport", "reject-reason", "ecs-task-id", "tgw-id", "packets-lost-no-route"},
	}
	for fname, fields := range formats {
		text := flowText(t, fields, 333, 7)
		origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "b", Key: "f.log.gz", AccountID: "123456789012"}
		want := decodeAll(t, set, origin, bytes.NewReader(text))
		require.Empty(t, want.errs)
		require.Len(t, want.events, 333)
		for vname, opts := range writeVariants {
			t.Run(fname+"/"+vname, func(t *testing.T) {
				origin := origin
				origin.Key = "f.log.parquet"
				got := decodeAll(t, set, origin, bytes.NewReader(toParquet(t, text, opts)))
				requireSameEvents(t, want, got, origin.Key)
				require.Equal(t, int64(333), got.records)
			})
		}
	}
}

// TestTableReader: the rows of the table, as text and nulls, page by page
// and row group by row group, dictionary or plain.
func TestTableReader(t *testing.T) {
	fields := strings.Fields("version srcaddr srcport packets action")
	text := flowText(t, fields, 1000, 3)
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")[1:]
	for vname, opts := range writeVariants {
		t.Run(vname, func(t *testing.T) {
			data := toParquet(t, text, opts)
			tbl, err := Open(bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			defer tbl.Close()
			require.Equal(t, int64(1000), tbl.NumRows())
			require.Equal(t, []decoders.TableColumn{
				{Name: "version", Class: decoders.ColumnInteger, Type: "INT32 (INT(32,true))"},
				{Name: "srcaddr", Class: decoders.ColumnText, Type: "BYTE_ARRAY (STRING)"},
				{Name: "srcport", Class: decoders.ColumnInteger, Type: "INT32 (INT(32,true))"},
				{Name: "packets", Class: decoders.ColumnInteger, Type: "INT64 (INT(64,true))"},
				{Name: "action", Class: decoders.ColumnText, Type: "BYTE_ARRAY (STRING)"},
			}, tbl.Columns())
			cols := make([][]decoders.TableValue, 5)
			groups := map[int]bool{}
			n, r := 0, 0
			for i, line := range lines {
				if r == n {
					n, err = tbl.Next(cols)
					require.NoError(t, err, "row %d", i+1)
					require.Positive(t, n)
					for _, c := range cols {
						require.Len(t, c, n, "every column gives the same rows")
					}
					r = 0
					groups[tbl.RowGroup()] = true
				}
				for j, tok := range strings.Fields(line) {
					v := cols[j][r]
					switch {
					case tok == "-" && (j == 0 || j == 2 || j == 3 || opts.NullStrings):
						require.True(t, v.Null, "row %d column %d", i+1, j)
						require.Nil(t, v.Text)
					default:
						require.Equal(t, tok, string(v.Text), "row %d column %d", i+1, j)
						require.Equal(t, event.IsSafe(v.Text), v.Safe)
					}
				}
				r++
			}
			require.Equal(t, n, r)
			_, err = tbl.Next(cols)
			require.Equal(t, io.EOF, err)
			_, err = tbl.Next(cols)
			require.Equal(t, io.EOF, err, "io.EOF stays")
			if opts.RowGroupRows > 0 {
				require.Len(t, groups, int((1000+opts.RowGroupRows-1)/opts.RowGroupRows))
			}
		})
	}
}

// TestUnreadableColumns: columns of other types are described, and are an
// error only when read.
func TestUnreadableColumns(t *testing.T) {
	type row struct {
		Srcport float64           `parquet:"srcport,optional"`
		Action  string            `parquet:"action"`
		Tags    []string          `parquet:"tags,list"`
		Nested  struct{ A int32 } `parquet:"nested"`
		Flag    bool              `parquet:"flag"`
	}
	var buf bytes.Buffer
	require.NoError(t, pq.Write(&buf, []row{{Srcport: 22, Action: "ACCEPT"}}))
	tbl, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	var classes []decoders.ColumnClass
	var types []string
	for _, c := range tbl.Columns() {
		classes = append(classes, c.Class)
		types = append(types, c.Type)
	}
	require.Equal(t, []decoders.ColumnClass{decoders.ColumnOther, decoders.ColumnText, decoders.ColumnOther, decoders.ColumnOther, decoders.ColumnOther}, classes)
	require.Equal(t, "DOUBLE", types[0])
	require.Equal(t, "a group", types[2])
	_, err = tbl.Next(make([][]decoders.TableValue, 5))
	require.EqualError(t, err, "column srcport: the column cannot be read")
}

// TestOtherStorage: unsigned integers (their text is unsigned) and
// fixed-length byte arrays, nullable, plain and dictionary-encoded, over
// many pages: every value's text, null and Safe.
func TestOtherStorage(t *testing.T) {
	type row struct {
		U32  *uint32  `parquet:"u32"`
		U32D *uint32  `parquet:"u32d,dict"`
		U64  *uint64  `parquet:"u64"`
		U64D *uint64  `parquet:"u64d,dict"`
		Fix  *[4]byte `parquet:"fix"`
		FixD *[4]byte `parquet:"fixd,dict"`
	}
	fixes := [][4]byte{{'a', 'b', 'c', 'd'}, {'a', '"', 'c', 'd'}, {0, 1, 2, 3}, {'w', 'x', 'y', 'z'}}
	var rows []row
	var want [][]string // per row, per column: the text, "<null>" for null
	for i := range 1000 {
		u32, u64 := uint32(math.MaxUint32-uint32(i%7)), uint64(math.MaxUint64-uint64(i%5))
		if i%3 == 0 {
			u32, u64 = uint32(i), uint64(i)<<33
		}
		fix := fixes[i%len(fixes)]
		r := row{U32: &u32, U32D: &u32, U64: &u64, U64D: &u64, Fix: &fix, FixD: &fix}
		w := []string{strconv.FormatUint(uint64(u32), 10), strconv.FormatUint(uint64(u32), 10),
			strconv.FormatUint(u64, 10), strconv.FormatUint(u64, 10), string(fix[:]), string(fix[:])}
		if i%11 == 0 {
			r = row{}
			w = []string{"<null>", "<null>", "<null>", "<null>", "<null>", "<null>"}
		}
		rows = append(rows, r)
		want = append(want, w)
	}
	var buf bytes.Buffer
	require.NoError(t, pq.Write(&buf, rows, pq.PageBufferSize(256)))
	tbl, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	defer tbl.Close()
	f, err := pq.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	for _, c := range f.Metadata().RowGroups[0].Columns {
		require.Greater(t, c.MetaData.NumValues, int64(0))
		if strings.HasSuffix(c.MetaData.PathInSchema[0], "d") {
			require.NotZero(t, c.MetaData.DictionaryPageOffset, "%s has a dictionary", c.MetaData.PathInSchema[0])
		}
	}
	for _, c := range tbl.Columns() {
		require.NotEqual(t, decoders.ColumnOther, c.Class, c.Name)
	}
	cols := make([][]decoders.TableValue, 6)
	pages := 0
	for i := 0; i < len(rows); {
		n, err := tbl.Next(cols)
		require.NoError(t, err, "row %d", i+1)
		pages++
		for r := range n {
			for c := range cols {
				v := cols[c][r]
				if want[i+r][c] == "<null>" {
					require.True(t, v.Null, "row %d column %d", i+r+1, c)
					continue
				}
				require.Equal(t, want[i+r][c], string(v.Text), "row %d column %d", i+r+1, c)
				require.Equal(t, event.IsSafe(v.Text), v.Safe, "row %d column %d", i+r+1, c)
			}
		}
		i += n
	}
	require.Greater(t, pages, 4, "the rows come page by page")
	_, err = tbl.Next(cols)
	require.Equal(t, io.EOF, err)
}

// TestTextLen: the room made for an integer dictionary's texts is their
// length, for signed and unsigned, 32 and 64 bits, at the limits.
func TestTextLen(t *testing.T) {
	i32 := []int32{0, 9, 10, -1, -10, math.MaxInt32, math.MinInt32, 12345}
	i64 := []int64{0, 99, 100, -99, math.MaxInt64, math.MinInt64, -1}
	for _, unsigned := range []bool{false, true} {
		var want32, want64 []byte
		for _, v := range i32 {
			want32 = appendInt(want32, v, unsigned)
		}
		for _, v := range i64 {
			want64 = appendInt(want64, v, unsigned)
		}
		require.Equal(t, len(want32), textLen(i32, unsigned), "int32, unsigned %t: %s", unsigned, want32)
		require.Equal(t, len(want64), textLen(i64, unsigned), "int64, unsigned %t: %s", unsigned, want64)
	}
}

// TestZstdPageBound: a Zstd page that holds more than its header declares
// is damaged, and is not decompressed past the declared size first.
func TestZstdPageBound(t *testing.T) {
	enc, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	src := enc.EncodeAll(make([]byte, 1<<20), nil) // a frame of 1 MiB of zeros
	require.NoError(t, enc.Close())
	c := &cursor{codec: format.Zstd, buffers: &buffers{}}
	_, err = c.decompress(src, 1000)
	require.ErrorIs(t, err, ErrDamaged)
	require.Less(t, cap(c.plain), 1<<20, "the page's bytes past its declared size are not decompressed")
	out, err := c.decompress(src, 1<<20)
	require.NoError(t, err)
	require.Len(t, out, 1<<20)
}

// TestSecondDictionaryPage: a column chunk has at most one dictionary
// page; a second one is damage, named with where it is, not a page skipped
// (the rows after it would read the first dictionary's values).
func TestSecondDictionaryPage(t *testing.T) {
	c := &cursor{hasDict: true, check: pageCheck{pages: []pageInfo{{dict: true, off: 1234}}}}
	err := c.load()
	require.ErrorIs(t, err, ErrDamaged)
	require.ErrorContains(t, err, "dictionary page at byte 1234: a second dictionary page in the column chunk")
}

// panicReader panics on every read.
type panicReader struct{}

func (panicReader) ReadAt([]byte, int64) (int, error) { panic("read past the end") }

// TestPanicNamesColumn: a panic while a column's page is read (a bug, or a
// library meeting damage) ends the table with an error naming the column.
func TestPanicNamesColumn(t *testing.T) {
	c := &cursor{name: "srcaddr", kind: pq.ByteArray, r: panicReader{}, buffers: &buffers{},
		check: pageCheck{pages: []pageInfo{{off: 4, stored: 10, size: 10, values: 5}}}}
	tbl := &table{cursors: []*cursor{c}, rows: 5}
	_, err := tbl.Next(make([][]decoders.TableValue, 1))
	require.ErrorIs(t, err, ErrDamaged)
	require.ErrorContains(t, err, "column srcaddr: page: read past the end")
}

// TestV2LevelsPastPage: a v2 page whose levels take more bytes than the
// page declares uncompressed is damage, named, not a panic.
func TestV2LevelsPastPage(t *testing.T) {
	for _, codec := range []format.CompressionCodec{format.Gzip, format.Lz4Raw, format.Zstd, format.Brotli} {
		c := &cursor{name: "srcaddr", kind: pq.ByteArray, maxDef: 1, codec: codec, r: bytes.NewReader(make([]byte, 64)), buffers: &buffers{},
			check: pageCheck{pages: []pageInfo{{off: 4, stored: 10, size: 2, values: 5, v2: true, defBytes: 4, compressed: true}}}}
		err := c.load()
		require.ErrorIs(t, err, ErrDamaged, "%s", codec)
		require.ErrorContains(t, err, "page at byte 4: its levels take 0+4 of its 2 bytes uncompressed", "%s", codec)
	}
}

// TestPageDeclaresTooMuch: a Gzip or LZ4 page that declares more
// bytes than its codec can make of its stored bytes is damaged, and no
// buffer of the declared size is made.
func TestPageDeclaresTooMuch(t *testing.T) {
	for _, codec := range []format.CompressionCodec{format.Gzip, format.Lz4Raw} {
		c := &cursor{codec: codec, buffers: &buffers{}}
		_, err := c.decompress(make([]byte, 100), 200<<20)
		require.ErrorIs(t, err, ErrDamaged, "%s", codec)
		require.ErrorContains(t, err, "it declares 209715200 bytes uncompressed, more than 100 bytes of", "%s", codec)
		require.Zero(t, cap(c.plain), "%s", codec)
	}
}
