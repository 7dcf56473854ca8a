package indexer

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
)

// fieldTypesText lists every field of Wazuh's wazuh-alerts-4.x template with
// its type, one "path type [date format]" per line. It is generated from the
// verbatim template in testdata/ (TestFieldTypesFile, -update rewrites it).
//
//go:embed fieldtypes.txt
var fieldTypesText string

// ftype is a field type of the template.
type ftype uint8

const (
	ftObject ftype = iota + 1
	ftNested
	ftKeyword
	ftText
	ftLong
	ftInteger
	ftShort
	ftByte
	ftDouble
	ftFloat
	ftBoolean
	ftDate
	ftIP
	ftGeoPoint
)

var ftypeNames = map[string]ftype{
	"object": ftObject, "nested": ftNested, "keyword": ftKeyword, "text": ftText,
	"long": ftLong, "integer": ftInteger, "short": ftShort, "byte": ftByte,
	"double": ftDouble, "float": ftFloat, "boolean": ftBoolean, "date": ftDate,
	"ip": ftIP, "geo_point": ftGeoPoint,
}

func (t ftype) String() string {
	for name, v := range ftypeNames {
		if v == t {
			return name
		}
	}
	return fmt.Sprintf("ftype(%d)", uint8(t))
}

// fieldNode is one path segment of the template's mapping. A nil *fieldNode
// is a field the template does not map: OpenSearch maps it dynamically
// (strings become keyword through the template's dynamic template).
type fieldNode struct {
	typ ftype
	// lenientDate is set for date fields whose format is
	// date_optional_time[||epoch_millis] rather than the default
	// strict_date_optional_time||epoch_millis; noEpoch when epoch_millis is
	// not among the formats.
	lenientDate bool
	noEpoch     bool
	kids        map[string]*fieldNode
}

func (f *fieldNode) child(name string) *fieldNode {
	if f == nil || f.kids == nil {
		return nil
	}
	return f.kids[name]
}

// lookup follows a member name, splitting it at dots as OpenSearch does.
func (f *fieldNode) lookup(name string) *fieldNode {
	for {
		if f == nil {
			return nil
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return f.child(name)
		}
		f, name = f.child(name[:i]), name[i+1:]
	}
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// templateFields returns the root of the template's field tree.
var templateFields = sync.OnceValue(func() *fieldNode {
	root, err := parseFieldTypes(fieldTypesText)
	if err != nil {
		panic(fmt.Sprintf("indexer: embedded fieldtypes.txt: %v", err)) // a build error, caught by tests
	}
	return root
})

func parseFieldTypes(text string) (*fieldNode, error) {
	root := &fieldNode{typ: ftObject, kids: map[string]*fieldNode{}}
	for i, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("line %d: expected \"path type [format]\"", i+1)
		}
		typ, ok := ftypeNames[parts[1]]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown type %q", i+1, parts[1])
		}
		n := root
		for _, seg := range strings.Split(parts[0], ".") {
			if n.kids == nil {
				n.kids = map[string]*fieldNode{}
			}
			c := n.kids[seg]
			if c == nil {
				c = &fieldNode{typ: ftObject}
				n.kids[seg] = c
			}
			n = c
		}
		n.typ = typ
		if len(parts) == 3 {
			if typ != ftDate {
				return nil, fmt.Errorf("line %d: a format is only for dates", i+1)
			}
			switch parts[2] {
			case "date_optional_time||epoch_millis":
				n.lenientDate = true
			case "date_optional_time":
				n.lenientDate, n.noEpoch = true, true
			case "strict_date_optional_time||epoch_millis":
			default:
				return nil, fmt.Errorf("line %d: unsupported date format %q", i+1, parts[2])
			}
		}
	}
	return root, nil
}
