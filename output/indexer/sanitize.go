package indexer

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/vpcalertd/vpcalertd/ojson"
)

// Template safety. OpenSearch rejects a whole document when one value does
// not fit its field's type (an IP field holding "-", a date field holding
// "none", an object where the template has a keyword, a keyword longer than
// Lucene's term limit). The Filebeat pipeline would lose such an alert; we
// repair the document instead:
//
//   - a value that does not fit its typed field is removed from that field
//     and kept, as a string (JSON text for objects and arrays), in a sibling
//     keyword field named after it with "_raw" appended
//     (data.aws.srcaddr: "-" becomes data.aws.srcaddr_raw: "-");
//   - a keyword value longer than 32766 bytes is cut to that many bytes at a
//     character boundary;
//   - the paths repaired or cut are listed in vpcalertd.repaired and
//     vpcalertd.truncated, so they can be found on the dashboard.
//
// Fields the template does not map are mapped dynamically (strings become
// keyword); their types are fixed by the first document that has them, so
// a later clash there (for example an object where an earlier alert had a
// string) can still be rejected: such documents go to the dead-letter file.

// sanitizer walks one document against the template's field tree.
type sanitizer struct {
	t         *ojson.Tree
	path      []string // member names from the root to the current node
	repaired  []string
	truncated []string
}

func (s *sanitizer) reset(t *ojson.Tree) {
	s.t = t
	s.path = s.path[:0]
	s.repaired = s.repaired[:0]
	s.truncated = s.truncated[:0]
}

// pathString is the dotted path of the current object's member last, or of
// the current node when last is empty.
func (s *sanitizer) pathString(last string) string {
	var b []byte
	for i, p := range s.path {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, p...)
	}
	if last != "" {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, last...)
	}
	return string(b)
}

// object checks the members of object node obj, whose mapping is f (nil:
// dynamic).
func (s *sanitizer) object(obj int32, f *fieldNode) {
	t := s.t
	prev := int32(-1)
	for c := t.First(obj); c >= 0; {
		next := t.Next(c)
		name := t.Name(c)
		cf := f.lookup(name)
		if f == nil {
			cf = nil
		}
		if s.fits(c, cf) {
			s.path = append(s.path, name)
			s.descend(c, cf)
			s.path = s.path[:len(s.path)-1]
			prev = c
		} else {
			prev = s.repair(obj, prev, c, name)
		}
		c = next
	}
}

// descend checks inside value c (an object, an array of objects, or
// strings that may be too long).
func (s *sanitizer) descend(c int32, f *fieldNode) {
	t := s.t
	switch t.Kind(c) {
	case ojson.Object:
		if f == nil || f.typ == ftObject || f.typ == ftNested {
			s.object(c, f)
		}
	case ojson.Array:
		for e := t.First(c); e >= 0; e = t.Next(e) {
			s.descend(e, f)
		}
	case ojson.String:
		if (f == nil || f.typ == ftKeyword) && len(t.Token(c)) > maxKeywordBytes+2 {
			v := t.Str(c)
			if len(v) > maxKeywordBytes {
				s.truncated = append(s.truncated, s.pathString(""))
				cut := truncateUTF8(v, maxKeywordBytes)
				t.SetToken(c, ojson.AppendQuoted(nil, cut))
			}
		}
	}
}

// fits reports whether value c can be indexed into field f. Objects under a
// typed object are checked member by member later; here only the shape and
// the scalar values count.
func (s *sanitizer) fits(c int32, f *fieldNode) bool {
	if f == nil {
		return true // dynamic: anything maps (clashes between documents aside)
	}
	t := s.t
	kind := t.Kind(c)
	switch kind {
	case ojson.Null:
		return true
	case ojson.Array:
		if f.typ == ftGeoPoint && s.geoArray(c) {
			return true
		}
		for e := t.First(c); e >= 0; e = t.Next(e) {
			if !s.fits(e, f) {
				return false
			}
		}
		return true
	case ojson.Object:
		switch f.typ {
		case ftObject, ftNested:
			return true
		case ftGeoPoint:
			return s.geoObject(c)
		}
		return false
	}
	return fitsScalar(kind, t.Text(c), f)
}

// fitsScalar reports whether a scalar of kind k and text v can be indexed
// into field f.
func fitsScalar(kind ojson.Kind, v []byte, f *fieldNode) bool {
	switch f.typ {
	case ftObject, ftNested:
		return false
	case ftKeyword, ftText:
		return true
	case ftLong:
		return kind != ojson.Bool && fitsInteger(v, math.MinInt64, math.MaxInt64)
	case ftInteger:
		return kind != ojson.Bool && fitsInteger(v, math.MinInt32, math.MaxInt32)
	case ftShort:
		return kind != ojson.Bool && fitsInteger(v, math.MinInt16, math.MaxInt16)
	case ftByte:
		return kind != ojson.Bool && fitsInteger(v, math.MinInt8, math.MaxInt8)
	case ftDouble:
		return kind != ojson.Bool && fitsFloat(v, math.MaxFloat64)
	case ftFloat:
		return kind != ojson.Bool && fitsFloat(v, math.MaxFloat32)
	case ftBoolean:
		return fitsBoolean(v)
	case ftDate:
		return kind != ojson.Bool && fitsDate(v, f.lenientDate, f.noEpoch)
	case ftIP:
		return kind == ojson.String && fitsIP(v)
	case ftGeoPoint:
		return kind == ojson.String && geoString(v)
	}
	return false
}

// geoObject accepts {"lat": n, "lon": n} with numbers or numeric strings in
// range.
func (s *sanitizer) geoObject(c int32) bool {
	t := s.t
	lat, _ := t.Member(c, "lat")
	lon, _ := t.Member(c, "lon")
	return t.Count(c) == 2 && lat >= 0 && lon >= 0 && s.coord(lat, 90) && s.coord(lon, 180)
}

// geoArray accepts [lon, lat].
func (s *sanitizer) geoArray(c int32) bool {
	t := s.t
	lon := t.First(c)
	if lon < 0 {
		return false
	}
	lat := t.Next(lon)
	return lat >= 0 && t.Next(lat) < 0 && t.Kind(lon) == ojson.Number &&
		t.Kind(lat) == ojson.Number && s.coord(lat, 90) && s.coord(lon, 180)
}

func (s *sanitizer) coord(c int32, max float64) bool {
	k := s.t.Kind(c)
	if k != ojson.Number && k != ojson.String {
		return false
	}
	v := s.t.Text(c)
	f, err := strconv.ParseFloat(string(v), 64)
	return err == nil && numericLiteral(v) && math.Abs(f) <= max
}

// geoString accepts "lat,lon" and geohashes.
func geoString(v []byte) bool {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		lat, lon := bytes.TrimSpace(v[:i]), bytes.TrimSpace(v[i+1:])
		return fitsFloat(lat, 90) && fitsFloat(lon, 180)
	}
	if len(v) == 0 || len(v) > 12 {
		return false
	}
	for _, c := range v {
		if bytes.IndexByte([]byte(geohashChars), c) < 0 {
			return false
		}
	}
	return true
}

// repair moves member c of obj (which did not fit) into a sibling keyword
// field "<name>_raw" holding its text, and returns the node now in c's
// place.
func (s *sanitizer) repair(obj, prev, c int32, name string) int32 {
	t := s.t
	s.repaired = append(s.repaired, s.pathString(name))
	var text []byte
	if t.Kind(c) == ojson.String {
		text = append(text, t.Str(c)...)
	} else {
		text = t.Encode(nil, c)
	}
	text = truncateUTF8(text, maxKeywordBytes)
	rawName := append(append([]byte(nil), name...), "_raw"...)
	for i := 2; ; i++ {
		if m, _ := t.Member(obj, string(rawName)); m < 0 {
			break
		}
		rawName = strconv.AppendInt(append(append(rawName[:0], name...), "_raw"...), int64(i), 10)
	}
	r := t.NewNode(ojson.String, ojson.AppendQuoted(nil, text))
	t.SetName(r, string(rawName))
	t.InsertAfter(obj, c, r)
	t.Unlink(obj, prev, c)
	return r
}

// truncateUTF8 cuts b to at most n bytes without splitting a character.
func truncateUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	return b
}
