package rules

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/decoders"
)

// shippedSchema is what the shipped decoders produce.
func shippedSchema(t *testing.T) *decoders.Set {
	t.Helper()
	set, err := decoders.Load(os.DirFS("../ruleset"), "decoders")
	require.NoError(t, err)
	return set
}

func loadWithFields(t *testing.T, dir, name string) *Set {
	t.Helper()
	tmp := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(tmp, "rules"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "rules", name), data, 0o644))
	s, err := Load([]Layer{
		{FS: os.DirFS("../ruleset"), RulesDir: "rules", ListsDir: "lists"},
		{FS: os.DirFS(tmp), RulesDir: "rules"},
	}, Options{Fields: shippedSchema(t).Schema()})
	require.NoError(t, err, "unknown fields do not fail Load")
	return s
}

// TestUnknownFields: every place a rule reads a field is checked, at the
// field's own line and column, with the nearest known name suggested.
func TestUnknownFields(t *testing.T) {
	s := loadWithFields(t, "testdata/fields", "unknown-fields.yml")
	var got []string
	for _, err := range s.FieldErrors() {
		assert.True(t, errors.Is(err, ErrUnknownField), err)
		got = append(got, err.Error())
	}
	const f = "rules/unknown-fields.yml:"
	want := []string{
		f + "6:40: rule 900200: condition: unknown field aws.srcadr, did you mean aws.srcaddr?\n" +
			` | integration == "aws" && aws.srcadr == "10.0.0.1" && has(aws.dstprot)` + "\n" +
			` | ........................^`,
		f + "6:72: rule 900200: condition: unknown field aws.dstprot, did you mean aws.dstport?\n" +
			` | integration == "aws" && aws.srcadr == "10.0.0.1" && has(aws.dstprot)` + "\n" +
			` | ........................................................^`,
		f + "12:13: rule 900201: condition: unknown field aws.log-status, did you mean aws.log_status?\n" +
			` | field("aws.log-status") == "OK" && world_open(aws.requestParamters)` + "\n" +
			` | ......^`,
		f + "13:18: rule 900201: condition: unknown field aws.requestParamters, did you mean aws.requestParameters?\n" +
			` | field("aws.log-status") == "OK" && world_open(aws.requestParamters)` + "\n" +
			` | ..............................................^`,
		f + "14:49: rule 900201: description: unknown field aws.dst_addr, did you mean aws.dstaddr?",
		f + "19:36: rule 900202: same_field: unknown field aws.interfaceid, did you mean aws.interface_id?",
		f + "20:36: rule 900202: different_field: unknown field srcaddr, did you mean aws.srcaddr?",
		f + "27:14: rule 900203: aggregate.field: unknown field aws.dst_port, did you mean aws.dstport?",
		f + "29:51: rule 900203: aggregate.same_field: unknown field aws.xyzzy: no decoder produces it " +
			"(if yours does, declare it in the decoder's produces, or in the rule's expect_fields)",
	}
	assert.Equal(t, want, got)
}

// TestShippedRulesReadKnownFields: the shipped rules read only fields the
// shipped decoders declare.
func TestShippedRulesReadKnownFields(t *testing.T) {
	s, err := Load([]Layer{{FS: os.DirFS("../ruleset"), RulesDir: "rules", ListsDir: "lists"}},
		Options{Fields: shippedSchema(t).Schema()})
	require.NoError(t, err)
	assert.Empty(t, s.FieldErrors())
}

// TestUnknownFieldsJoinLoadErrors: when loading fails for another reason,
// the unknown fields are reported with the rest, in one run.
func TestUnknownFieldsJoinLoadErrors(t *testing.T) {
	tmp := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "x.yml"), []byte(`rules:
  - id: "900300"
    level: 3
    if_sid: "999999"
    condition: aws.srcadr == "x"
    description: d
`), 0o644))
	_, err := Load([]Layer{{FS: os.DirFS("../ruleset"), RulesDir: "rules", ListsDir: "lists"}, {FS: os.DirFS(tmp), RulesDir: "."}},
		Options{Fields: shippedSchema(t).Schema()})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnknownParent)
	assert.ErrorIs(t, err, ErrUnknownField)
	assert.Contains(t, err.Error(), "x.yml:5:16: rule 900300: condition: unknown field aws.srcadr, did you mean aws.srcaddr?")
}
