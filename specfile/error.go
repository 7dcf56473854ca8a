package specfile

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Pos is a place in a file. Line and Column are 1-based; 0 is unknown
// (a column is unknown in a Wazuh list or an ossec.conf line, a line in a
// file that could not be read).
type Pos struct {
	// Layer qualifies File when files of several layers (the built-in
	// ruleset, a user's rules directory) share names, e.g. "built-in";
	// empty: none.
	Layer string
	// File is the path the user knows the file by (inside its layer).
	File   string
	Line   int
	Column int
}

// String returns "layer:file:line:col", leaving out what is unknown.
func (p Pos) String() string {
	var b strings.Builder
	p.write(&b)
	return b.String()
}

func (p Pos) write(b *strings.Builder) {
	if p.Layer != "" {
		b.WriteString(p.Layer)
		b.WriteByte(':')
	}
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Column))
		}
	}
}

// Error is one problem in a file: where it is, in which definition, under
// which key, and what is wrong. Its text reads outermost first:
//
//	ruleset/rules/x.yml:42:11: rule 80202: condition: unknown name aws.errorcode
type Error struct {
	Pos
	// Subject names the definition the problem is in, e.g. "rule 80202"
	// or "decoder vpcflow"; empty: the file as a whole.
	Subject string
	// Key is the path of the key inside the definition, e.g.
	// "steps[2].columns.fields" or "buckets[1].regions"; empty: none.
	Key string
	// Err says what is wrong. Callers test categories on it with errors.Is
	// and errors.As (Unwrap).
	Err error
}

// Errorf returns an *Error at pos with a formatted message (%w wraps).
func Errorf(pos Pos, key, format string, args ...any) *Error {
	return &Error{Pos: pos, Key: key, Err: fmt.Errorf(format, args...)}
}

// Error returns "pos: subject: key: message", leaving out what is empty.
func (e *Error) Error() string {
	var b strings.Builder
	e.Pos.write(&b)
	for _, s := range [...]string{e.Subject, e.Key} {
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(s)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Join returns the errors as one (nil when there are none), as errors.Join
// does, in a stable order: the errors of one file together, files in the
// order their first error came, and inside a file by line and column (an
// unknown position first). Errors without a position keep their place
// before those of files. Nil errors are dropped; an error that is itself a
// join is flattened.
func Join(errs ...error) error {
	flat := Flatten(errs...)
	if len(flat) == 0 {
		return nil
	}
	type item struct {
		err  error
		file int // rank of the file; -1: no position
		pos  Pos
	}
	files := map[[2]string]int{}
	items := make([]item, len(flat))
	for i, err := range flat {
		items[i] = item{err: err, file: -1}
		var e *Error
		if errors.As(err, &e) && e.File != "" {
			k := [2]string{e.Layer, e.File}
			r, ok := files[k]
			if !ok {
				r = len(files)
				files[k] = r
			}
			items[i].file, items[i].pos = r, e.Pos
		}
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if a.file != b.file {
			return a.file - b.file
		}
		if a.pos.Line != b.pos.Line {
			return a.pos.Line - b.pos.Line
		}
		return a.pos.Column - b.pos.Column
	})
	out := make([]error, len(items))
	for i, it := range items {
		out[i] = it.err
	}
	return errors.Join(out...)
}

// Flatten returns the errors inside errs, each join (an error with an
// Unwrap() []error method, as errors.Join returns) replaced by its parts,
// nil errors dropped.
func Flatten(errs ...error) []error {
	var out []error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			out = append(out, Flatten(j.Unwrap()...)...)
			continue
		}
		out = append(out, err)
	}
	return out
}
