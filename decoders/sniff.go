package decoders

import (
	"bytes"
	"encoding/json"
)

// content is what an input's when condition can see of a stream whose log
// type is unknown (origin.Type empty): a look at its first bytes, after
// decompression and after any strip_prefix that some input of the set
// declares. For a known type it is the zero value.
type content struct {
	// Prefix is the strip_prefix the stream starts with, if any.
	Prefix string `expr:"prefix"`
	// Empty is set for a stream without a single byte.
	Empty bool `expr:"empty"`
	// JSON is set when the first non-blank byte opens an object.
	JSON bool `expr:"json"`
	// Array is set when the first non-blank byte opens an array.
	Array bool `expr:"array"`
	// Text is set for any other non-empty stream.
	Text bool `expr:"text"`
	// Keys are the member names of the first object (of the first element
	// for an array), as far as the sniff window reaches.
	Keys []string `expr:"keys"`
}

// sniffBytes is how much of a stream is looked at.
const sniffBytes = 64 << 10

const maxSniffKeys = 64

func sniff(b []byte, prefixes []string) content {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	i := skipSpace(b, 0)
	if i == len(b) {
		return content{Empty: len(b) == 0, Text: len(b) > 0}
	}
	var c content
	for _, p := range prefixes {
		if bytes.HasPrefix(b[i:], []byte(p)) {
			c.Prefix = p
			i = skipSpace(b, i+len(p))
			break
		}
	}
	switch {
	case i < len(b) && b[i] == '{':
		c.JSON, c.Keys = true, objectKeys(b[i:])
	case i < len(b) && b[i] == '[':
		c.Array = true
		if j := skipSpace(b, i+1); j < len(b) && b[j] == '{' {
			c.Keys = objectKeys(b[j:])
		}
	default:
		c.Text = true
	}
	return c
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// objectKeys returns the member names of the object b starts with, as far
// as b reaches, without decoding the values.
func objectKeys(b []byte) []string {
	var keys []string
	i := 1
	for len(keys) < maxSniffKeys {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] == '}' {
			return keys
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '"' {
			return keys
		}
		end := skipString(b, i)
		if end < 0 {
			return keys
		}
		var k string
		if json.Unmarshal(b[i:end], &k) != nil {
			return keys
		}
		keys = append(keys, k)
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return keys
		}
		if i = skipJSONValue(b, skipSpace(b, i+1)); i < 0 {
			return keys
		}
	}
	return keys
}

// skipString returns the index after the string starting at b[i], or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipJSONValue returns the index after the value starting at b[i], or -1
// when b ends first.
func skipJSONValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = skipString(b, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	for j := i; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return -1
}
