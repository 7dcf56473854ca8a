package rules

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/vpcalertd/vpcalertd/specfile"
)

// Categories of list problems: each is reported as a *specfile.Error at
// the list file and line ("lists/vpc/threat-addresses:4: …"), never against
// a rule that reads the list.
var (
	// ErrListLine is a line Wazuh skips: no ':' after the key, or a quote
	// that is not closed. A warning: the rest of the list loads.
	ErrListLine = errors.New("line skipped")
	// ErrDuplicateKey is a key already given on an earlier line; the first
	// value is kept. A warning.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrCommentKey is a line starting with '#' that Wazuh reads as a key
	// all the same (it has a '"' before its first ':'). A warning.
	ErrCommentKey = errors.New("comment line read as a key")
)

// listError is a problem at a line of a list file.
func listError(file string, line int, err error) error {
	return &specfile.Error{Pos: specfile.Pos{File: file, Line: line}, Err: err}
}

// List is a Wazuh CDB list in its text form: key:value lines
// (docs/wazuh-compat.md, "Lists"). Lookups are exact and case-sensitive.
type List struct {
	Name string // path relative to the lists directory, e.g. "amazon/aws-eventnames"
	// File is the list's file as messages name it (layer-qualified).
	File string
	// Replaces is the File of the list of the same name an earlier layer
	// had, which this one replaces; "" when there was none.
	Replaces string
	m        map[string][]byte
	keys     []string       // in file order
	lines    map[string]int // line of each key
	entries  []listEntry    // every line with a key, duplicates included
	warnings []error        // *specfile.Error: lines skipped, duplicate keys
}

// listEntry is one line of a list that holds a key.
type listEntry struct {
	key     string
	value   []byte
	line    int
	comment bool // the line starts with '#' (a CIDR list skips it)
}

// Lookup returns the value of key and whether key is in the list.
func (l *List) Lookup(key []byte) ([]byte, bool) {
	v, ok := l.m[string(key)]
	return v, ok
}

// Len returns the number of keys.
func (l *List) Len() int { return len(l.m) }

// Warnings returns the lines Wazuh would skip and the duplicate keys, each
// a *specfile.Error at its line.
func (l *List) Warnings() []error { return l.warnings }

// parseList reads Wazuh's list text form exactly as Wazuh makes its CDB
// file (lists_make.c, Lists_OP_MakeCDB, at v4.14.7): see splitListLine.
// CR and LF are stripped. A later duplicate key keeps the first value, as
// Wazuh's lookup (cdb_find) returns the first record. Skipped lines and
// duplicates are kept as warnings; blank lines and lines starting with '#'
// without a key are skipped silently (a '#' line with a key is a key for
// Wazuh and for in_list, a comment for a CIDR list).
func parseList(name, file string, data []byte) *List {
	l := &List{Name: name, File: file, m: map[string][]byte{}, lines: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '\r'); i >= 0 {
			line = line[:i]
		}
		t := strings.TrimSpace(line)
		comment := strings.HasPrefix(t, "#")
		key, value, why := splitListLine(line)
		if why != "" {
			if t != "" && !comment {
				l.warnings = append(l.warnings, listError(file, n, fmt.Errorf("%w: %s; Wazuh skips such a line too", ErrListLine, why)))
			}
			continue
		}
		if comment && !strings.HasPrefix(strings.TrimSpace(key), "#") {
			l.warnings = append(l.warnings, listError(file, n, fmt.Errorf(
				"%w %q: Wazuh reads the text between the first '\"' and the next one as a key when a ':' follows; "+
					"take the '\"' or the ':' out of the comment", ErrCommentKey, key)))
		}
		l.entries = append(l.entries, listEntry{key: key, value: []byte(value), line: n, comment: comment})
		if first, dup := l.lines[key]; dup {
			if !comment {
				l.warnings = append(l.warnings, listError(file, n, fmt.Errorf(
					"%w %q, first on line %d: the first value is kept, as Wazuh's lookup returns the first record", ErrDuplicateKey, key, first)))
			}
			continue
		}
		l.m[key] = []byte(value)
		l.keys = append(l.keys, key)
		l.lines[key] = n
	}
	return l
}

// splitListLine splits a line as Wazuh's Lists_OP_MakeCDB does: when the
// line has a '"' before its first ':', the key is the text between that
// quote and the next one (a format error without it), and the value
// starts after the first ':' past the closing quote; otherwise the key is
// the text before the first ':'. A value with a '"' is the text between
// its first two quotes (a format error without the second). A line without
// ':' has no key. why says why a line holds no key.
func splitListLine(line string) (key, value, why string) {
	rest := line
	quoted := false
	if q := strings.IndexByte(line, '"'); q >= 0 {
		if c := strings.IndexByte(line, ':'); c > q {
			end := strings.IndexByte(line[q+1:], '"')
			if end < 0 {
				return "", "", `the key's opening '"' is not closed`
			}
			key = line[q+1 : q+1+end]
			rest = line[q+1+end+1:]
			quoted = true
		}
	}
	c := strings.IndexByte(rest, ':')
	if c < 0 {
		return "", "", "no ':' between key and value"
	}
	if !quoted {
		key = rest[:c]
	}
	value = rest[c+1:]
	if q := strings.IndexByte(value, '"'); q >= 0 {
		end := strings.IndexByte(value[q+1:], '"')
		if end < 0 {
			return "", "", `the value's opening '"' is not closed`
		}
		value = value[q+1 : q+1+end]
	}
	return key, value, ""
}

// loadLists reads every file under dir of l.FS; a later layer's list of
// the same name replaces an earlier one (List.Replaces names it).
func loadLists(l Layer, into map[string]*List) error {
	dir := l.ListsDir
	if dir == "" {
		return nil
	}
	if _, err := fs.Stat(l.FS, dir); err != nil {
		return nil //nolint:nilerr // a layer without lists is fine
	}
	return fs.WalkDir(l.FS, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return inFile(l.file(p), err)
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		data, err := fs.ReadFile(l.FS, p)
		if err != nil {
			return inFile(l.file(p), err)
		}
		rel := strings.TrimPrefix(p, path.Clean(dir)+"/")
		nl := parseList(rel, l.file(p), data)
		if old, ok := into[rel]; ok {
			nl.Replaces = old.File
		}
		into[rel] = nl
		return nil
	})
}
