package ojson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Records walks one JSON document read from an io.Reader and stops at each
// element of its records array: the array member named Member of the
// top-level object, or the document itself when it is an array and Bare
// is set. Memory is bounded by the largest element, not by the document.
// A document without that member has no records (a CloudTrail digest
// file). Syntax errors are encoding/json's; ErrorOffset says where in the
// stream they are.
type Records struct {
	g      *guard
	dec    *json.Decoder
	member string
	bare   bool
	state  uint8
	top    bool  // the records array is the document itself
	index  int   // 1-based index of the current record
	offset int64 // byte offset of the current record
	raw    json.RawMessage
}

const (
	recStart uint8 = iota
	recIn
	recDone
)

// ErrTrailingData is returned when something follows the document.
var ErrTrailingData = errors.New("unexpected data after the JSON document")

// NewRecords returns a Records reading r with the default Limits. Numbers
// keep their literal.
func NewRecords(r io.Reader, member string, bare bool) *Records {
	return NewRecordsLimited(r, member, bare, Limits{})
}

// NewRecordsLimited returns a Records reading r whose elements are bounded
// by lim: Next reports an element beyond them with a *LimitError, having
// read past it without holding it, and the next call goes on with the
// element after it. The other values of the document are bounded too.
func NewRecordsLimited(r io.Reader, member string, bare bool, lim Limits) *Records {
	g := newGuard(r, member, bare, lim)
	dec := json.NewDecoder(g)
	dec.UseNumber()
	return &Records{g: g, dec: dec, member: member, bare: bare}
}

// Index returns the 1-based index of the current element (0 before the
// first).
func (a *Records) Index() int { return a.index }

// Offset returns the byte offset of the current element in the stream.
func (a *Records) Offset() int64 { return a.offset }

// InputOffset returns how many bytes of the stream have been consumed.
func (a *Records) InputOffset() int64 { return a.g.orig(a.dec.InputOffset()) }

// Next moves to the next element; false after the last. After Next, call
// Decode or Skip once before the next Next. An element beyond the Limits
// is reported as (true, *LimitError): it is passed already, so the next
// call to Next goes on after it.
func (a *Records) Next() (bool, error) {
	ok, err := a.next()
	if !ok || err != nil {
		return ok, err
	}
	if lerr := a.g.take(a.index); lerr != nil {
		if err := a.Skip(); err != nil { // the placeholder
			return false, err
		}
		return true, lerr
	}
	return true, nil
}

func (a *Records) next() (bool, error) {
	switch a.state {
	case recStart:
		a.state = recDone
		tok, err := a.dec.Token()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		switch d, _ := tok.(json.Delim); {
		case d == '{' && a.member != "":
			found, err := a.findArray()
			if err != nil || !found {
				return false, err
			}
		case d == '[' && a.bare:
			a.top = true
		case a.member != "":
			return false, fmt.Errorf("expected a JSON object with a %s array", a.member)
		default:
			return false, errors.New("expected a JSON array")
		}
		a.state = recIn
		fallthrough
	case recIn:
		if a.dec.More() {
			a.index++
			a.offset = a.g.orig(a.elementOffset())
			return true, nil
		}
		a.state = recDone
		if _, err := a.dec.Token(); err != nil { // ]
			return false, err
		}
		if !a.top {
			if err := a.skipMembers(); err != nil {
				return false, err
			}
		}
		return false, a.expectEnd()
	}
	return false, nil
}

// Decode reads the current element (encoding/json checks it) into t after
// what t holds and returns its node.
func (a *Records) Decode(t *Tree) (int32, error) {
	if err := a.dec.Decode(&a.raw); err != nil {
		return -1, err
	}
	return t.Add(a.raw)
}

// findArray reads members of the top-level object up to the records array;
// false when the object ends without it.
func (a *Records) findArray() (bool, error) {
	for a.dec.More() {
		tok, err := a.dec.Token()
		if err != nil {
			return false, err
		}
		if key, _ := tok.(string); key == a.member {
			tok, err := a.dec.Token()
			if err != nil {
				return false, err
			}
			if d, _ := tok.(json.Delim); d != '[' {
				return false, fmt.Errorf("member %s is not an array", a.member)
			}
			return true, nil
		}
		if err := a.Skip(); err != nil {
			return false, err
		}
	}
	if _, err := a.dec.Token(); err != nil { // }
		return false, err
	}
	return false, a.expectEnd()
}

// skipMembers reads the rest of the top-level object.
func (a *Records) skipMembers() error {
	for a.dec.More() {
		if _, err := a.dec.Token(); err != nil {
			return err
		}
		if err := a.Skip(); err != nil {
			return err
		}
	}
	_, err := a.dec.Token() // }
	return err
}

// expectEnd checks that nothing follows the document.
func (a *Records) expectEnd() error {
	_, err := a.dec.Token()
	switch err {
	case io.EOF:
		return nil
	case nil:
		return ErrTrailingData
	}
	return err
}

// Skip reads the current value without keeping it.
func (a *Records) Skip() error {
	depth := 0
	for {
		tok, err := a.dec.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// elementOffset returns the offset of the element the decoder is at: past
// the separating comma and blanks.
func (a *Records) elementOffset() int64 {
	off := a.dec.InputOffset()
	var b [64]byte
	n, _ := a.dec.Buffered().Read(b[:])
	for _, c := range b[:n] {
		if c != ',' && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			break
		}
		off++
	}
	return off
}

// ErrorOffset finds where err, an error of Next, Decode or Skip, happened
// in the stream. The decoder stops before the value it could not read, and
// json.SyntaxError.Offset does not count from the start of the stream, so
// the rest of the buffer is scanned again. truncated says whether err
// comes from a stream cut short below the JSON (io.ErrUnexpectedEOF or a
// broken compression layer): then the offset is the end of what was read.
func (a *Records) ErrorOffset(err error, truncated bool) int64 {
	return a.g.orig(a.errorOffset(err, truncated))
}

func (a *Records) errorOffset(err error, truncated bool) int64 {
	off := a.dec.InputOffset()
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		rest, _ := io.ReadAll(a.dec.Buffered())
		i := 0
		for i < len(rest) && (rest[i] == ',' || rest[i] == ':' || rest[i] == ' ' || rest[i] == '\t' || rest[i] == '\n' || rest[i] == '\r') {
			i++
		}
		var raw json.RawMessage
		if e := json.NewDecoder(bytes.NewReader(rest[i:])).Decode(&raw); errors.As(e, &se) && se.Offset > 0 {
			return off + int64(i) + se.Offset - 1
		}
		return off + int64(i)
	case err == io.ErrUnexpectedEOF || truncated:
		rest, _ := io.ReadAll(a.dec.Buffered())
		return off + int64(len(rest))
	}
	return off
}
