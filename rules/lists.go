package rules

import (
	"bufio"
	"bytes"
	"io/fs"
	"path"
	"strings"
)

// List is a Wazuh CDB list in its text form: key:value lines
// (reference/wazuh.md §3.6). Lookups are exact and case-sensitive.
type List struct {
	Name string // path relative to the lists directory, e.g. "amazon/aws-eventnames"
	m    map[string][]byte
	keys []string // in file order
}

// Lookup returns the value of key and whether key is in the list.
func (l *List) Lookup(key []byte) ([]byte, bool) {
	v, ok := l.m[string(key)]
	return v, ok
}

// Len returns the number of keys.
func (l *List) Len() int { return len(l.m) }

// parseList reads Wazuh's list text form as lists_make.c does: one
// key:value per line, split at the first ':' that is not inside a quoted
// key, quotes around key or value removed, CR/LF stripped, lines without
// ':' ignored. A later duplicate key keeps the first value, as cdb_make
// lookups return the first record.
func parseList(name string, data []byte) *List {
	l := &List{Name: name, m: map[string][]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r\n")
		key, value, ok := splitListLine(line)
		if !ok {
			continue
		}
		if _, dup := l.m[key]; !dup {
			l.m[key] = []byte(value)
			l.keys = append(l.keys, key)
		}
	}
	return l
}

func splitListLine(line string) (key, value string, ok bool) {
	if strings.HasPrefix(line, `"`) {
		end := strings.Index(line[1:], `"`)
		if end >= 0 && len(line) > end+2 && line[end+2] == ':' {
			return line[1 : end+1], unquote(line[end+3:]), true
		}
	}
	i := strings.IndexByte(line, ':')
	if i < 0 {
		return "", "", false
	}
	return line[:i], unquote(line[i+1:]), true
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// loadLists reads every file under dir of fsys; a later layer's list of
// the same name replaces an earlier one.
func loadLists(fsys fs.FS, dir string, into map[string]*List) error {
	if dir == "" {
		return nil
	}
	if _, err := fs.Stat(fsys, dir); err != nil {
		return nil //nolint:nilerr // a layer without lists is fine
	}
	return fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return inFile(p, err)
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return inFile(p, err)
		}
		rel := strings.TrimPrefix(p, path.Clean(dir)+"/")
		into[rel] = parseList(rel, data)
		return nil
	})
}
