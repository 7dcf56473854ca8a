package parquet

import (
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// Pages are decompressed here rather than by the library's codecs, which
// take a damaged page's word for its size: its Snappy and Zstd decoders
// allocate the length a page declares (4 GB), its LZ4 decoder doubles its
// buffer until the page decodes (never, for a damaged one), and its Gzip
// and Brotli decoders read to the end of the stream, however long. Here
// every page decompresses into at most the size its header declares
// (checked against MaxPageBytes), into a buffer the cursor reuses.

// zstdDecoder decodes the Zstd pages of every file: DecodeAll may be used
// concurrently, and decodes at most the room its dst has left
// (WithDecodeAllCapLimit), the size the page declares.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxPageBytes), zstd.WithDecodeAllCapLimit(true))
})

// maxRatio bounds, for the codecs whose format bounds it, the size a page
// of n bytes decompresses into (with 1024 bytes to spare): a page that
// declares more is damaged, and its buffer is not made. Deflate (Gzip)
// needs at least 2 bits for 258 bytes (1032:1); an LZ4 length byte adds
// at most 255. (The Snappy decoder also reads S2's longer copies, so
// Snappy has no such bound here; Zstd and Brotli have none.)
var maxRatio = map[format.CompressionCodec]int64{format.Gzip: 1032, format.Lz4Raw: 256}

// decompress returns the page's bytes src decompressed, which must be
// size bytes.
func (c *cursor) decompress(src []byte, size int32) ([]byte, error) {
	if c.codec == format.Uncompressed {
		if len(src) != int(size) {
			return nil, fmt.Errorf("it holds %d bytes, not %d: %w", len(src), size, ErrDamaged)
		}
		return src, nil
	}
	if r := maxRatio[c.codec]; r > 0 && int64(size) > r*int64(len(src))+1024 {
		return nil, fmt.Errorf("it declares %d bytes uncompressed, more than %d bytes of %s can hold: %w", size, len(src), c.codec, ErrDamaged)
	}
	out, err := c.decode(src, int(size))
	if err != nil {
		return nil, fmt.Errorf("decompressing it (%s): %v: %w", c.codec, err, ErrDamaged)
	}
	if cap(out) > cap(c.plain) {
		c.plain = out[:0]
	}
	if len(out) != int(size) {
		return nil, fmt.Errorf("it holds %d bytes once decompressed (%s), not %d: %w", len(out), c.codec, size, ErrDamaged)
	}
	return out, nil
}

func (c *cursor) decode(src []byte, size int) ([]byte, error) {
	switch c.codec {
	case format.Gzip:
		c.src.Reset(src)
		var err error
		if c.gz == nil {
			c.gz, err = gzip.NewReader(&c.src)
		} else {
			err = c.gz.Reset(&c.src)
		}
		if err != nil {
			return nil, err
		}
		return c.readAll(c.gz, size)
	case format.Brotli:
		c.src.Reset(src)
		if c.br == nil {
			c.br = brotli.NewReader(&c.src)
		} else if err := c.br.Reset(&c.src); err != nil {
			return nil, err
		}
		return c.readAll(c.br, size)
	case format.Snappy:
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if n != size {
			return nil, fmt.Errorf("the page declares %d bytes", n)
		}
		return snappy.Decode(slices.Grow(c.plain[:0], size)[:size], src)
	case format.Lz4Raw:
		out := slices.Grow(c.plain[:0], size)[:size]
		n, err := lz4.UncompressBlock(src, out)
		return out[:n], err
	case format.Zstd:
		d, err := zstdDecoder()
		if err != nil {
			return nil, err
		}
		c.plain = slices.Grow(c.plain[:0], size)
		return d.DecodeAll(src, c.plain[:0:size])
	}
	return nil, fmt.Errorf("the codec is not supported")
}

// readAll reads r to its end into c.plain: at most size bytes, and one
// more to tell a page that holds more.
func (c *cursor) readAll(r io.Reader, size int) ([]byte, error) {
	c.plain = slices.Grow(c.plain[:0], size+1)
	n, err := io.ReadFull(r, c.plain[:size+1])
	switch err {
	case nil:
		return nil, fmt.Errorf("the page holds more than %d bytes", size)
	case io.EOF, io.ErrUnexpectedEOF:
		return c.plain[:n], nil
	}
	return nil, err
}
