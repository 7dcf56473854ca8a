package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of the settings the configuration leaves out.
const (
	DefaultInterval         = 10 * time.Minute
	DefaultLookBack         = 24 * time.Hour
	DefaultConcurrency      = 4
	DefaultProgressInterval = 10 * time.Second
	DefaultShutdownGrace    = 10 * time.Second
	// DefaultQueueMarksRetention is SQS's default message retention.
	DefaultQueueMarksRetention = 4 * 24 * time.Hour
	DefaultStatePath           = "/var/lib/vpcalertd/state.db"
	DefaultAlertsPath          = "/var/lib/vpcalertd/alerts.json"
)

// Error is one problem in a configuration: where (file:line:col), which key,
// and what is wrong.
type Error struct {
	Pos string // "file:line:col" or "file:line"
	Key string // e.g. buckets[1].regions
	Msg string
}

func (e *Error) Error() string {
	switch {
	case e.Key == "":
		return e.Pos + ": " + e.Msg
	case e.Pos == "":
		return e.Key + ": " + e.Msg
	}
	return e.Pos + ": " + e.Key + ": " + e.Msg
}

// Load reads the configuration at path. A YAML file may name an ossec.conf
// (ossec_conf) whose aws-s3 wodle adds its buckets and module settings; a
// file that is itself XML is read as an ossec.conf, with defaults for
// everything else. All problems are returned at once, joined.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if isXML(data) {
		w, err := parseOssec(path, data)
		if err != nil {
			return nil, err
		}
		b := &builder{dir: filepath.Dir(path)}
		return b.build(&fileSpec{}, nil, w)
	}
	spec, root, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	b := &builder{file: path, root: root, dir: filepath.Dir(path)}
	var w *wodle
	if spec.OssecConf != "" {
		op := b.abs(spec.OssecConf)
		odata, err := os.ReadFile(op)
		if err != nil {
			return nil, &Error{Pos: b.pos("ossec_conf"), Key: "ossec_conf", Msg: err.Error()}
		}
		if w, err = parseOssec(op, odata); err != nil {
			return nil, err
		}
	}
	return b.build(spec, root, w)
}

func isXML(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(t) > 0 && t[0] == '<'
}

// parseYAML decodes data strictly. Unknown keys and values of the wrong
// type are reported with their position and key path before decoding.
func parseYAML(file string, data []byte) (*fileSpec, *yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	spec := &fileSpec{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return spec, nil, nil
	}
	root := doc.Content[0]
	var errs []error
	checkNode(file, root, reflect.TypeOf(fileSpec{}), "", &errs)
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(spec); err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	return spec, root, nil
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// checkNode compares a YAML node with the Go type it decodes into: every
// mapping key must be a field's yaml tag, and every value must decode.
func checkNode(file string, n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	report := func(n *yaml.Node, msg string) {
		*errs = append(*errs, &Error{Pos: nodePos(file, n), Key: path, Msg: msg})
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Tag == "!!null" {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			report(n, err.Error())
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			report(n, "expected a mapping of keys")
			return
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag != "" && tag != "-" {
				fields[tag] = t.Field(i).Type
				names = append(names, tag)
			}
		}
		sort.Strings(names)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &Error{Pos: nodePos(file, k), Key: joinKey(path, k.Value),
					Msg: fmt.Sprintf("unknown key (accepted: %s)", strings.Join(names, ", "))})
				continue
			}
			checkNode(file, v, ft, joinKey(path, k.Value), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			report(n, "expected a list")
			return
		}
		for i, c := range n.Content {
			checkNode(file, c, t.Elem(), path+"["+strconv.Itoa(i)+"]", errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			report(n, "expected a single value")
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			switch t.Kind() {
			case reflect.Bool:
				report(n, fmt.Sprintf("expected yes/no (or true/false), got %q", n.Value))
			case reflect.Int, reflect.Int64:
				report(n, fmt.Sprintf("expected a whole number, got %q", n.Value))
			default:
				report(n, err.Error())
			}
		}
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func nodePos(file string, n *yaml.Node) string {
	return fmt.Sprintf("%s:%d:%d", file, n.Line, n.Column)
}

// nodeAt returns the value node at path (string keys, int indexes), or the
// deepest node found on the way.
func nodeAt(root *yaml.Node, path ...any) (n *yaml.Node, key bool) {
	n = root
	for _, p := range path {
		switch p := p.(type) {
		case string:
			found := false
			for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					n, found = n.Content[i+1], true
					break
				}
			}
			if !found {
				return n, false
			}
		case int:
			if n.Kind != yaml.SequenceNode || p >= len(n.Content) {
				return n, false
			}
			n = n.Content[p]
		}
	}
	return n, true
}
