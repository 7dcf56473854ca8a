package decoders

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// jsonArrayReader walks one JSON document with encoding/json's tokens and
// stops at each element of the records array (the member array of the
// top-level object, or the document itself when bare arrays are allowed),
// so that memory is bounded by the largest record, not by the file. A
// document without that member has no records (CloudTrail digest files).
type jsonArrayReader struct {
	dec    *json.Decoder
	array  string
	bare   bool
	state  uint8
	top    bool  // the records array is the document itself
	index  int   // 1-based index of the current record
	offset int64 // byte offset of the current record
}

const (
	arrStart uint8 = iota
	arrIn
	arrDone
)

var errTrailingDoc = errors.New("unexpected data after the JSON document")

// next positions the decoder at the next record; false at the end.
func (a *jsonArrayReader) next() (bool, error) {
	switch a.state {
	case arrStart:
		a.state = arrDone
		tok, err := a.dec.Token()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		switch d, _ := tok.(json.Delim); {
		case d == '{' && a.array != "":
			found, err := a.findArray()
			if err != nil || !found {
				return false, err
			}
		case d == '[' && a.bare:
			a.top = true
		case a.array != "":
			return false, fmt.Errorf("expected a JSON object with a %s array", a.array)
		default:
			return false, errors.New("expected a JSON array")
		}
		a.state = arrIn
		fallthrough
	case arrIn:
		if a.dec.More() {
			a.index++
			a.offset = a.elementOffset()
			return true, nil
		}
		a.state = arrDone
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

// findArray reads members of the top-level object up to the records array;
// false when the object ends without it.
func (a *jsonArrayReader) findArray() (bool, error) {
	for a.dec.More() {
		tok, err := a.dec.Token()
		if err != nil {
			return false, err
		}
		if key, _ := tok.(string); key == a.array {
			tok, err := a.dec.Token()
			if err != nil {
				return false, err
			}
			if d, _ := tok.(json.Delim); d != '[' {
				return false, fmt.Errorf("member %s is not an array", a.array)
			}
			return true, nil
		}
		if err := a.skipValue(); err != nil {
			return false, err
		}
	}
	if _, err := a.dec.Token(); err != nil { // }
		return false, err
	}
	return false, a.expectEnd()
}

// skipMembers reads the rest of the top-level object.
func (a *jsonArrayReader) skipMembers() error {
	for a.dec.More() {
		if _, err := a.dec.Token(); err != nil {
			return err
		}
		if err := a.skipValue(); err != nil {
			return err
		}
	}
	_, err := a.dec.Token() // }
	return err
}

// expectEnd checks that nothing follows the document.
func (a *jsonArrayReader) expectEnd() error {
	_, err := a.dec.Token()
	switch err {
	case io.EOF:
		return nil
	case nil:
		return errTrailingDoc
	}
	return err
}

// skipValue reads one value without keeping it.
func (a *jsonArrayReader) skipValue() error {
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
func (a *jsonArrayReader) elementOffset() int64 {
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

// streamError turns an error of the document into a StreamError naming
// the record being read and the byte offset where the document broke.
func (a *jsonArrayReader) streamError(path string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	line := a.index
	if line == 0 {
		line = 1
	}
	return &StreamError{Path: path, Line: line, Err: fmt.Errorf("byte offset %d: %w", a.errorOffset(err), err)}
}

// errorOffset finds where err happened. The decoder stops before the value
// it could not read, and json.SyntaxError.Offset does not count from the
// start of the stream, so the rest of the buffer is scanned again.
func (a *jsonArrayReader) errorOffset(err error) int64 {
	off := a.dec.InputOffset()
	var se *json.SyntaxError
	var ge *gzipError
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
	case err == io.ErrUnexpectedEOF || errors.As(err, &ge):
		rest, _ := io.ReadAll(a.dec.Buffered())
		return off + int64(len(rest))
	}
	return off
}
