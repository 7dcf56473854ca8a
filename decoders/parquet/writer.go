package parquet

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// awsTypes are the Parquet types AWS gives the integer flow-log fields
// (the "Parquet data type" column of the Amazon VPC User Guide's table of
// flow-log fields); every other field is an optional STRING.
var awsTypes = map[string]pq.Node{
	"version":                   pq.Int(32),
	"srcport":                   pq.Int(32),
	"dstport":                   pq.Int(32),
	"protocol":                  pq.Int(32),
	"packets":                   pq.Int(64),
	"bytes":                     pq.Int(64),
	"start":                     pq.Int(64),
	"end":                       pq.Int(64),
	"tcp_flags":                 pq.Int(32),
	"traffic_path":              pq.Int(32),
	"packets_lost_no_route":     pq.Int(64),
	"packets_lost_blackhole":    pq.Int(64),
	"packets_lost_mtu_exceeded": pq.Int(64),
	"packets_lost_ttl_expired":  pq.Int(64),
}

// WriteOptions shape the file WriteText writes. Zero values give a file
// like AWS's (parquet-mr's defaults): Gzip-compressed, version 1 data pages
// of 1 MB, dictionary-encoded until a column's dictionary reaches 1 MB,
// then plain; one row group.
type WriteOptions struct {
	// RowGroupRows ends a row group after this many rows; 0: one row group.
	RowGroupRows int64
	// PageBytes is the size at which a data page is cut; 0: 1 MB.
	PageBytes int
	// PageV2 writes version 2 data pages.
	PageV2 bool
	// Plain writes values without dictionary encoding.
	Plain bool
	// NullStrings writes a string value "-" as null instead of "-". An
	// integer "-" is always null.
	NullStrings bool
	// Codec compresses the pages; nil: Gzip, as AWS does.
	Codec compress.Codec
}

// WriteText reads a plain-text flow-log body (a header line naming the
// fields, then one record per line, as AWS writes text objects) and writes
// its records to w as a Parquet file in AWS's schema: one optional column
// per field, named with underscores (log_status), INT32 or INT64 for the
// integer fields and STRING for the others; a "-" in an integer field is
// null. It is how the tests make Parquet flow logs with the same records
// as a text file.
func WriteText(w io.Writer, text io.Reader, opts WriteOptions) error {
	br := bufio.NewReader(text)
	header, err := br.ReadString('\n')
	if err != nil && header == "" {
		return fmt.Errorf("flow-log text: no header line: %w", err)
	}
	names := strings.Fields(header)
	if len(names) == 0 {
		return errors.New("flow-log text: empty header line")
	}
	fields := make([]pq.Field, len(names))
	ints := make([]int, len(names)) // 0 string, 32 or 64
	for i, n := range names {
		n = strings.ReplaceAll(n, "-", "_")
		names[i] = n
		node, ok := awsTypes[n]
		if ok {
			ints[i] = 32
			if node.Type().Kind() == pq.Int64 {
				ints[i] = 64
			}
		} else {
			node = pq.String()
		}
		if !opts.Plain {
			node = pq.Encoded(node, &pq.RLEDictionary)
		}
		fields[i] = namedField{Node: pq.Optional(node), name: n}
	}
	codec := opts.Codec
	if codec == nil {
		codec = &pq.Gzip
	}
	version := 1
	if opts.PageV2 {
		version = 2
	}
	wopts := []pq.WriterOption{pq.NewSchema("schema", orderedGroup{fields: fields}), pq.Compression(codec),
		pq.CreatedBy("vpcalertd", "test", ""), pq.PageBufferSize(cmp.Or(opts.PageBytes, 1<<20)),
		pq.DictionaryMaxBytes(1 << 20), pq.DataPageVersion(version)}
	pw := pq.NewWriter(w, wopts...)
	var inGroup int64
	row := make(pq.Row, len(names))
	for lineNo := 2; ; lineNo++ {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if err != io.EOF {
				return err
			}
			break
		}
		toks := strings.Fields(line)
		if len(toks) == 0 {
			continue
		}
		if len(toks) != len(names) {
			return fmt.Errorf("flow-log text:%d: expected %d fields, got %d", lineNo, len(names), len(toks))
		}
		for i, tok := range toks {
			switch {
			case tok == "-" && (ints[i] > 0 || opts.NullStrings):
				row[i] = pq.NullValue().Level(0, 0, i)
			case ints[i] == 32:
				v, err := strconv.ParseInt(tok, 10, 32)
				if err != nil {
					return fmt.Errorf("flow-log text:%d: field %s: %w", lineNo, names[i], err)
				}
				row[i] = pq.Int32Value(int32(v)).Level(0, 1, i)
			case ints[i] == 64:
				v, err := strconv.ParseInt(tok, 10, 64)
				if err != nil {
					return fmt.Errorf("flow-log text:%d: field %s: %w", lineNo, names[i], err)
				}
				row[i] = pq.Int64Value(v).Level(0, 1, i)
			default:
				row[i] = pq.ByteArrayValue([]byte(tok)).Level(0, 1, i)
			}
		}
		if _, err := pw.WriteRows([]pq.Row{row}); err != nil {
			return err
		}
		if inGroup++; opts.RowGroupRows > 0 && inGroup == opts.RowGroupRows {
			if err := pw.Flush(); err != nil {
				return err
			}
			inGroup = 0
		}
	}
	return pw.Close()
}

// orderedGroup is a schema group whose columns keep the order they are
// given in (pq.Group sorts them by name); AWS writes the columns in the
// order of the flow log's format.
type orderedGroup struct {
	pq.Group
	fields []pq.Field
}

func (g orderedGroup) Fields() []pq.Field { return g.fields }

// namedField is a column of an orderedGroup.
type namedField struct {
	pq.Node
	name string
}

func (f namedField) Name() string { return f.name }

// Value is not used: rows are written as pq.Row values, not Go structs.
func (f namedField) Value(reflect.Value) reflect.Value { return reflect.Value{} }
