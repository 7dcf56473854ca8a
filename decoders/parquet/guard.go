package parquet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// The Parquet library trusts the sizes a file declares: a damaged page
// header that claims a page of 2 GB makes it allocate 2 GB before the read
// fails, and a damaged footer that declares a list of a billion row groups
// makes it allocate them. A flow-log object is untrusted input read by a
// daemon that must go on, so the footer and each column chunk's page
// headers are checked here first, on bytes read once more: every length
// must fit in what is left of the file or chunk, and a page may not
// declare more than MaxPageBytes.

// MaxPageBytes bounds the uncompressed size of one page (AWS's are about
// 1 MB).
const MaxPageBytes = 256 << 20

// MaxPageValues bounds the values (rows, for a flat column) of one page:
// the reader sizes its buffers for them (parquet-mr writes at most 20,000
// by default).
const MaxPageValues = 1 << 24

// maxDepth bounds the nesting of thrift structures.
const maxDepth = 32

// checkFooter checks that the footer's structure fits in its bytes.
func checkFooter(r io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("%d bytes are too few for a Parquet file", size)
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("reading the footer: %w", err)
	}
	if string(tail[4:]) != "PAR1" {
		return fmt.Errorf("no PAR1 at the end (truncated?): %q", tail[4:])
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-12 {
		return fmt.Errorf("the footer declares %d bytes in a file of %d (truncated?)", n, size)
	}
	footer := make([]byte, n)
	if _, err := r.ReadAt(footer, size-8-n); err != nil {
		return fmt.Errorf("reading the footer: %w", err)
	}
	var p thrift.CompactProtocol
	if err := walkStruct(p.NewReaderFromBytes(footer), len(footer), 0); err != nil {
		return fmt.Errorf("footer: %w: %w", err, ErrDamaged)
	}
	return nil
}

// pageCheck is the result of checking a column chunk's page headers: the
// pages before the first bad header, and what is wrong with it.
type pageCheck struct {
	pages []pageInfo // the pages whose headers are sound, in order
	err   error      // the first bad header's problem, nil if none
}

// pageInfo is what the reader needs of a page's header.
type pageInfo struct {
	off          int64 // where the page's bytes start, after its header
	stored, size int32 // its bytes as stored, and uncompressed
	values       int32 // values (levels: rows) of a data page, entries of a dictionary
	dict, v2     bool  // a dictionary page; a data page v2
	enc, defEnc  format.Encoding
	// v2 pages: the bytes of the levels before the values, and whether the
	// values are compressed
	repBytes, defBytes int32
	compressed         bool
}

// checkPages reads the page headers of a column chunk of size bytes at off,
// in a row group of rows rows: a flat column has at most one value per row
// in a data page, and a dictionary's entries take at least 4 bytes each.
// The pages are appended to pages.
func checkPages(r io.ReaderAt, off, size, rows int64, pages []pageInfo) pageCheck {
	var p thrift.CompactProtocol
	end := off + size
	buf := make([]byte, 1<<10)
	for off < end {
		var hdr format.PageHeader
		hlen, err := readPageHeader(r, &p, &buf, off, end, &hdr)
		if err != nil {
			return pageCheck{pages, err}
		}
		off += int64(hlen)
		pi, err := pageOf(&hdr, off, end, rows)
		if err != nil {
			return pageCheck{pages, err}
		}
		off += int64(hdr.CompressedPageSize)
		if hdr.Type == format.DataPage || hdr.Type == format.DataPageV2 || pi.dict {
			pages = append(pages, pi)
		}
	}
	return pageCheck{pages: pages}
}

// readPageHeader reads the page header at off into hdr and returns its
// length, growing the window (and *buf) while the header runs past it.
func readPageHeader(r io.ReaderAt, p *thrift.CompactProtocol, buf *[]byte, off, end int64, hdr *format.PageHeader) (int, error) {
	window := min(int64(len(*buf)), end-off)
	for {
		n, err := r.ReadAt((*buf)[:window], off)
		if int64(n) < window {
			return 0, fmt.Errorf("page header at byte %d: %w", off, errors.Join(err, io.ErrUnexpectedEOF))
		}
		br := p.NewReaderFromBytes((*buf)[:window])
		err = walkStruct(br, int(window), 0)
		if err == nil {
			hlen := br.BytesRead()
			if err = thrift.Unmarshal(p, (*buf)[:hlen], hdr); err == nil {
				return hlen, nil
			}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && window < end-off && window < 16<<20 {
			window = min(window*16, end-off)
			if int64(len(*buf)) < window {
				*buf = make([]byte, window)
			}
			continue
		}
		return 0, fmt.Errorf("page header at byte %d: %w: %w", off, err, ErrDamaged)
	}
}

// pageOf checks the sizes and counts a page header declares, for the page
// whose bytes start at off in a column chunk ending at end, in a row group
// of rows rows, and returns what the reader needs of it.
func pageOf(hdr *format.PageHeader, off, end, rows int64) (pageInfo, error) {
	switch {
	case hdr.CompressedPageSize < 0 || int64(hdr.CompressedPageSize) > end-off:
		return pageInfo{}, fmt.Errorf("page at byte %d declares %d bytes, more than its column chunk holds: %w", off, hdr.CompressedPageSize, ErrDamaged)
	case hdr.UncompressedPageSize < 0 || hdr.UncompressedPageSize > MaxPageBytes:
		return pageInfo{}, fmt.Errorf("page at byte %d declares %d bytes uncompressed (more than %d): %w", off, hdr.UncompressedPageSize, MaxPageBytes, ErrDamaged)
	}
	var values int64
	pi := pageInfo{off: off, stored: hdr.CompressedPageSize, size: hdr.UncompressedPageSize}
	switch {
	case hdr.Type == format.DataPage && hdr.DataPageHeader.Valid:
		h := &hdr.DataPageHeader.V
		values = int64(h.NumValues)
		pi.enc, pi.defEnc = h.Encoding, h.DefinitionLevelEncoding
	case hdr.Type == format.DataPageV2 && hdr.DataPageHeaderV2.Valid:
		h := &hdr.DataPageHeaderV2.V
		values = int64(h.NumValues)
		pi.v2, pi.enc = true, h.Encoding
		pi.repBytes, pi.defBytes = h.RepetitionLevelsByteLength, h.DefinitionLevelsByteLength
		pi.compressed = !h.IsCompressed.Valid || h.IsCompressed.V
	case hdr.Type == format.DictionaryPage && hdr.DictionaryPageHeader.Valid:
		h := &hdr.DictionaryPageHeader.V
		pi.dict, pi.enc = true, h.Encoding
		pi.values = h.NumValues
		if h.NumValues < 0 || int64(h.NumValues) > int64(hdr.UncompressedPageSize)/4+1 {
			return pageInfo{}, fmt.Errorf("dictionary page at byte %d declares %d entries in %d bytes: %w", off, h.NumValues, hdr.UncompressedPageSize, ErrDamaged)
		}
	case hdr.Type == format.DataPage || hdr.Type == format.DataPageV2 || hdr.Type == format.DictionaryPage:
		return pageInfo{}, fmt.Errorf("page at byte %d: a %s without its header: %w", off, hdr.Type, ErrDamaged)
	}
	if values > MaxPageValues {
		return pageInfo{}, fmt.Errorf("page at byte %d declares %d values (more than %d): %w", off, values, MaxPageValues, ErrDamaged)
	}
	if values < 0 || values > rows {
		return pageInfo{}, fmt.Errorf("page at byte %d declares %d values in a row group of %d rows: %w", off, values, rows, ErrDamaged)
	}
	if hdr.Type == format.DataPage || hdr.Type == format.DataPageV2 {
		pi.values = int32(values)
	}
	return pi, nil
}

// walkStruct reads a thrift struct without keeping it, checking that every
// list, map and byte string it declares fits in the bytes left.
func walkStruct(r thrift.BytesReader, size, depth int) error {
	if depth > maxDepth {
		return errors.New("structures nested too deep")
	}
	for {
		f, err := r.ReadField()
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if f.Type == thrift.STOP {
			return nil
		}
		if err := walkValue(r, f.Type, size, depth, true); err != nil {
			return err
		}
	}
}

func walkValue(r thrift.BytesReader, t thrift.Type, size, depth int, field bool) error {
	left := func(n int) error {
		if n < 0 || n > size-r.BytesRead() {
			return fmt.Errorf("a length of %d where %d bytes are left: %w", n, size-r.BytesRead(), io.ErrUnexpectedEOF)
		}
		return nil
	}
	var err error
	switch t {
	case thrift.TRUE, thrift.FALSE:
		if !field { // list elements take a byte; fields carry it in their type
			_, err = r.ReadBool()
		}
	case thrift.I8:
		_, err = r.ReadInt8()
	case thrift.I16:
		_, err = r.ReadInt16()
	case thrift.I32:
		_, err = r.ReadInt32()
	case thrift.I64:
		_, err = r.ReadInt64()
	case thrift.DOUBLE:
		_, err = r.ReadFloat64()
	case thrift.UUID:
		if _, err = r.ReadFloat64(); err == nil {
			_, err = r.ReadFloat64()
		}
	case thrift.BINARY:
		_, err = r.ReadBytes()
	case thrift.LIST, thrift.SET:
		var l thrift.List
		if l, err = r.ReadList(); err == nil {
			if err = left(int(l.Size)); err == nil {
				for i := 0; i < int(l.Size) && err == nil; i++ {
					err = walkValue(r, l.Type, size, depth+1, false)
				}
			}
		}
	case thrift.MAP:
		var m thrift.Map
		if m, err = r.ReadMap(); err == nil {
			if err = left(2 * int(m.Size)); err == nil {
				for i := 0; i < int(m.Size) && err == nil; i++ {
					if err = walkValue(r, m.Key, size, depth+1, false); err == nil {
						err = walkValue(r, m.Value, size, depth+1, false)
					}
				}
			}
		}
	case thrift.STRUCT:
		err = walkStruct(r, size, depth+1)
	default:
		err = fmt.Errorf("unknown thrift type %d", t)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
