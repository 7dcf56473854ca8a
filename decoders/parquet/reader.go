package parquet

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"unsafe"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
)

// readBufferSize is the read buffer of each column chunk: pages are read
// through it, one column at a time.
const readBufferSize = 64 << 10

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
// row fails on them. Memory is one page per column at a time, plus each
// column chunk's dictionary, whatever the file's size.
func Open(r io.ReaderAt, size int64) (t decoders.Table, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("footer: %v: %w", p, ErrDamaged)
		}
	}()
	if err := checkFooter(r, size); err != nil {
		return nil, err
	}
	f, err := pq.OpenFile(r, size, pq.SkipPageIndex(true), pq.SkipBloomFilters(true), pq.ReadBufferSize(readBufferSize))
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
	group   int   // the current row group, -1 before the first
	row     int64 // rows read in the current row group
	rows    int64 // rows of the current row group
}

var _ decoders.Table = (*table)(nil)

func (t *table) Columns() []decoders.TableColumn { return t.cols }

func (t *table) NumRows() int64 { return t.f.NumRows() }

func (t *table) RowGroup() int { return max(t.group, 0) }

// Next reads the next rows: as many as every column has turned into text
// already (up to batchRows), within one row group.
func (t *table) Next(cols [][]decoders.TableValue) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, fmt.Errorf("page: %v: %w", p, ErrDamaged)
		}
	}()
	for t.row >= t.rows {
		if err := t.nextGroup(); err != nil {
			return 0, err
		}
	}
	n = int(min(t.rows-t.row, batchRows))
	for _, c := range t.cursors {
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

// nextGroup moves to the next row group, or returns io.EOF.
func (t *table) nextGroup() error {
	groups := t.f.RowGroups()
	if t.group+1 >= len(groups) {
		t.closePages()
		return io.EOF
	}
	t.group++
	t.closePages()
	rg := groups[t.group]
	t.row, t.rows = 0, rg.NumRows()
	chunks := rg.ColumnChunks()
	meta := t.f.Metadata().RowGroups[t.group].Columns
	for _, c := range t.cursors {
		if c.leaf < 0 {
			continue
		}
		if c.leaf >= len(chunks) || c.leaf >= len(meta) {
			return fmt.Errorf("column %s: no column chunk in the row group: %w", c.name, ErrDamaged)
		}
		// Where the library reads the chunk from: its dictionary page when
		// it has one, else its first data page.
		md := &meta[c.leaf].MetaData
		off := md.DataPageOffset
		if md.DictionaryPageOffset != 0 {
			off = md.DictionaryPageOffset
		}
		if off < 4 || md.TotalCompressedSize < 0 || off > t.size-8-md.TotalCompressedSize {
			return fmt.Errorf("column %s: the column chunk's %d bytes at byte %d are not inside the file: %w",
				c.name, md.TotalCompressedSize, off, ErrDamaged)
		}
		c.check = checkPages(t.r, off, md.TotalCompressedSize, t.rows)
		c.read = 0
		c.pages = chunks[c.leaf].Pages()
	}
	return nil
}

func (t *table) closePages() {
	for _, c := range t.cursors {
		c.reset()
	}
}

// Close releases the pages being read.
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

// cursor reads one column's values, one page at a time.
type cursor struct {
	name     string
	leaf     int // the leaf column index; -1 for a column that cannot be read
	kind     pq.Kind
	unsigned bool
	maxDef   byte

	pages pq.Pages
	page  pq.Page
	check pageCheck // of the chunk's page headers
	read  int       // data pages read from the chunk
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
	size    int      // fixed-length byte arrays: the length
	nvals   int      // values stored (the rows that are not null)

	dictSrc  pq.Dictionary // the dictionary the fields below are of
	dictLen  int           // entries of the dictionary
	dictI32  []int32       // an integer dictionary's values
	dictI64  []int64
	dictData []byte   // a byte dictionary's values: the library's, never reused
	dictOffs []uint32 // where they start and end in dictData
	dictSize int      // the size of fixed-length values
	// dictBuf is the text of an integer dictionary, made for the chunk.
	// The texts of dictData and dictBuf are never changed or reused, so
	// the values that point into them are decoders.TableValue.Kept.
	dictBuf []byte
	*buffers
	b       int   // the next value of batch
	pending error // the damage fill stopped before
}

// buffers are a cursor's buffers, reused from file to file.
type buffers struct {
	spans  [][2]uint32           // an integer dictionary's entries in dictBuf; {0, 0}: not formatted yet
	safeOf []uint8               // a byte dictionary's entries: 0 not looked at, 1 safe, 2 not
	batch  []decoders.TableValue // the values being read, from the page's row i-len(batch)
	num    []byte                // the text of the integers of batch
}

var bufferPool = sync.Pool{New: func() any {
	return &buffers{batch: make([]decoders.TableValue, 0, batchRows), num: make([]byte, 0, batchRows*20)}
}}

func (c *cursor) reset() {
	if c.page != nil {
		pq.Release(c.page)
		c.page = nil
	}
	if c.pages != nil {
		c.pages.Close()
		c.pages = nil
	}
	c.n, c.i, c.j = 0, 0, 0
	c.b, c.pending, c.dictSrc = 0, nil, nil
	c.dictLen, c.dictI32, c.dictI64, c.dictData, c.dictOffs, c.dictBuf = 0, nil, nil, nil, nil, nil
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
	if c.leaf < 0 {
		return errors.New("the column cannot be read")
	}
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
	case c.dictIdx != nil && (c.kind == pq.Int32 || c.kind == pq.Int64):
		batch = c.fillDictInts(batch, defs)
	case c.dictIdx != nil:
		batch = c.fillDictBytes(batch, defs)
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

// fillDictInts reads the rows of a page of indexes into an integer
// dictionary: an entry's text is made the first time it is used.
func (c *cursor) fillDictInts(batch []decoders.TableValue, defs []byte) []decoders.TableValue {
	idx := c.dictIdx[c.j:]
	spans := c.spans[:c.dictLen]
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
		if x >= uint32(len(spans)) {
			c.badIndex(x)
			return batch[:r]
		}
		sp := &spans[x]
		if sp[1] == 0 { // not formatted yet: every text has a byte
			start := len(c.dictBuf)
			if c.kind == pq.Int32 {
				c.dictBuf = appendInt(c.dictBuf, c.dictI32[x], c.unsigned)
			} else {
				c.dictBuf = appendInt(c.dictBuf, c.dictI64[x], c.unsigned)
			}
			sp[0], sp[1] = uint32(start), uint32(len(c.dictBuf))
		}
		batch[r] = decoders.TableValue{Text: c.dictBuf[sp[0]:sp[1]:sp[1]], Safe: true, Kept: true}
		j++
	}
	return batch
}

// fillDictBytes reads the rows of a page of indexes into a byte-array
// dictionary: whether an entry is event.IsSafe is looked at once.
func (c *cursor) fillDictBytes(batch []decoders.TableValue, defs []byte) []decoders.TableValue {
	idx := c.dictIdx[c.j:]
	safeOf := c.safeOf[:c.dictLen]
	data, offs, size := c.dictData, c.dictOffs, c.dictSize
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
		if x >= uint32(len(safeOf)) {
			c.badIndex(x)
			return batch[:r]
		}
		var b []byte
		if size == 0 {
			start, end := offs[x], offs[x+1]
			if start > end || int(end) > len(data) {
				c.pending = fmt.Errorf("dictionary entry %d: %w", x, ErrDamaged)
				return batch[:r]
			}
			b = data[start:end:end]
		} else {
			b = data[int(x)*size : int(x+1)*size : int(x+1)*size]
		}
		safe := safeOf[x]
		if safe == 0 {
			safe = 2
			if event.IsSafe(b) {
				safe = 1
			}
			safeOf[x] = safe
		}
		batch[r] = decoders.TableValue{Text: b, Safe: safe == 1, Kept: true}
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
		j := c.j
		b := c.data[j*c.size : (j+1)*c.size : (j+1)*c.size]
		batch[r] = decoders.TableValue{Text: b, Safe: event.IsSafe(b)}
		c.j++
	}
	return batch
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

// load reads the next page of the column.
func (c *cursor) load() error {
	if c.page != nil {
		pq.Release(c.page)
		c.page = nil
	}
	if c.pages == nil {
		return fmt.Errorf("no pages: %w", ErrDamaged)
	}
	if c.check.good >= 0 && c.read >= c.check.good {
		return c.check.err
	}
	c.read++
	p, err := c.pages.ReadPage()
	if err == io.EOF {
		return fmt.Errorf("the column chunk ends before the row group: %w", ErrDamaged)
	}
	if err != nil {
		return err
	}
	c.page = p
	c.n, c.i, c.j = int(p.NumRows()), 0, 0
	c.defs = nil
	if c.maxDef > 0 {
		c.defs = p.DefinitionLevels()
		if len(c.defs) < c.n {
			return fmt.Errorf("page has %d definition levels for %d rows: %w", len(c.defs), c.n, ErrDamaged)
		}
	}
	data := p.Data()
	c.dictIdx, c.i32, c.i64, c.data, c.offs = nil, nil, nil, nil, nil
	if d := p.Dictionary(); d != nil {
		if d != c.dictSrc {
			if err := c.loadDict(d); err != nil {
				return err
			}
		}
		c.dictIdx = data.Int32()
		c.nvals = len(c.dictIdx)
		return nil
	}
	switch c.kind {
	case pq.Int32:
		c.i32 = data.Int32()
		c.nvals = len(c.i32)
	case pq.Int64:
		c.i64 = data.Int64()
		c.nvals = len(c.i64)
	case pq.ByteArray:
		c.data, c.offs = data.ByteArray()
		c.nvals = max(len(c.offs)-1, 0)
	default:
		c.data, c.size = data.FixedLenByteArray()
		c.nvals = 0
		if c.size > 0 {
			c.nvals = len(c.data) / c.size
		}
	}
	return nil
}

// loadDict takes a column chunk's dictionary: an entry's value is made
// when first used (ports, byte counts, addresses: most entries of a large
// dictionary are used once), then costs one index. The texts are the
// library's dictionary itself for strings (it decodes each chunk's
// dictionary into memory of its own, which it never reuses, unlike its
// pages) and, for integers, made in memory of the chunk's own: never
// changed or reused, so that a batch of rows can keep them instead of
// copying them. The memory is one dictionary per column, which the library
// holds anyway, the integers' texts, and a byte (strings) or eight
// (integers) per entry, reused from chunk to chunk.
func (c *cursor) loadDict(d pq.Dictionary) error {
	c.dictSrc = d
	n := d.Len()
	vals := d.Page().Data()
	c.dictSize = 0
	switch c.kind {
	case pq.Int32, pq.Int64:
		// Appending past the capacity leaves the texts made before in the
		// old array, unchanged.
		c.dictBuf = make([]byte, 0, min(12*n, 1<<20))
		if c.kind == pq.Int32 {
			c.dictI32 = vals.Int32()
			n = min(n, len(c.dictI32))
		} else {
			c.dictI64 = vals.Int64()
			n = min(n, len(c.dictI64))
		}
		n = max(n, 0)
		c.spans = slices.Grow(c.spans[:0], n)[:n]
		clear(c.spans)
	case pq.ByteArray:
		c.dictData, c.dictOffs = vals.ByteArray()
		n = max(min(n, len(c.dictOffs)-1), 0)
	default:
		c.dictData, c.dictSize = vals.FixedLenByteArray()
		if c.dictSize <= 0 {
			return fmt.Errorf("dictionary of %d-byte values: %w", c.dictSize, ErrDamaged)
		}
		n = max(min(n, len(c.dictData)/c.dictSize), 0)
	}
	c.dictLen = n
	if c.kind != pq.Int32 && c.kind != pq.Int64 {
		c.safeOf = slices.Grow(c.safeOf[:0], n)[:n]
		clear(c.safeOf)
	}
	return nil
}
