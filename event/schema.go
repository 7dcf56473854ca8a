package event

import (
	"sort"
	"strings"
)

// Schema is the set of field names events can carry: what a decoder
// declares it produces (decoders.Set.Schema), so that a rule naming a field
// no decoder makes is caught at load instead of never matching. A Schema
// holds exact names ("aws.srcaddr"), the objects above them ("aws"), and
// open subtrees ("aws.requestParameters.*": any name below is accepted,
// for free-form parts of a record). Names compare case-insensitively, as
// Wazuh's FindField does. A Schema is built at load time and read-only
// afterwards.
type Schema struct {
	fields  map[string]string // lower-case name → name as declared
	objects map[string]string // lower-case object path → path as declared
	open    map[string]string // lower-case subtree path → path as declared
	all     bool              // every name is known ("*")
}

// NewSchema returns an empty Schema.
func NewSchema() *Schema {
	return &Schema{fields: map[string]string{}, objects: map[string]string{}, open: map[string]string{}}
}

// OpenSuffix marks an open subtree in a declared name: "aws.tags.*".
const OpenSuffix = ".*"

// Declare adds a declared name: "a.b" (a field), "a.b.*" (everything below
// a.b) or "*" (every name).
func (s *Schema) Declare(name string) {
	switch {
	case name == "*":
		s.all = true
	case strings.HasSuffix(name, OpenSuffix):
		s.AddOpen(strings.TrimSuffix(name, OpenSuffix))
	default:
		s.Add(name)
	}
}

// Add adds a field and the objects above it.
func (s *Schema) Add(name string) {
	s.fields[strings.ToLower(name)] = name
	s.addParents(name)
}

// AddOpen adds a subtree in which every name is known.
func (s *Schema) AddOpen(path string) {
	s.open[strings.ToLower(path)] = path
	s.addParents(path)
}

func (s *Schema) addParents(name string) {
	for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
		p := name[:i]
		s.objects[strings.ToLower(p)] = p
	}
}

// AddAll makes every name known (a decoder that declares nothing precise).
func (s *Schema) AddAll() { s.all = true }

// Remove drops a name and everything below it.
func (s *Schema) Remove(name string) {
	low := strings.ToLower(name)
	for _, m := range []map[string]string{s.fields, s.objects, s.open} {
		for k := range m {
			if k == low || strings.HasPrefix(k, low+".") {
				delete(m, k)
			}
		}
	}
}

// Rename moves a name and everything below it to another path.
func (s *Schema) Rename(from, to string) {
	low := strings.ToLower(from)
	var moved [][2]string // declared name, kind: "f" field or "o" open
	for k, v := range s.fields {
		if k == low || strings.HasPrefix(k, low+".") {
			moved = append(moved, [2]string{to + v[len(from):], "f"})
		}
	}
	for k, v := range s.open {
		if k == low || strings.HasPrefix(k, low+".") {
			moved = append(moved, [2]string{to + v[len(from):], "o"})
		}
	}
	s.Remove(from)
	for _, m := range moved {
		if m[1] == "f" {
			s.Add(m[0])
		} else {
			s.AddOpen(m[0])
		}
	}
}

// Merge adds every name of o.
func (s *Schema) Merge(o *Schema) {
	s.all = s.all || o.all
	for k, v := range o.fields {
		s.fields[k] = v
	}
	for k, v := range o.objects {
		s.objects[k] = v
	}
	for k, v := range o.open {
		s.open[k] = v
	}
}

// Known reports whether name is a declared field, an object holding
// declared fields, or a name inside an open subtree.
func (s *Schema) Known(name string) bool {
	if s.all {
		return true
	}
	low := strings.ToLower(name)
	if _, ok := s.fields[low]; ok {
		return true
	}
	if _, ok := s.objects[low]; ok {
		return true
	}
	for p := low; ; {
		if _, ok := s.open[p]; ok {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// Len returns the number of declared fields and open subtrees.
func (s *Schema) Len() int { return len(s.fields) + len(s.open) }

// Names returns the declared fields and open subtrees ("path.*") as
// declared, sorted case-insensitively; "*" when every name is known.
func (s *Schema) Names() []string {
	out := make([]string, 0, s.Len()+1)
	if s.all {
		out = append(out, "*")
	}
	for _, v := range s.fields {
		out = append(out, v)
	}
	for _, v := range s.open {
		out = append(out, v+OpenSuffix)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out
}

// Nearest returns the known name closest to an unknown one, for a "did you
// mean" hint: the fewest single-character edits (at most a quarter of the
// name, at least 2), else a field with the same last segment under another
// object ("srcaddr" → "aws.srcaddr"). It returns "" when nothing is close.
func (s *Schema) Nearest(name string) string {
	low := strings.ToLower(name)
	limit := max(2, len(low)/4)
	best, bestD := "", limit+1
	consider := func(m map[string]string) {
		for k, v := range m {
			if d := editDistance(low, k, bestD+1); d < bestD || d == bestD && best != "" && v < best {
				best, bestD = v, d
			}
		}
	}
	consider(s.fields)
	consider(s.open)
	consider(s.objects)
	if best != "" {
		return best
	}
	last := low[strings.LastIndexByte(low, '.')+1:]
	var same []string
	for k, v := range s.fields {
		if k[strings.LastIndexByte(k, '.')+1:] == last {
			same = append(same, v)
		}
	}
	if len(same) == 0 {
		return ""
	}
	sort.Strings(same)
	return same[0]
}

// editDistance returns the Levenshtein distance of a and b, or a value ≥
// bound as soon as it must exceed bound − 1.
func editDistance(a, b string, bound int) int {
	if d := len(a) - len(b); d >= bound || -d >= bound {
		return bound
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= bound {
			return bound
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
