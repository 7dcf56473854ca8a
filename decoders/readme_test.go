package decoders

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestReadmeFieldTable: the AWS field table of README.md lists exactly the
// field table of vpcflow.yml, with the same types and event keys.
func TestReadmeFieldTable(t *testing.T) {
	var spec struct {
		Steps []map[string]yaml.Node `yaml:"steps"`
	}
	require.NoError(t, yaml.Unmarshal(readFile(t, "../ruleset/decoders/vpcflow.yml"), &spec))
	var want []string
	for _, st := range spec.Steps {
		n, ok := st["columns"]
		if !ok {
			continue
		}
		var c struct {
			Fields map[string]string `yaml:"fields"`
		}
		require.NoError(t, n.Decode(&c))
		for name, typ := range c.Fields {
			want = append(want, name+" "+typ+" aws."+strings.ReplaceAll(name, "-", "_"))
		}
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\| [2-8] \\| (integer|ip|string) \\| `([a-z0-9_.]+)` \\|$")
	var got []string
	for _, m := range row.FindAllStringSubmatch(string(readFile(t, "README.md")), -1) {
		got = append(got, m[1]+" "+m[2]+" "+m[3])
	}
	sort.Strings(want)
	sort.Strings(got)
	assert.Equal(t, want, got)
	assert.Len(t, got, 58)
}
