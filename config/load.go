package config

import (
	"bytes"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vpcalertd/vpcalertd/specfile"
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
	// DefaultRecordSize bounds a JSON record as a flow line is bounded
	// (64 KiB).
	DefaultRecordSize       = 1 << 20
	DefaultRecordFields     = 10000
	DefaultCrashesPerObject = 3
	DefaultAmplification    = 1000
	DefaultAlertsPath       = "/var/lib/vpcalertd/alerts.json"
)

// Load reads the configuration at path. A YAML file may name an ossec.conf
// (ossec_conf) whose aws-s3 wodle adds its buckets and module settings; a
// file that is itself XML is read as an ossec.conf, with defaults for
// everything else. All problems are returned at once (specfile.Join), each a
// *specfile.Error naming the file, the position and the key.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if isXML(data) {
		w, errs, warns := parseOssec(path, data)
		if w == nil {
			return nil, specfile.Join(errs...)
		}
		b := &builder{dir: filepath.Dir(path), errs: errs, warns: warns}
		return b.build(&fileSpec{}, nil, w)
	}
	spec, root, bad, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	b := &builder{file: path, root: root, dir: filepath.Dir(path), decoded: bad}
	var w *wodle
	if spec.OssecConf != "" {
		op := b.abs(spec.OssecConf)
		// A problem with the ossec.conf is reported with the YAML's.
		if odata, err := os.ReadFile(op); err != nil {
			b.errs = append(b.errs, &specfile.Error{Pos: b.pos("ossec_conf"), Key: "ossec_conf", Err: err})
		} else {
			var errs []error
			w, errs, b.warns = parseOssec(op, odata)
			b.errs = append(b.errs, errs...)
		}
	}
	return b.build(spec, root, w)
}

func isXML(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(t) > 0 && t[0] == '<'
}

// parseYAML decodes data strictly: unknown keys and values of the wrong
// type are reported with their position and key path (bad). err is a file
// that is not YAML; otherwise spec holds what could be decoded, so that
// the settings' checks report their problems with bad's.
func parseYAML(file string, data []byte) (spec *fileSpec, root *yaml.Node, bad []error, err error) {
	root, err = specfile.Parse(file, data)
	if err != nil {
		return nil, nil, nil, err
	}
	spec = &fileSpec{}
	if root == nil {
		return spec, nil, nil, nil
	}
	d := specfile.NewDecoder(file, data)
	d.Decode(root, "", spec)
	return spec, root, d.Errors(), nil
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
