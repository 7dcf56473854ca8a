package decoders

import (
	"encoding/binary"
	"math/bits"

	"github.com/vpcalertd/vpcalertd/event"
)

// Word-at-a-time helpers for the flow-log hot path: a line is looked at
// eight bytes at a time to find the column separators, to check that it is
// ASCII and to check digits, instead of byte by byte.

const (
	lsb     = 0x0101010101010101
	msb     = 0x8080808080808080
	low7    = 0x7f7f7f7f7f7f7f7f
	spaces8 = ' ' * lsb
	tabs8   = '\t' * lsb
	zeros8  = '0' * lsb
	quotes8 = '"' * lsb
	dels8   = 0x7f * lsb
	// backslashes8 is eight backslashes.
	backslashes8 = '\\' * lsb
)

// zeroBytes has the high bit set in exactly the bytes of w that are zero.
func zeroBytes(w uint64) uint64 {
	return ^(((w & low7) + low7) | w | low7)
}

// span is a column's [start, end) in a line.
type span struct{ start, end int32 }

// splitColumns returns the spans of the runs of bytes other than space and
// tab in line, reusing dst, whether the line is ASCII, and whether every
// column is safe to copy into JSON as is (event.Field.Safe).
func splitColumns(dst []span, line []byte) ([]span, bool, bool) {
	var high, special uint64
	dst = dst[:0]
	start := 0
	i := 0
	for ; i+8 <= len(line); i += 8 {
		w := binary.LittleEndian.Uint64(line[i:])
		high |= w
		special |= zeroBytes(w^quotes8) | zeroBytes(w^backslashes8) | zeroBytes(w^dels8) | ((w - lsb*0x20) & ^w & msb &^ zeroBytes(w^tabs8))
		m := zeroBytes(w^spaces8) | zeroBytes(w^tabs8)
		for m != 0 {
			p := i + bits.TrailingZeros64(m)>>3
			if p > start {
				dst = append(dst, span{int32(start), int32(p)})
			}
			start = p + 1
			m &= m - 1
		}
	}
	for ; i < len(line); i++ {
		c := line[i]
		high |= uint64(c)
		if c == '"' || c == '\\' || c == 0x7f || (c < 0x20 && c != '\t') {
			special = 1
		}
		if c == ' ' || c == '\t' {
			if i > start {
				dst = append(dst, span{int32(start), int32(i)})
			}
			start = i + 1
		}
	}
	if len(line) > start {
		dst = append(dst, span{int32(start), int32(len(line))})
	}
	return dst, high&msb == 0, high&msb == 0 && special == 0
}

// fillColumns stores column k of line into fs[k], checking its type, and
// returns the index of the first column whose value has the wrong type, or
// -1. len(spans) == len(cols) == len(fs).
func fillColumns(line []byte, spans []span, cols []column, fs []event.Field, safe bool) (bad int) {
	bad = -1
	fs = fs[:len(cols)]
	spans = spans[:len(cols)]
	for k := range cols {
		col := &cols[k]
		sp := spans[k]
		start, end := int(sp.start), int(sp.end)
		tok := line[start:end:end]
		switch col.typ {
		case typeInteger:
			var ok bool
			if n := end - start; n <= 8 && start+8 <= len(line) { // the common case, inline
				keep := ^uint64(0) >> (64 - 8*n)
				w := binary.LittleEndian.Uint64(line[start:])&keep | zeros8&^keep
				ok = ((w+0x4646464646464646)|(w-zeros8))&msb == 0
			} else {
				ok = digits(line, start, end)
			}
			if !ok && !isDash(tok) && bad < 0 {
				bad = k
			}
		case typeIP:
			if !isIP(tok) && bad < 0 {
				bad = k
			}
		}
		f := &fs[k] // field by field: copying a built Field stalls on store forwarding
		f.Key = col.key
		f.Value = tok
		f.Kind = event.String
		f.Sym = col.sym
		f.Safe = safe
	}
	return bad
}

// digits reports whether line[start:end] is all digits, up to 16 bytes at a
// time: keep the value's bytes, fill the rest with '0'; a byte is a digit
// iff neither b-'0' nor b+0x46 sets its high bit (a borrow or carry only
// spreads from a byte that is already wrong).
func digits(line []byte, start, end int) bool {
	n := end - start
	switch {
	case n <= 8 && start+8 <= len(line):
		keep := ^uint64(0) >> (64 - 8*n)
		w := binary.LittleEndian.Uint64(line[start:])&keep | zeros8&^keep
		return ((w+0x4646464646464646)|(w-zeros8))&msb == 0
	case n > 8 && n <= 16 && start+16 <= len(line):
		keep := ^uint64(0) >> (128 - 8*n)
		w := binary.LittleEndian.Uint64(line[start:])
		v := binary.LittleEndian.Uint64(line[start+8:])&keep | zeros8&^keep
		return ((w+0x4646464646464646)|(w-zeros8)|(v+0x4646464646464646)|(v-zeros8))&msb == 0
	}
	return isInteger(line[start:end])
}

func isDash(b []byte) bool { return len(b) == 1 && b[0] == '-' }

// isASCII reports whether b holds only bytes below 0x80.
func isASCII(b []byte) bool {
	var high uint64
	for len(b) >= 16 {
		high |= binary.LittleEndian.Uint64(b) | binary.LittleEndian.Uint64(b[8:16])
		b = b[16:]
	}
	for len(b) >= 8 {
		high |= binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	for _, c := range b {
		high |= uint64(c)
	}
	return high&msb == 0
}
