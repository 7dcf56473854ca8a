package indexertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// value is a decoded JSON value: string, json.Number, bool, nil, []value or
// *object. Objects keep their member order.
type value = any

type member struct {
	Key   string
	Value value
}

type object struct {
	Members []member
}

func (o *object) get(key string) (value, bool) {
	for _, m := range o.Members {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// decodeStrict decodes one JSON value as OpenSearch's parser does: numbers
// kept as written, duplicate keys rejected, nothing after the value.
func decodeStrict(data []byte) (value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the document")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (value, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				if seen[k] {
					return nil, fmt.Errorf("Duplicate field '%s'", k)
				}
				seen[k] = true
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				o.Members = append(o.Members, member{k, v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			arr := []value{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return tok, nil
	}
}

// toAny converts to plain maps and slices (for pipelines).
func toAny(v value) any {
	switch t := v.(type) {
	case *object:
		m := make(map[string]any, len(t.Members))
		for _, mb := range t.Members {
			m[mb.Key] = toAny(mb.Value)
		}
		return m
	case []value:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = toAny(e)
		}
		return out
	default:
		return t
	}
}

// encode writes v as compact JSON keeping member order.
func encode(buf *bytes.Buffer, v value) {
	switch t := v.(type) {
	case *object:
		buf.WriteByte('{')
		for i, m := range t.Members {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(m.Key)
			buf.Write(k)
			buf.WriteByte(':')
			encode(buf, m.Value)
		}
		buf.WriteByte('}')
	case []value:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			encode(buf, e)
		}
		buf.WriteByte(']')
	default:
		b, _ := json.Marshal(t)
		buf.Write(b)
	}
}
