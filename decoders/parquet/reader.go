package parquet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"unsafe"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/encoding/bitpacked"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/format"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
)

// MaxRowGroupBytes bounds the uncompressed size a row group may declare:
// a footer that claims more is damaged (AWS writes row groups of a few
// MB) and would make a reader allocate without bound.
const MaxRowGroupBytes = 1 << 30

// ErrDamaged marks the errors of a file whose content is not what its
// footer says (a page that does not decode, fewer values than rows).
var ErrDamaged = errors.New("the file is damaged")

// Open reads the footer of the Parquet file of size bytes behind r and
// returns its rows. Only flat columns of integers and strings can be read
// (decoders.TableColumn.Class); the others are described, and reading a
// row fails on them. The library reads the footer and the schema; the
// pages are read and decoded here (cursor). Memory is one page per column
// at a time, plus each column chunk's dictionary, whatever the file's
// size.
func Open(r io.ReaderAt, size int64) (t decoders.Table, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("footer: %v: %w", p, ErrDamaged)
		}
	}()
	if err := checkFooter(r, size); err != nil {
		return nil, err
	}
	f, err := pq.OpenFile(r, size, pq.SkipPageIndex(true), pq.SkipBloomFilters(true))
	if err != nil {
		return nil, err
	}
	tb := &table{f: f, r: r, size: size, group: -1}
	for _, c := range f.Root().Columns() {
		tc, cur := describe(c)
		tb.cols = append(tb.cols, tc)
		tb.cursors = append(tb.cursors, cur)
	}
	for i, rg := range f.Metadata().RowGroups {
		if rg.TotalByteSize > MaxRowGroupBytes || rg.TotalByteSize < 0 {
			return nil, fmt.Errorf("footer: row group %d declares %d bytes (more than %d): %w", i+1, rg.TotalByteSize, MaxRowGroupBytes, ErrDamaged)
		}
	}
	return tb, nil
}

// describe returns what a top-level column is and its cursor.
func describe(c *pq.Column) (decoders.TableColumn, *cursor) {
	tc := decoders.TableColumn{Name: c.Name()}
	cur := &cursor{name: c.Name(), leaf: -1}
	switch {
	case !c.Leaf():
		tc.Type = "a group"
		return tc, cur
	case c.Repeated():
		tc.Type = "repeated " + c.Type().Kind().String()
		return tc, cur
	}
	kind := c.Type().Kind()
	tc.Type = kind.String()
	if lt := c.Type().LogicalType(); lt != nil && lt.Value != nil {
		tc.Type += " (" + lt.String() + ")"
		if it, ok := lt.Value.(*format.IntType); ok && !it.IsSigned {
			cur.unsigned = true
		}
	}
	switch kind {
	case pq.Int32, pq.Int64:
		tc.Class = decoders.ColumnInteger
	case pq.ByteArray, pq.FixedLenByteArray:
		tc.Class = decoders.ColumnText
	default:
		return tc, cur
	}
	cur.leaf, cur.kind, cur.maxDef = c.Index(), kind, byte(c.MaxDefinitionLevel())
	cur.typeLen = c.Type().Length()
	cur.buffers = bufferPool.Get().(*buffers)
	return tc, cur
}

// table reads a file's rows, row group by row group.
type table struct {
	f       *pq.File
	r       io.ReaderAt
	size    int64
	cols    []decoders.TableColumn
	cursors []*cursor
	group   int    // the current row group, -1 before the first
	row     int64  // rows read in the current row group
	rows    int64  // rows of the current row group
	at      string // the column being read, for the error of a panic
	damage  []error
}

var _ decoders.Table = (*table)(nil)

func (t *table) Columns() []decoders.TableColumn { return t.cols }

func (t *table) NumRows() int64 { return t.f.NumRows() }

func (t *table) RowGroup() int { return max(t.group, 0) }

// Damage returns, and forgets, what checkRest found.
func (t *table) Damage() []error {
	d := t.damage
	t.damage = nil
	return d
}

// Next reads the next rows: as many as every column has turned into text
// already (up to batchRows), within one row group.
func (t *table) Next(cols [][]decoders.TableValue) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, fmt.Errorf("page: %v: %w", p, ErrDamaged)
			if t.at != "" {
				err = fmt.Errorf("column %s: %w", t.at, err)
			}
		}
	}()
	t.at = ""
	for t.row >= t.rows {
		t.checkRest()
		if err := t.nextGroup(); err != nil {
			return 0, err
		}
	}
	n = int(min(t.rows-t.row, batchRows))
	for _, c := range t.cursors {
		t.at = c.name
		if c.leaf < 0 {
			return 0, fmt.Errorf("column %s: the column cannot be read", c.name)
		}
		if c.b >= len(c.batch) {
			if err := c.fill(); err != nil {
				return 0, fmt.Errorf("column %s: %w", c.name, err)
			}
		}
		n = min(n, len(c.batch)-c.b)
	}
	for i, c := range t.cursors {
		cols[i] = c.batch[c.b : c.b+n : c.b+n]
		c.b += n
	}
	t.row += int64(n)
	return n, nil
}

// checkRest looks, once every row of the current row group was read, at
// what its column chunks hold past those rows: a page header that does not
// decode, values past the last row, a damaged value after it. Any of these
// is damage that cost no row; it is kept for Damage, one error per row
// group (the first column's problem and how many others have one).
func (t *table) checkRest() {
	if t.group < 0 {
		return
	}
	var first error
	others := 0
	for _, c := range t.cursors {
		if c.leaf < 0 {
			continue
		}
		if err := c.rest(); err != nil {
			if first == nil {
				first = fmt.Errorf("column %s: %w", c.name, err)
			} else {
				others++
			}
		}
	}
	if first == nil {
		return
	}
	also := ""
	if others > 0 {
		also = fmt.Sprintf("; %d other columns too", others)
	}
	t.damage = append(t.damage, fmt.Errorf("row group %d: damage past its last row (its %d rows were all read): %w%s",
		t.group+1, t.rows, first, also))
}

// rest returns the damage of the cursor's column chunk past the rows of
// its row group, once they were all read; nil when there is none.
func (c *cursor) rest() error {
	switch {
	case c.pending != nil:
		return c.pending
	case c.b < len(c.batch) || c.i < c.n:
		return fmt.Errorf("a page holds values past the row group's last row: %w", ErrDamaged)
	}
	for _, p := range c.check.pages[c.next:] {
		if !p.dict && p.values > 0 {
			return fmt.Errorf("page at byte %d holds values past the row group's last row: %w", p.off, ErrDamaged)
		}
	}
	return c.check.err
}

// nextGroup moves to the next row group, or returns io.EOF.
func (t *table) nextGroup() error {
	groups := t.f.Metadata().RowGroups
	if t.group+1 >= len(groups) {
		t.closePages()
		return io.EOF
	}
	t.group++
	t.closePages()
	rg := &groups[t.group]
	t.row, t.rows = 0, rg.NumRows
	for _, c := range t.cursors {
		if c.leaf < 0 {
			continue
		}
		t.at = c.name
		if c.leaf >= len(rg.Columns) {
			return fmt.Errorf("column %s: no column chunk in the row group: %w", c.name, ErrDamaged)
		}
		// The chunk starts at its dictionary page when it has one, else at
		// its first data page.
		md := &rg.Columns[c.leaf].MetaData
		off := md.DataPageOffset
		if md.DictionaryPageOffset != 0 {
			off = md.DictionaryPageOffset
		}
		if off < 4 || md.TotalCompressedSize < 0 || off > t.size-8-md.TotalCompressedSize {
			return fmt.Errorf("column %s: the column chunk's %d bytes at byte %d are not inside the file: %w",
				c.name, md.TotalCompressedSize, off, ErrDamaged)
		}
		c.check = checkPages(t.r, off, md.TotalCompressedSize, t.rows, c.check.pages[:0])
		c.r, c.next = t.r, 0
		c.codec = md.Codec
	}
	return nil
}

func (t *table) closePages() {
	for _, c := range t.cursors {
		c.reset()
	}
}

// Close releases the buffers.
func (t *table) Close() error {
	t.closePages()
	for _, c := range t.cursors {
		if c.buffers != nil {
			bufferPool.Put(c.buffers)
			c.buffers = nil
			c.leaf = -1
		}
	}
	return nil
}

// cursor reads one column's values, one page at a time. It reads and
// decodes the pages itself, with the library's decoders, into buffers it
// reuses from page to page and file to file: the library's own page reader
// makes new pages, and a new dictionary, for every page and chunk.
type cursor struct {
	name     string
	leaf     int // the leaf column index; -1 for a column that cannot be read
	kind     pq.Kind
	unsigned bool
	maxDef   byte
	typeLen  int // the length of fixed-length byte arrays

	r     io.ReaderAt
	codec format.CompressionCodec
	check pageCheck // the chunk's pages
	next  int       // the next page of check.pages
	n     int       // rows in the page
	i     int       // the next row of the page
	j     int       // the next non-null value of the page
	defs  []byte    // definition levels, nil when every row has a value

	// the page's values, by how they are stored
	dictIdx []int32 // dictionary indexes into dict
	i32     []int32
	i64     []int64
	data    []byte
	offs    []uint32 // byte arrays: offs[k]..offs[k+1] in data
	nvals   int      // values stored (the rows that are not null)

	hasDict bool // the chunk's dictionary was read
	dictLen int  // entries of the dictionary
	allSafe bool // every entry is event.IsSafe
	*buffers
	b       int   // the next value of batch
	pending error // the damage fill stopped before
}

// buffers are a cursor's buffers, reused from page to page and file to
// file.
type buffers struct {
	stored   []byte // the page as stored
	plain    []byte // the page decompressed
	gz       *gzip.Reader
	br       *brotli.Reader
	src      bytes.Reader // what gz and br read
	levels   []byte
	idx      []int32
	ints32   []int32
	ints64   []int64
	values   []byte
	offsets  []uint32
	dictInts []int32 // an int32 dictionary (int64: dictI64s)
	dictI64s []int64
	// dictData is the dictionary's texts (an integer dictionary's decimal
	// texts), reused from chunk to chunk: a batch copies the values it
	// takes. dictOffs is where they start and end in dictData
	// (fixed-length values too). Read only when the cursor's hasDict.
	dictData []byte
	dictOffs []uint32
	safeOf   []bool                // whether each entry of the dictionary is event.IsSafe
	batch    []decoders.TableValue // the values being read, from the page's row i-len(batch)
	num      []byte                // the text of the integers of batch
}

var bufferPool = sync.Pool{New: func() any {
	return &buffers{batch: make([]decoders.TableValue, 0, batchRows), num: make([]byte, 0, batchRows*20)}
}}

func (c *cursor) reset() {
	c.n, c.i, c.j, c.next = 0, 0, 0, 0
	c.b, c.pending, c.hasDict = 0, nil, false
	c.check.err = nil
	c.check.pages = c.check.pages[:0]
	c.dictLen, c.allSafe = 0, false
	c.dictIdx, c.i32, c.i64, c.data, c.offs, c.defs = nil, nil, nil, nil, nil, nil
	if c.buffers != nil {
		c.batch = c.batch[:0]
	}
}

// batchRows is how many values of a page a cursor turns into text at a
// time: a tight loop per column instead of a dispatch per value.
const batchRows = 256

// fill turns the next values of the page (loading the next page when this
// one is read) into text. It stops before a damaged value, which is the
// error of the next fill: the rows before it are read.
func (c *cursor) fill() error {
	c.b = 0
	if err := c.pending; err != nil {
		return err
	}
	for c.i >= c.n {
		if err := c.load(); err != nil {
			return err
		}
	}
	k := min(batchRows, c.n-c.i)
	var defs []byte
	if c.defs != nil {
		defs = c.defs[c.i : c.i+k]
	}
	// One loop per way the values are stored, each writing the k rows'
	// values in place; a loop that meets damage returns the rows before it.
	batch := slices.Grow(c.batch[:0], k)[:k]
	switch {
	case c.dictIdx != nil:
		batch = c.fillDict(batch, defs)
	case c.kind == pq.Int32:
		batch = fillInts(c, batch, defs, c.i32)
	case c.kind == pq.Int64:
		batch = fillInts(c, batch, defs, c.i64)
	case c.kind == pq.ByteArray:
		batch = c.fillByteArray(batch, defs)
	default:
		batch = c.fillFixed(batch, defs)
	}
	c.batch = batch
	c.i += len(batch)
	if len(batch) == 0 {
		return c.pending
	}
	return nil
}

// short records that the page has fewer values than rows: the damage the
// next fill returns.
func (c *cursor) short() {
	c.pending = fmt.Errorf("page has %d values for more rows: %w", c.nvals, ErrDamaged)
}

var nullValue = decoders.TableValue{Null: true}

// fillDict reads the rows of a page of dictionary indexes: an entry's
// value is its text in the dictionary's (the integers' texts, made when
// the dictionary is read), Safe as loadDict found it.
func (c *cursor) fillDict(batch []decoders.TableValue, defs []byte) []decoders.TableValue {
	idx := c.dictIdx[c.j:]
	entries, allSafe := uint32(c.dictLen), c.allSafe
	var safeOf []bool
	if !allSafe {
		safeOf = c.safeOf[:entries]
	}
	data, offs := c.dictData, c.dictOffs
	j := 0
	defer func() { c.j += j }()
	for r := range batch {
		if defs != nil && defs[r] != c.maxDef {
			batch[r] = nullValue
			continue
		}
		if j >= len(idx) {
			c.short()
			return batch[:r]
		}
		x := uint32(idx[j])
		if x >= entries {
			c.badIndex(x)
			return batch[:r]
		}
		start, end := offs[x], offs[x+1]
		if start > end || int(end) > len(data) {
			c.pending = fmt.Errorf("dictionary entry %d: %w", x, ErrDamaged)
			return batch[:r]
		}
		batch[r] = decoders.TableValue{Text: data[start:end:end], Safe: allSafe || safeOf[x]}
		j++
	}
	return batch
}

func (c *cursor) badIndex(x uint32) {
	c.pending = fmt.Errorf("dictionary index %d out of %d entries: %w", int32(x), c.dictLen, ErrDamaged)
}

// fillInts reads the rows of a page of plain integers: their texts go to
// c.num, grown first so that it holds them all.
func fillInts[T int32 | int64](c *cursor, batch []decoders.TableValue, defs []byte, page []T) []decoders.TableValue {
	vals := page[c.j:]
	num := slices.Grow(c.num[:0], len(batch)*20)
	j := 0
	for r := range batch {
		if defs != nil && defs[r] != c.maxDef {
			batch[r] = nullValue
			continue
		}
		if j >= len(vals) {
			c.short()
			batch = batch[:r]
			break
		}
		start := len(num)
		num = appendInt(num, vals[j], c.unsigned)
		batch[r] = decoders.TableValue{Text: num[start:len(num):len(num)], Safe: true}
		j++
	}
	c.num = num
	c.j += j
	return batch
}

// fillByteArray reads the rows of a page of plain byte arrays.
func (c *cursor) fillByteArray(batch []decoders.TableValue, defs []byte) []decoders.TableValue {
	data, offs := c.data, c.offs
	j := c.j
	defer func() { c.j = j }()
	for r := range batch {
		if defs != nil && defs[r] != c.maxDef {
			batch[r] = nullValue
			continue
		}
		if j >= c.nvals {
			c.short()
			return batch[:r]
		}
		start, end := offs[j], offs[j+1]
		if start > end || int(end) > len(data) {
			c.pending = fmt.Errorf("value %d of the page: %w", j, ErrDamaged)
			return batch[:r]
		}
		b := data[start:end:end]
		batch[r] = decoders.TableValue{Text: b, Safe: event.IsSafe(b)}
		j++
	}
	return batch
}

// fillFixed reads the rows of a page of plain fixed-length byte arrays.
func (c *cursor) fillFixed(batch []decoders.TableValue, defs []byte) []decoders.TableValue {
	for r := range batch {
		if defs != nil && defs[r] != c.maxDef {
			batch[r] = nullValue
			continue
		}
		if c.j >= c.nvals {
			c.short()
			return batch[:r]
		}
		j, size := c.j, c.typeLen
		b := c.data[j*size : (j+1)*size : (j+1)*size]
		batch[r] = decoders.TableValue{Text: b, Safe: event.IsSafe(b)}
		c.j++
	}
	return batch
}

// intTexts returns the decimal texts of the first n of vals (fewer if vals
// has fewer) in texts, grown first to their size, their offsets appended
// to offs (entry k is texts[offs[k]:offs[k+1]]), and their number.
func intTexts[T int32 | int64](vals []T, n int, unsigned bool, texts []byte, offs []uint32) ([]byte, []uint32, int) {
	vals = vals[:max(min(n, len(vals)), 0)]
	texts = slices.Grow(texts[:0], textLen(vals, unsigned))
	offs = append(slices.Grow(offs, len(vals)+1), 0)
	for _, v := range vals {
		texts = appendInt(texts, v, unsigned)
		offs = append(offs, uint32(len(texts)))
	}
	return texts, offs, len(vals)
}

// textLen returns the length of the decimal texts of vals (appendInt).
func textLen[T int32 | int64](vals []T, unsigned bool) int {
	total := 0
	for _, v := range vals {
		var u uint64
		switch {
		case unsigned && unsafe.Sizeof(v) == 4:
			u = uint64(uint32(v))
		case unsigned || v >= 0:
			u = uint64(v)
		default:
			u = -uint64(v) // MinInt64 too: its magnitude as unsigned
			total++        // the sign
		}
		total++
		for u >= 10 {
			u /= 10
			total++
		}
	}
	return total
}

// appendInt appends the decimal text of v, read as unsigned when the
// column's logical type says so.
func appendInt[T int32 | int64](dst []byte, v T, unsigned bool) []byte {
	if !unsigned {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	if unsafe.Sizeof(v) == 4 {
		return strconv.AppendUint(dst, uint64(uint32(v)), 10)
	}
	return strconv.AppendUint(dst, uint64(v), 10)
}

// load reads the next data page of the column, and the chunk's dictionary
// page on the way.
func (c *cursor) load() error {
	for {
		if c.next >= len(c.check.pages) {
			if c.check.err != nil {
				return c.check.err
			}
			return fmt.Errorf("the column chunk ends before the row group: %w", ErrDamaged)
		}
		p := &c.check.pages[c.next]
		c.next++
		if p.dict {
			if c.hasDict {
				return fmt.Errorf("dictionary page at byte %d: a second dictionary page in the column chunk: %w", p.off, ErrDamaged)
			}
			if err := c.loadDict(p); err != nil {
				return fmt.Errorf("dictionary page at byte %d: %w", p.off, err)
			}
			continue
		}
		if err := c.loadData(p); err != nil {
			return fmt.Errorf("page at byte %d: %w", p.off, err)
		}
		return nil
	}
}

// read reads page p as stored.
func (c *cursor) read(p *pageInfo) ([]byte, error) {
	c.stored = slices.Grow(c.stored[:0], int(p.stored))[:p.stored]
	if n, err := c.r.ReadAt(c.stored, p.off); n < len(c.stored) {
		return nil, fmt.Errorf("reading it: %w", errors.Join(err, io.ErrUnexpectedEOF))
	}
	return c.stored, nil
}

// loadData reads data page p: its definition levels and values.
func (c *cursor) loadData(p *pageInfo) error {
	src, err := c.read(p)
	if err != nil {
		return err
	}
	rows := int(p.values)
	var levels []byte
	if p.v2 {
		if int64(p.repBytes)+int64(p.defBytes) > int64(len(src)) || p.repBytes < 0 || p.defBytes < 0 {
			return fmt.Errorf("its levels take %d+%d of its %d bytes: %w", p.repBytes, p.defBytes, len(src), ErrDamaged)
		}
		if int64(p.repBytes)+int64(p.defBytes) > int64(p.size) {
			return fmt.Errorf("its levels take %d+%d of its %d bytes uncompressed: %w", p.repBytes, p.defBytes, p.size, ErrDamaged)
		}
		levels = src[p.repBytes : p.repBytes+p.defBytes]
		src = src[p.repBytes+p.defBytes:]
		if p.compressed {
			if src, err = c.decompress(src, p.size-p.repBytes-p.defBytes); err != nil {
				return err
			}
		}
	} else {
		if src, err = c.decompress(src, p.size); err != nil {
			return err
		}
		if c.maxDef > 0 {
			if len(src) < 4 {
				return fmt.Errorf("no definition levels: %w", ErrDamaged)
			}
			n := binary.LittleEndian.Uint32(src)
			if int64(n) > int64(len(src)-4) {
				return fmt.Errorf("definition levels of %d bytes in %d: %w", n, len(src)-4, ErrDamaged)
			}
			levels, src = src[4:4+n], src[4+n:]
		}
	}
	c.n, c.i, c.j = rows, 0, 0
	c.defs = nil
	nulls := 0
	if c.maxDef > 0 {
		var enc encoding.Encoding = &rle.Encoding{BitWidth: bits.Len8(c.maxDef)}
		if !p.v2 && p.defEnc == format.BitPacked {
			enc = &bitpacked.Encoding{BitWidth: bits.Len8(c.maxDef)}
		}
		// Buffers sized for the page first: the decoders grow them by
		// appending.
		c.levels, err = enc.DecodeLevels(slices.Grow(c.levels[:0], rows+8), levels)
		if err != nil {
			return fmt.Errorf("definition levels: %v: %w", err, ErrDamaged)
		}
		if len(c.levels) < rows {
			return fmt.Errorf("page has %d definition levels for %d rows: %w", len(c.levels), rows, ErrDamaged)
		}
		c.defs = c.levels[:rows]
		for _, d := range c.defs {
			if d != c.maxDef {
				nulls++
			}
		}
	}
	c.dictIdx, c.i32, c.i64, c.data, c.offs = nil, nil, nil, nil, nil
	//lint:ignore SA1019 older writers (parquet-mr before format 2.0) still mark dictionary indexes PLAIN_DICTIONARY: read them as RLE_DICTIONARY
	if p.enc == format.PlainDictionary || p.enc == format.RLEDictionary {
		if !c.hasDict {
			return fmt.Errorf("dictionary indexes but no dictionary page: %w", ErrDamaged)
		}
		c.idx, err = dictIndexes.DecodeInt32(slices.Grow(c.idx[:0], rows+8), src)
		c.dictIdx, c.nvals = c.idx, len(c.idx)
		// A bit-packed run ends on a multiple of 8 indexes: the values
		// past the rows are padding.
		c.nvals = min(c.nvals, rows-nulls)
		c.dictIdx = c.dictIdx[:c.nvals]
	} else {
		err = c.decodeValues(pq.LookupEncoding(p.enc), src, rows-nulls)
	}
	if err != nil {
		return fmt.Errorf("values: %v: %w", err, ErrDamaged)
	}
	return nil
}

var dictIndexes rle.DictionaryEncoding

// decodeValues decodes the plain (or other non-dictionary) values of a
// page into the cursor's buffers, sized first for the n values the page
// has (the decoders grow them by appending).
func (c *cursor) decodeValues(enc encoding.Encoding, src []byte, n int) (err error) {
	switch c.kind {
	case pq.Int32:
		c.ints32, err = enc.DecodeInt32(slices.Grow(c.ints32[:0], n), src)
		c.i32, c.nvals = c.ints32, len(c.ints32)
	case pq.Int64:
		c.ints64, err = enc.DecodeInt64(slices.Grow(c.ints64[:0], n), src)
		c.i64, c.nvals = c.ints64, len(c.ints64)
	case pq.ByteArray:
		c.values, c.offsets, err = enc.DecodeByteArray(slices.Grow(c.values[:0], len(src)), src, slices.Grow(c.offsets[:0], n+1))
		c.data, c.offs = c.values, c.offsets
		c.nvals = max(len(c.offs)-1, 0)
	default:
		c.values, err = enc.DecodeFixedLenByteArray(c.values[:0], src, c.typeLen)
		c.data = c.values
		c.nvals = 0
		if c.typeLen > 0 {
			c.nvals = len(c.data) / c.typeLen
		}
	}
	return err
}

// loadDict reads a column chunk's dictionary page p into buffers reused
// from chunk to chunk: the strings themselves, the integers' decimal texts
// (made at once), their offsets, and whether each is safe for JSON. A
// value read through the dictionary then costs an index and two offsets;
// the batch copies its text, which costs a little more than pointing into
// the dictionary (as this reader did before), but keeps a batch's values
// together for the stages after the read (values spread over dictionaries
// of megabytes are not in a busy machine's caches), and it allocates
// nothing per chunk.
func (c *cursor) loadDict(p *pageInfo) error {
	src, err := c.read(p)
	if err != nil {
		return err
	}
	if src, err = c.decompress(src, p.size); err != nil {
		return err
	}
	enc := pq.LookupEncoding(p.enc)
	//lint:ignore SA1019 older writers mark dictionary pages PLAIN_DICTIONARY: their values are plain
	if p.enc == format.PlainDictionary {
		enc = pq.LookupEncoding(format.Plain)
	}
	n := int(p.values)
	switch c.kind {
	case pq.Int32, pq.Int64:
		// The texts of every entry, made at once in exactly the room they
		// take: a dictionary holds the chunk's values, each used.
		if c.kind == pq.Int32 {
			c.dictInts, err = enc.DecodeInt32(slices.Grow(c.dictInts[:0], n), src)
			c.dictData, c.dictOffs, n = intTexts(c.dictInts, n, c.unsigned, c.dictData, c.dictOffs[:0])
		} else {
			c.dictI64s, err = enc.DecodeInt64(slices.Grow(c.dictI64s[:0], n), src)
			c.dictData, c.dictOffs, n = intTexts(c.dictI64s, n, c.unsigned, c.dictData, c.dictOffs[:0])
		}
	case pq.ByteArray:
		// The values take the page's bytes less 4 per entry.
		c.dictData, c.dictOffs, err = enc.DecodeByteArray(slices.Grow(c.dictData[:0], max(len(src)-4*n, 0)), src, slices.Grow(c.dictOffs[:0], n+1))
		n = max(min(n, len(c.dictOffs)-1), 0)
	default:
		c.dictData, err = enc.DecodeFixedLenByteArray(slices.Grow(c.dictData[:0], len(src)), src, c.typeLen)
		size := c.typeLen
		if size <= 0 {
			return fmt.Errorf("dictionary of %d-byte values: %w", size, ErrDamaged)
		}
		n = max(min(n, len(c.dictData)/size), 0)
		// Their offsets, made once, so that a row reads every dictionary
		// the same way.
		c.dictOffs = slices.Grow(c.dictOffs[:0], n+1)
		for k := range n + 1 {
			c.dictOffs = append(c.dictOffs, uint32(k*size))
		}
	}
	if err != nil {
		return fmt.Errorf("values: %v: %w", err, ErrDamaged)
	}
	c.hasDict = true
	c.dictLen = n
	// Whether each entry is event.IsSafe, looked at once: the entries of
	// a dictionary are the chunk's values, each used. When all are (an
	// integer's text always is), the rows need not look.
	c.allSafe = c.kind == pq.Int32 || c.kind == pq.Int64
	if !c.allSafe {
		c.safeOf = slices.Grow(c.safeOf[:0], n)[:n]
		c.allSafe = true
		for k := range c.safeOf {
			var b []byte
			if c.dictOffs[k] <= c.dictOffs[k+1] && int(c.dictOffs[k+1]) <= len(c.dictData) {
				b = c.dictData[c.dictOffs[k]:c.dictOffs[k+1]]
			}
			c.safeOf[k] = event.IsSafe(b)
			c.allSafe = c.allSafe && c.safeOf[k]
		}
	}
	return nil
}
