package decoders

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// The parquet framing with a table that is not Parquet: what the decoders
// do with rows, whatever reads the file (decoders/parquet tests the real
// files, end to end).

// fakeTable serves rows made from a flow-log text body: integer columns
// give null for "-", string columns give "-" as a string.
type fakeTable struct {
	cols   []TableColumn
	rows   [][]TableValue
	group  int // rows per row group
	failAt int // the 0-based row whose Next fails; -1: none
	next   int
}

func (t *fakeTable) Columns() []TableColumn { return t.cols }
func (t *fakeTable) NumRows() int64         { return int64(len(t.rows)) }
func (t *fakeTable) RowGroup() int          { return max(t.next-1, 0) / t.group }
func (t *fakeTable) Close() error           { return nil }
func (t *fakeTable) Damage() []error        { return nil }

// Next returns the rows up to the end of their row group, or up to the
// failing row.
func (t *fakeTable) Next(cols [][]TableValue) (int, error) {
	if t.next == t.failAt {
		t.next++
		return 0, errors.New("column srcaddr: decoding page 2: unexpected EOF")
	}
	if t.next >= len(t.rows) {
		return 0, io.EOF
	}
	end := min(len(t.rows), (t.next/t.group+1)*t.group)
	if t.failAt > t.next {
		end = min(end, t.failAt)
	}
	for c := range cols {
		cols[c] = cols[c][:0]
		for _, row := range t.rows[t.next:end] {
			cols[c] = append(cols[c], row[c])
		}
	}
	n := end - t.next
	t.next = end
	return n, nil
}

var fakeIntColumns = map[string]bool{"version": true, "srcport": true, "dstport": true, "protocol": true,
	"packets": true, "bytes": true, "start": true, "end": true, "tcp_flags": true, "traffic_path": true}

// tableOf turns a text body into a fake table's columns and rows.
func tableOf(text string) *fakeTable {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	t := &fakeTable{group: 2, failAt: -1}
	for _, name := range strings.Fields(lines[0]) {
		name = strings.ReplaceAll(name, "-", "_")
		c := TableColumn{Name: name, Class: ColumnText, Type: "BYTE_ARRAY (STRING)"}
		if fakeIntColumns[name] {
			c.Class, c.Type = ColumnInteger, "INT64"
		}
		t.cols = append(t.cols, c)
	}
	for _, line := range lines[1:] {
		var row []TableValue
		for i, tok := range strings.Fields(line) {
			v := TableValue{Text: []byte(tok), Safe: event.IsSafe([]byte(tok))}
			if tok == "-" && t.cols[i].Class == ColumnInteger {
				v = TableValue{Null: true}
			}
			row = append(row, v)
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// opener returns an OpenTable that serves t.
func (t *fakeTable) opener() TableOpener {
	return func(r io.ReaderAt, size int64) (Table, error) {
		magic := make([]byte, 4)
		if _, err := r.ReadAt(magic, 0); err != nil || string(magic) != "PAR1" {
			return nil, fmt.Errorf("bad magic %q", magic)
		}
		c := *t // each stream reads the table from its start
		c.next = 0
		return &c, nil
	}
}

const fakeParquet = "PAR1 stands for the bytes of a Parquet file PAR1"

var tableCases = map[string]string{
	"default": `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK
2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK
2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA`,
	"v5-custom": `region vpc-id az-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr flow-direction traffic-path pkt-src-aws-service pkt-dst-aws-service action end
us-east-1 vpc-4d3ddc7e use1-az4 10.0.1.5 52.216.32.3 10.0.1.5 52.216.32.3 egress 8 - S3 ACCEPT 1621447920
us-east-1 vpc-4d3ddc7e use1-az4 52.216.32.3 10.0.1.5 52.216.32.3 10.0.1.5 ingress - S3 - ACCEPT 1621447920`,
}

// TestTableSameEvents: a table's rows give the events the same records give
// as text, field for field, with the same layout promise.
func TestTableSameEvents(t *testing.T) {
	set := loadRuleset(t)
	for name, text := range tableCases {
		t.Run(name, func(t *testing.T) {
			origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "b", Key: "k.log.gz", AccountID: "123456789010"}
			want := decode(t, set, origin, []byte(text+"\n"), OpenOptions{})
			require.Empty(t, want.errs)
			origin.Key = "k.log.parquet"
			tbl := tableOf(text)
			got := decode(t, set, origin, []byte(fakeParquet), OpenOptions{OpenTable: tbl.opener()})
			require.Empty(t, got.errs)
			require.Equal(t, "vpcflow", got.decoder)
			require.Len(t, got.events, len(want.events))
			layouts := map[uint64]bool{}
			for i := range want.events {
				w, g := fieldsOf(want.events[i]), fieldsOf(got.events[i])
				for j := range w {
					if w[j].Key == "aws.log_info.log_file" {
						w[j].Value = "k.log.parquet"
					}
				}
				require.Equal(t, w, g, "row %d", i+1)
				require.Equal(t, want.events[i].Time, got.events[i].Time)
				require.Equal(t, i+1, got.events[i].Origin.Line)
				require.NotZero(t, got.events[i].Layout)
				layouts[got.events[i].Layout] = true
			}
			require.Len(t, layouts, 1, "one layout for the rows of one file")
			require.Equal(t, int64(len(want.events)), got.records)
		})
	}
}

// TestTableSelection: Parquet is chosen by its magic or by the name; what
// is named .parquet and is not Parquet is said so.
func TestTableSelection(t *testing.T) {
	set := loadRuleset(t)
	tbl := tableOf(tableCases["default"])
	opts := OpenOptions{OpenTable: tbl.opener()}
	t.Run("magic, unknown type and name", func(t *testing.T) {
		tbl.next = 0
		d := decode(t, set, event.Origin{Path: "x/flows.bin"}, []byte(fakeParquet), opts)
		require.Equal(t, "vpcflow", d.decoder)
		require.Len(t, d.events, 3)
	})
	t.Run("name without magic", func(t *testing.T) {
		d := decode(t, set, event.Origin{Type: event.LogTypeVPCFlow, Key: "a/f.log.parquet"}, []byte(tableCases["default"]), opts)
		require.Empty(t, d.events)
		require.Equal(t, []string{"a/f.log.parquet: not a Parquet file: it does not start with PAR1 (the whole file is skipped)"}, d.errStrings())
	})
	t.Run("no table reader", func(t *testing.T) {
		d := decode(t, set, event.Origin{Key: "f.parquet"}, []byte(fakeParquet), OpenOptions{})
		require.Len(t, d.errs, 1)
		require.ErrorIs(t, d.errs[0], ErrNoTableReader)
	})
	t.Run("footer unreadable", func(t *testing.T) {
		broken := func(io.ReaderAt, int64) (Table, error) {
			return nil, errors.New("invalid magic footer of parquet file")
		}
		d := decode(t, set, event.Origin{Key: "f.parquet"}, []byte(fakeParquet), OpenOptions{OpenTable: broken})
		require.Equal(t, []string{"f.parquet: not a readable Parquet file: invalid magic footer of parquet file (the whole file is skipped)"}, d.errStrings())
	})
	t.Run("not a file: copied", func(t *testing.T) {
		tbl.next = 0
		// A reader without ReadAt, and a gzip'd file: both are copied to a
		// temporary file first.
		d := decodeReader(t, set, event.Origin{Key: "f.parquet"}, io.MultiReader(strings.NewReader(fakeParquet)), opts)
		require.Len(t, d.events, 3)
		tbl.next = 0
		d = decode(t, set, event.Origin{Key: "f.parquet.gz"}, gzipBytes(t, []byte(fakeParquet)), OpenOptions{OpenTable: tbl.opener(), TempDir: t.TempDir()})
		require.Len(t, d.events, 3)
		require.Equal(t, int64(len(fakeParquet)), d.bytes)
	})
	t.Run("cloudtrail keeps its decoder", func(t *testing.T) {
		d := decode(t, set, event.Origin{Type: event.LogTypeCloudTrail, Key: "c.json"}, []byte(`{"Records":[]}`), opts)
		require.Equal(t, "cloudtrail", d.decoder)
	})
}

// TestTableBadInput: each problem names the file, the row group and the
// row; rows before a broken one are kept.
func TestTableBadInput(t *testing.T) {
	set := loadRuleset(t)
	origin := event.Origin{Type: event.LogTypeVPCFlow, Key: "f.log.parquet", Path: "s3://b/f.log.parquet"}
	t.Run("damaged page", func(t *testing.T) {
		tbl := tableOf(tableCases["default"])
		tbl.failAt = 2
		d := decode(t, set, origin, []byte(fakeParquet), OpenOptions{OpenTable: tbl.opener()})
		require.Len(t, d.events, 2)
		require.Equal(t, []string{"s3://b/f.log.parquet: row group 2, row 3: column srcaddr: decoding page 2: unexpected EOF (1 rows not read)"}, d.errStrings())
		var se *StreamError
		require.ErrorAs(t, d.errs[0], &se)
		require.Equal(t, int64(1), se.Skipped)
	})
	t.Run("wrong column type", func(t *testing.T) {
		tbl := tableOf(tableCases["default"])
		tbl.cols[5] = TableColumn{Name: "srcport", Class: ColumnOther, Type: "DOUBLE"}
		d := decode(t, set, origin, []byte(fakeParquet), OpenOptions{OpenTable: tbl.opener()})
		require.Empty(t, d.events)
		require.Equal(t, []string{"s3://b/f.log.parquet: row group 1, row 1: column srcport is DOUBLE, but field srcport holds integers (an INT32, INT64 or string column) (3 rows not read)"}, d.errStrings())
	})
	t.Run("address in an integer column", func(t *testing.T) {
		tbl := tableOf(tableCases["default"])
		tbl.cols[3] = TableColumn{Name: "srcaddr", Class: ColumnInteger, Type: "INT64"}
		d := decode(t, set, origin, []byte(fakeParquet), OpenOptions{OpenTable: tbl.opener()})
		require.Equal(t, []string{"s3://b/f.log.parquet: row group 1, row 1: column srcaddr is INT64, but field srcaddr holds IP addresses (a string column) (3 rows not read)"}, d.errStrings())
	})
	t.Run("bad values in string columns", func(t *testing.T) {
		tbl := tableOf(tableCases["default"])
		tbl.cols[5].Class = ColumnText
		tbl.rows[0][5] = TableValue{Text: []byte("None")}
		tbl.rows[1][4] = TableValue{Text: []byte("\xff\xfe")}
		d := decode(t, set, origin, []byte(fakeParquet), OpenOptions{OpenTable: tbl.opener()})
		require.Equal(t, []string{
			`s3://b/f.log.parquet: row group 1, row 1: field srcport: "None" is not an integer`,
			`s3://b/f.log.parquet: row group 1, row 2: field dstaddr: "\xff\xfe" is not an IP address`,
		}, d.errStrings())
		require.Len(t, d.events, 1, "the next row goes on")
		require.Equal(t, 3, d.events[0].Origin.Line)
	})
	t.Run("negative integer", func(t *testing.T) {
		tbl := tableOf(tableCases["default"])
		tbl.rows[1][6] = TableValue{Text: []byte("-22"), Safe: true}
		d := decode(t, set, origin, []byte(fakeParquet), OpenOptions{OpenTable: tbl.opener()})
		require.Equal(t, []string{`s3://b/f.log.parquet: row group 1, row 2: field dstport: "-22" is not an integer`}, d.errStrings())
	})
	t.Run("invalid UTF-8", func(t *testing.T) {
		tbl := tableOf(tableCases["default"])
		tbl.rows[0][12] = TableValue{Text: []byte("ACC\xffEPT")}
		d := decode(t, set, origin, []byte(fakeParquet), OpenOptions{OpenTable: tbl.opener()})
		require.Equal(t, []string{`s3://b/f.log.parquet: row group 1, row 1: field action: invalid UTF-8`}, d.errStrings())
		require.Len(t, d.events, 2)
	})
}

// TestTableNulls: null and empty values are null_value; an unknown column
// is kept as a string, with one warning.
func TestTableNulls(t *testing.T) {
	set := loadRuleset(t)
	tbl := tableOf("version account_id interface_id srcaddr action colour\n2 1 eni-1 - ACCEPT red\n")
	tbl.rows[0][2] = TableValue{Null: true}
	tbl.rows[0][3] = TableValue{Text: []byte{}}
	d := decode(t, set, event.Origin{Key: "f.parquet"}, []byte(fakeParquet), OpenOptions{OpenTable: tbl.opener()})
	require.Empty(t, d.errs)
	require.Len(t, d.events, 1)
	ev := d.events[0]
	require.Equal(t, "-", get(ev, "aws.interface_id"))
	require.Equal(t, "-", get(ev, "aws.srcaddr"))
	require.Equal(t, "red", get(ev, "aws.colour"))
	require.Equal(t, "<absent>", get(ev, "aws.dstaddr"), "columns absent from the file are absent from the event")
	require.Equal(t, []string{`f.parquet: unknown columns "colour" kept as strings`}, d.warnings)
	for _, f := range ev.Fields {
		require.Equal(t, event.IsSafe(f.Value), f.Safe, f.Key)
	}
}

func TestTableDuplicateColumn(t *testing.T) {
	set := loadRuleset(t)
	tbl := tableOf("srcaddr srcaddr\n1.2.3.4 1.2.3.5\n")
	d := decode(t, set, event.Origin{Key: "f.parquet"}, []byte(fakeParquet), OpenOptions{OpenTable: tbl.opener()})
	require.Equal(t, []string{`f.parquet: row group 1, row 1: column "srcaddr" appears twice (1 rows not read)`}, d.errStrings())
}

// TestTableBatchesAreNext: a table read in batches (and decoded on several
// goroutines) gives what Next gives, errors and warnings included.
func TestTableBatchesAreNext(t *testing.T) {
	set := loadRuleset(t)
	cases := map[string]func() *fakeTable{
		"default":   func() *fakeTable { return tableOf(tableCases["default"]) },
		"v5-custom": func() *fakeTable { return tableOf(tableCases["v5-custom"]) },
		"damaged": func() *fakeTable {
			tbl := tableOf(tableCases["default"])
			tbl.failAt = 2
			return tbl
		},
		"bad values and unknown column": func() *fakeTable {
			tbl := tableOf(tableCases["default"] + "\n2 1 eni-2 10.0.0.1 10.0.0.2 5 6 6 1 1 1418530010 1418530070 ACCEPT OK")
			tbl.cols[5].Class = ColumnText
			tbl.cols[13].Name = "colour"
			tbl.rows[0][5] = TableValue{Text: []byte("None")}
			tbl.rows[1][4] = TableValue{Text: []byte("ACC\xffEPT")}
			tbl.rows[3][3] = TableValue{Null: true}
			return tbl
		},
		"wrong column type": func() *fakeTable {
			tbl := tableOf(tableCases["default"])
			tbl.cols[5] = TableColumn{Name: "srcport", Class: ColumnOther, Type: "DOUBLE"}
			return tbl
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			tbl := mk()
			checkBatched(t, set, event.Origin{Key: "f.log.parquet", Path: name}, []byte(fakeParquet),
				OpenOptions{Symbols: testSymbols(), OpenTable: tbl.opener()})
		})
	}
	t.Run("not parquet", func(t *testing.T) {
		checkBatched(t, set, event.Origin{Key: "f.log.parquet"}, []byte(tableCases["default"]), OpenOptions{OpenTable: tableOf(tableCases["default"]).opener()})
	})
}
