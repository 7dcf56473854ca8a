package decoders

import (
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/specfile"
)

func TestLoadRuleset(t *testing.T) {
	set := loadRuleset(t)
	assert.Equal(t, []string{"cloudtrail", "vpcflow", "wazuh-json"}, set.Names())
	assert.Equal(t, []string{"1:Wazuh-AWS:"}, set.prefixes)
}

// TestLoadBad loads each file of testdata/bad alone and compares every
// message, positions included.
func TestLoadBad(t *testing.T) {
	want := map[string][]string{
		"unknown-key.yml": {
			`bad/unknown-key.yml:6:10: decoder unknown-key: steps[0].set: one of value or origin is required`,
			`bad/unknown-key.yml:6:31: decoder unknown-key: steps[0].set: unknown key "valeu", did you mean "value"? (expected one of [field origin value])`,
		},
		"unknown-step.yml": {
			`bad/unknown-step.yml:6:5: decoder unknown-step: steps[0]: unknown step kind "sett" (expected one of [columns copy drop_nulls epoch_to_utc event_time parse_json remove rename set unwrap_lists wrap])`,
		},
		"bad-when.yml": {
			"bad/bad-when.yml:3:32: decoder bad-when: inputs[0].when: unknown name contnet\n | type == \"vpcflow\" && contnet.json\n | .....................^",
			// A folded block: the position is mapped back to the source line.
			"bad/bad-when.yml:7:18: decoder bad-when: inputs[1].when: unexpected token EOF\n | type == \"cloudtrail\" || type == (\"x\"\n | ...................................^",
			"bad/bad-when.yml:9:11: decoder bad-when: inputs[2].when: expected bool, but got string",
		},
		"missing-name.yml": {
			"bad/missing-name.yml:1:1: missing name",
			"bad/missing-name.yml:2:5: inputs[0]: missing framing (one of [json_array json_lines lines parquet])",
		},
		"bad-field-table.yml": {
			`bad/bad-field-table.yml:8:15: decoder bad-field-table: steps[0].columns.header: expected true or false, got "maybe"`,
			`bad/bad-field-table.yml:9:23: decoder bad-field-table: steps[0].columns.default_format: bad format token "$srcaddr" (expected ${field-name})`,
			`bad/bad-field-table.yml:11:18: decoder bad-field-table: steps[0].columns.fields.version: unknown type "integr" (expected one of [integer ip string])`,
			`bad/bad-field-table.yml:12:9: decoder bad-field-table: steps[0].columns.fields: invalid field name "Account_ID" (lower-case letters, digits and single hyphens)`,
			`bad/bad-field-table.yml:13:18: decoder bad-field-table: steps[0].columns.fields.srcaddr: expected a type name`,
		},
		"record-steps.yml": {
			"bad/record-steps.yml:3:5: decoder record-steps: inputs[0]: json_array needs array (the member holding the records) or bare_array: true",
			"bad/record-steps.yml:6:51: decoder record-steps: steps[0].set.origin: value and origin are exclusive",
			"bad/record-steps.yml:7:10: decoder record-steps: steps[1].set: one of value or origin is required",
			`bad/record-steps.yml:8:18: decoder record-steps: steps[2].set.field: invalid field name "aws..y": empty segment`,
			`bad/record-steps.yml:8:34: decoder record-steps: steps[2].set.origin: unknown origin value "acount_id" (expected one of [account_alias account_id bucket key path region type])`,
			"bad/record-steps.yml:9:14: decoder record-steps: steps[3].columns: columns cannot read records framed as json_array",
			"bad/record-steps.yml:10:17: decoder record-steps: steps[4].parse_json: a decoder has exactly one record step (columns or parse_json); this is the second",
		},
		"bad-values.yml": {
			`bad/bad-values.yml:1:7: decoder bad values!: name: invalid name "bad values!" (letters, digits, '-' and '_')`,
			"bad/bad-values.yml:4:14: decoder bad values!: inputs[0].framing: array and bare_array apply to json_array framing only",
			`bad/bad-values.yml:8:14: decoder bad values!: inputs[1].framing: unknown framing "xml" (expected one of [json_array json_lines lines parquet])`,
			"bad/bad-values.yml:11:43: decoder bad values!: steps[1].copy.regex: error parsing regexp: missing closing ): `(`",
			`bad/bad-values.yml:11:55: decoder bad values!: steps[1].copy.kinds: unknown kind "text" (expected one of [array bool null number string])`,
			`bad/bad-values.yml:12:31: decoder bad values!: steps[2].wrap.key: key "a.b" must be one name, without dots`,
			"bad/bad-values.yml:13:17: decoder bad values!: steps[3].event_time: fields: at least one field is required",
			`bad/bad-values.yml:13:38: decoder bad values!: steps[3].event_time.format: unknown time format "iso" (expected one of [rfc3339 unix])`,
			"bad/bad-values.yml:14:19: decoder bad values!: steps[4].epoch_to_utc.fields[1]: missing field name",
			`bad/bad-values.yml:15:31: decoder bad values!: steps[5].rename.to: cannot rename "aws.a" into its own member or parent "aws.a.b"`,
			`bad/bad-values.yml:16:25: decoder bad values!: steps[6].drop_nulls.under: invalid field name "aws.": empty segment`,
			"bad/bad-values.yml:17:19: decoder bad values!: steps[7].unwrap_lists: expected a mapping",
			"bad/bad-values.yml:18:13: decoder bad values!: steps[8].remove.field: missing field name",
		},
		"no-record-step.yml": {
			"bad/no-record-step.yml:2:9: decoder no-record-step: inputs: at least one input is required",
			"bad/no-record-step.yml:4:3: decoder no-record-step: steps: no record step: one columns or parse_json step must read the record",
			"bad/no-record-step.yml:5:5: decoder no-record-step: steps[1]: a step is a mapping with exactly one key, the step kind (one of [columns copy drop_nulls epoch_to_utc event_time parse_json remove rename set unwrap_lists wrap])",
			"bad/no-record-step.yml:6:5: decoder no-record-step: steps[2]: a step is a mapping with exactly one key, the step kind (one of [columns copy drop_nulls epoch_to_utc event_time parse_json remove rename set unwrap_lists wrap])",
		},
		// yaml.v3 gives a line only, and the line where the block began.
		"syntax-error.yml": {
			"bad/syntax-error.yml:4: did not find expected '-' indicator (check the indentation of this line against the lines above it)",
		},
		"not-a-mapping.yml": {
			"bad/not-a-mapping.yml:1:1: expected a mapping",
		},
	}
	entries, err := os.ReadDir("testdata/bad")
	require.NoError(t, err)
	require.Len(t, entries, len(want), "every bad file has its expected messages")
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			data := readFile(t, "testdata/bad/"+e.Name())
			_, err := Load(fstest.MapFS{"bad/" + e.Name(): {Data: data}}, "bad")
			require.Error(t, err)
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var le *specfile.Error
				require.ErrorAs(t, e, &le)
				got = append(got, e.Error())
			}
			assert.Equal(t, want[e.Name()], got)
		})
	}
}

// TestLoadAcrossFiles covers the checks that span files.
func TestLoadAcrossFiles(t *testing.T) {
	good := readFile(t, "../ruleset/decoders/wazuh-json.yml")
	_, err := Load(fstest.MapFS{"d/a.yml": {Data: good}, "d/b.yml": {Data: good}}, "d")
	assert.EqualError(t, err, "d/b.yml:6:7: decoder wazuh-json: name: duplicate decoder name, first declared in d/a.yml")

	_, err = Load(fstest.MapFS{"d/readme.md": {Data: []byte("x")}}, "d")
	assert.EqualError(t, err, "d: no decoder files (*.yml)")

	// Every problem of every file comes back at once.
	bad := fstest.MapFS{}
	for _, n := range []string{"unknown-key.yml", "missing-name.yml"} {
		bad["d/"+n] = &fstest.MapFile{Data: readFile(t, "testdata/bad/"+n)}
	}
	bad["d/ok.yml"] = &fstest.MapFile{Data: good}
	_, err = Load(bad, "d")
	require.Error(t, err)
	assert.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 4)
	var le *specfile.Error
	assert.True(t, errors.As(err, &le))
	assert.True(t, strings.HasPrefix(err.Error(), "d/missing-name.yml:1:1: missing name\n"))
}
