package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadFile loads one test file as a layer after the shipped ruleset.
func loadFile(t *testing.T, dir, name string) (*Set, error) {
	t.Helper()
	tmp := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(tmp, "rules"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "rules", name), data, 0o644))
	return Load([]Layer{
		{FS: os.DirFS("../ruleset"), RulesDir: "rules", ListsDir: "lists"},
		{FS: os.DirFS(tmp), RulesDir: "rules"},
	}, Options{})
}

func TestBadRuleFiles(t *testing.T) {
	cases := map[string][]string{
		"unknown-field.yml":                {`rules/unknown-field.yml:3:5: rule 100: unknown key "levle", did you mean "level"? (expected one of [aggregate condition description`},
		"duplicate-id.yml":                 {`rules/duplicate-id.yml:5:9: rule 100: id: duplicate rule id (first defined at rules/duplicate-id.yml:2); use overwrite: true to replace it`},
		"unknown-parent.yml":               {`rules/unknown-parent.yml:4:13: rule 100: if_sid: unknown parent rule 99999`},
		"cycle.yml":                        {`rules/cycle.yml:4:13: rule 100: if_sid: rule parents form a cycle through rule 100`},
		"unknown-list.yml":                 {`rules/unknown-list.yml:4:16: rule 100: condition: unknown list "amazon/nope"`, "\n | in_list(\"amazon/nope\", aws.eventName)\n | ^"},
		"bad-template.yml":                 {`rules/bad-template.yml:4:18: rule 100: description: bad description template: "$(" without ")"`},
		"bad-regex.yml":                    {"rules/bad-regex.yml:4:16: rule 100: condition: bad pattern: os_regex \"a\\\\x\": unknown escape \\x"},
		"expr-syntax.yml":                  {`rules/expr-syntax.yml:6:18: rule 100: condition: unexpected token Operator("==")`, "\n |   aws.y == == \"b\"\n | ...........^"},
		"expr-type.yml":                    {`rules/expr-type.yml:4:31: rule 100: condition: cannot use int as argument (type string) to call osregex`},
		"frequency-without-if-matched.yml": {`rules/frequency-without-if-matched.yml:2:5: rule 100: if_matched_sid: frequency, timeframe, same_field, different_field and time need if_matched_sid`},
		"bad-level.yml": {
			`rules/bad-level.yml:3:12: rule 100: level: level 20 is outside 0–16`,
			`rules/bad-level.yml:4:14: rule 100: options: unknown option "nofulllog"`,
		},
		"unknown-mitre.yml":      {`rules/unknown-mitre.yml:4:12: rule 100: mitre: unknown MITRE technique "T0000" (add it to mitre.yml)`},
		"level-not-a-number.yml": {`rules/level-not-a-number.yml:3:12: rule 100: level: expected a whole number, got "abc"`},
		"yaml-syntax.yml":        {"rules/yaml-syntax.yml:4: did not find expected '-' indicator (check the indentation of this line against the lines above it)"},
		"overwrite-missing.yml":  {`rules/overwrite-missing.yml:4:16: rule 100: overwrite: no earlier rule with this id to overwrite`},
		"folded-condition.yml":   {`rules/folded-condition.yml:6:7: rule 900100: condition: unknown function is_privat, expected a helper (cidr_list_value, cidr_match,`},
		"pack-parent.yml":        {`rules/pack-parent.yml:5:13: rule 900100: if_sid: parent in another pack: rule 900100 is in pack my-pack, rule 80401 in the stock rules (no pack)`},
		"bad-aggregate.yml":      {`rules/bad-aggregate.yml:7:13: rule 900100: aggregate.kind: unknown kind "median", expected one of [count distinct sum]`},
	}
	entries, err := os.ReadDir("testdata/bad")
	require.NoError(t, err)
	require.Len(t, entries, len(cases), "every bad file has expected messages")
	for name, want := range cases {
		t.Run(strings.TrimSuffix(name, ".yml"), func(t *testing.T) {
			_, err := loadFile(t, "testdata/bad", name)
			require.Error(t, err)
			for _, w := range want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestGoodRuleFiles(t *testing.T) {
	entries, err := os.ReadDir("testdata/good")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			s, err := loadFile(t, "testdata/good", e.Name())
			require.NoError(t, err)
			for _, r := range s.RunTests(testDecode, t0) {
				assert.True(t, r.Pass, r.String())
			}
		})
	}
}
