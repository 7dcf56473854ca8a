package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/specfile"
)

// ossecConf returns an ossec.conf whose aws-s3 wodle holds lines: line 1
// is <ossec_config>, line 2 the wodle, lines from line 3.
func ossecConf(lines ...string) string {
	return "<ossec_config>\n  <wodle name=\"aws-s3\">\n" + strings.Join(lines, "\n") + "\n  </wodle>\n</ossec_config>\n"
}

// loadOssec loads conf as o.conf and returns the configuration, the
// error's lines and the warnings, the temporary directory cut off.
func loadOssec(t *testing.T, conf string) (cfg *Config, errs, warns []string) {
	t.Helper()
	dir := t.TempDir()
	p := writeFile(t, dir, "o.conf", conf)
	cfg, err := Load(p)
	if err != nil {
		return nil, strings.Split(stripDir(dir, err.Error()), "\n"), nil
	}
	for _, w := range cfg.Warnings {
		warns = append(warns, stripDir(dir, w.Error()))
	}
	return cfg, nil, warns
}

func stripDir(dir, s string) string {
	return regexp.MustCompile(regexp.QuoteMeta(dir+string(filepath.Separator))).ReplaceAllString(s, "")
}

// assertLines checks that got has one line per want, each starting with
// its want (a want ending in "…" is a prefix, otherwise the whole line).
func assertLines(t *testing.T, want, got []string) {
	t.Helper()
	require.Len(t, got, len(want), "lines:\n%s", strings.Join(got, "\n"))
	for i, w := range want {
		if p, ok := strings.CutSuffix(w, "…"); ok {
			assert.True(t, strings.HasPrefix(got[i], p), "line %d:\n got %s\nwant %s", i, got[i], w)
		} else {
			assert.Equal(t, w, got[i], "line %d", i)
		}
	}
}

const wazuhRefuses = `; Wazuh refuses the characters \{}^%` + "`" + `[]'"<>~#| and the entities &apos; &quot; &amp; &lt; &gt; &#13; &#10; in a key prefix`

// TestOssecBad feeds bad wodle blocks through the ossec.conf form: every
// problem is reported at once, at its element's line.
func TestOssecBad(t *testing.T) {
	flow := func(inner ...string) []string {
		return append(append([]string{`    <bucket type="vpcflow">`, `      <name>b-1</name>`}, inner...), `    </bucket>`)
	}
	cases := []struct {
		name  string
		lines []string
		want  []string // the error's lines, in order
		code  int      // ExitCode
	}{
		{"unknown-region", flow(`      <regions>us-east-1,us-fake-1</regions>`),
			[]string{`o.conf:5: <bucket> 1 <regions>: invalid region "us-fake-1": not an AWS region, did you mean "us-east-1"? (the regions are listed in docs/daemon.md, Regions)`}, 22},
		{"malformed-region", flow(`      <regions>useast1, eu-west-9</regions>`),
			[]string{`o.conf:5: <bucket> 1 <regions>: invalid region "useast1": not an AWS region, did you mean "us-east-1"? …`,
				`o.conf:5: <bucket> 1 <regions>: invalid region "eu-west-9": not an AWS region, did you mean "eu-west-1"? …`}, 22},
		{"region-far-from-any", flow(`      <regions>mars-1</regions>`),
			[]string{`o.conf:5: <bucket> 1 <regions>: invalid region "mars-1": not an AWS region (the regions are listed in docs/daemon.md, Regions)`}, 22},
		{"path-character", flow(`      <path>test-prefix></path>`),
			[]string{`o.conf:5: <bucket> 1 <path>: invalid character in a key prefix: "test-prefix>" has the character >` + wazuhRefuses}, 2},
		{"path-entity", flow(`      <path_suffix>a&amp;b</path_suffix>`),
			[]string{`o.conf:5: <bucket> 1 <path_suffix>: invalid character in a key prefix: "a&amp;b" has the XML entity &amp;` + wazuhRefuses}, 2},
		{"unknown-bucket-element", flow(`      <region>us-east-1</region>`),
			[]string{`o.conf:5: <bucket> 1 <region>: unknown element, did you mean <regions>? (accepted: <aws_account_alias>, …`}, 2},
		{"unknown-element", append([]string{`    <intervall>10m</intervall>`}, flow()...),
			[]string{`o.conf:3: <intervall>: unknown element, did you mean <interval>? (accepted: <access_key>, …`}, 2},
		{"bad-date", flow(`      <only_logs_after>31-JAN-2024</only_logs_after>`),
			[]string{`o.conf:5: <bucket> 1 <only_logs_after>: bad date "31-JAN-2024" (want YYYY-MMM-DD as Wazuh, e.g. 2024-JAN-31, or YYYY-MM-DD)`}, 2},
		{"access-key", flow(`      <access_key>AKIA</access_key>`),
			[]string{`o.conf:5: <bucket> 1 <access_key>: credentials in the configuration are not supported (Wazuh deprecated them in 4.4): …`}, 2},
		{"bad-yes-no", append([]string{`    <skip_on_error>maybe</skip_on_error>`}, flow()...),
			[]string{`o.conf:3: <skip_on_error>: expected yes or no, got "maybe"`}, 2},
		{"empty-name", []string{`    <bucket type="vpcflow">`, `      <name></name>`, `    </bucket>`},
			[]string{`o.conf:4: <bucket> 1 <name>: missing: the bucket name`}, 2},
		{"discard-regex-without-field", flow(`      <discard_regex>^x</discard_regex>`),
			[]string{`o.conf:5: <bucket> 1 <discard_regex>: the field attribute is missing: <discard_regex field="…">regex</discard_regex> (Wazuh refuses it too)`}, 2},
		{"bad-attribute", []string{`    <bucket kind="vpcflow"><name>b-1</name></bucket>`},
			[]string{`o.conf:3: <bucket> 1: attribute "kind" is not valid; the valid one is type`, `o.conf:3: <bucket> 1: missing: the log type (expected one of [cloudtrail vpcflow])`}, 2},
		{"only-other-types", []string{`    <bucket type="waf"><name>b-1</name></bucket>`, `    <service type="cloudwatchlogs"><aws_log_groups>x</aws_log_groups></service>`},
			[]string{`o.conf: <wodle name="aws-s3">: no buckets configured that vpcalertd reads (see the messages below)`,
				`o.conf:3: <bucket> 1: type "waf" is not read by vpcalertd (it reads cloudtrail and vpcflow); leave it to Wazuh's wodle`,
				`o.conf:4: <service>: not read by vpcalertd (type "cloudwatchlogs"): it reads only <bucket> blocks of type cloudtrail and vpcflow; leave it to Wazuh's wodle`}, 2},
		{"disabled", append([]string{`    <disabled>yes</disabled>`}, flow()...),
			[]string{`o.conf: <wodle name="aws-s3">: no buckets configured (the aws-s3 wodle of o.conf is disabled)`}, 2},
		{"same-objects-other-remove", append(flow(`      <regions>us-east-1</regions>`), flow(`      <regions>us-east-1</regions>`, `      <remove_from_bucket>yes</remove_from_bucket>`)...),
			[]string{`o.conf:10: <bucket> 2 <remove_from_bucket>: <bucket> 2 selects the objects that <bucket> 1 (o.conf:3) selects, with remove_from_bucket no there and yes here: say the same in both, or select other accounts or regions`}, 2},
		{"some-objects-other-remove", append(flow(`      <remove_from_bucket>yes</remove_from_bucket>`), flow(`      <regions>eu-west-1</regions>`)...),
			[]string{`o.conf:7: <bucket> 2 <remove_from_bucket>: <bucket> 2 selects some of the objects that <bucket> 1 (o.conf:3) selects, with remove_from_bucket yes there and no here: …`}, 2},
		{"all-at-once", append(append([]string{`    <interval>soon</interval>`}, flow(`      <regions>us-east-1,us-fake-1</regions>`, `      <path>a#b</path>`)...),
			`    <bucket type="cloudtrail">`, `      <name>My_Bucket</name>`, `      <aws_account_id>12345</aws_account_id>`, `    </bucket>`),
			[]string{`o.conf:3: <interval>: bad duration "soon" …`,
				`o.conf:6: <bucket> 1 <regions>: invalid region "us-fake-1": …`,
				`o.conf:7: <bucket> 1 <path>: invalid character in a key prefix: "a#b" has the character #…`,
				`o.conf:10: <bucket> 2 <name>: "My_Bucket" is not a valid S3 bucket name`,
				`o.conf:11: <bucket> 2 <aws_account_id>: "12345" is not a 12-digit AWS account id`}, 2},
		{"no-wodle", nil, []string{`o.conf: no <wodle name="aws-s3"> block`}, 2},
		{"not-xml", []string{`    <bucket type="vpcflow"><name>b-1</name></bucket`, `    <bucket/>`}, []string{`o.conf:4: not XML: …`}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf := ossecConf(c.lines...)
			if c.lines == nil {
				conf = "<ossec_config><global/></ossec_config>\n"
			}
			dir := t.TempDir()
			_, err := Load(writeFile(t, dir, "o.conf", conf))
			require.Error(t, err)
			assertLines(t, c.want, strings.Split(stripDir(dir, err.Error()), "\n"))
			assert.Equal(t, c.code, ExitCode(err))
		})
	}
}

// TestOssecKeyCharacters refuses every character and entity Wazuh's
// arg_valid_key refuses, in <path> and <path_suffix>, naming it.
func TestOssecKeyCharacters(t *testing.T) {
	var bad []string
	for _, c := range keyCharsRefused {
		if c != '<' { // '<' cannot be written raw in XML text; &lt; is
			bad = append(bad, "x"+string(c)+"y")
		}
	}
	bad = append(bad, "x&apos;y", "x&quot;y", "x&amp;y", "x&lt;y", "x&gt;y", "x&#13;y", "x&#10;y")
	for _, elem := range []string{"path", "path_suffix"} {
		for _, v := range bad {
			t.Run(elem+"/"+v, func(t *testing.T) {
				_, lines, _ := loadOssec(t, ossecConf(`    <bucket type="vpcflow">`, `      <name>b-1</name>`,
					fmt.Sprintf("      <%s>%s</%s>", elem, v, elem), `    </bucket>`))
				named := v[1 : len(v)-1]
				what := "the character "
				if len(named) > 1 {
					what = "the XML entity "
				}
				assertLines(t, []string{fmt.Sprintf(`o.conf:5: <bucket> 1 <%s>: invalid character in a key prefix: %q has %s%s%s`, elem, v, what, named, wazuhRefuses)}, lines)
			})
		}
	}
	// What Wazuh takes, vpcalertd takes, with one trailing '/' (Wazuh
	// appends it).
	cfg, lines, warns := loadOssec(t, ossecConf(`    <bucket type="vpcflow">`, `      <name>b-1</name>`,
		`      <path>logs/2024 (eu)&</path>`, `      <path_suffix>s!*+=@$,;:?</path_suffix>`, `    </bucket>`))
	require.Nil(t, lines)
	assert.Empty(t, warns)
	assert.Equal(t, "logs/2024 (eu)&/", cfg.Buckets[0].Path)
	assert.Equal(t, "s!*+=@$,;:?/", cfg.Buckets[0].PathSuffix)
}

// TestOssecRepeatedBuckets reads blocks naming one bucket as Wazuh does:
// each selecting other accounts or regions is read with its own settings.
func TestOssecRepeatedBuckets(t *testing.T) {
	cfg, lines, warns := loadOssec(t, ossecConf(
		`    <bucket type="vpcflow">`, // 3
		`      <name>central</name>`,
		`      <regions>us-east-1</regions>`,
		`      <aws_profile>east</aws_profile>`,
		`    </bucket>`,
		`    <bucket type="vpcflow">`, // 8
		`      <name>central</name>`,
		`      <regions>eu-west-1,eu-central-1</regions>`,
		`      <aws_account_alias>europe</aws_account_alias>`,
		`      <remove_from_bucket>yes</remove_from_bucket>`,
		`    </bucket>`,
		`    <bucket type="vpcflow">`, // 14
		`      <name>central</name>`,
		`      <aws_account_id>111111111111</aws_account_id>`,
		`      <regions>ap-south-1</regions>`,
		`    </bucket>`,
		`    <bucket type="vpcflow">`, // 19: the objects of block 1 again
		`      <name>central</name>`,
		`      <regions>us-east-1</regions>`,
		`      <aws_account_alias>again</aws_account_alias>`,
		`    </bucket>`,
		`    <bucket type="vpcflow">`, // 24: every region, block 1's among them
		`      <name>central</name>`,
		`      <path>logs</path>`,
		`    </bucket>`,
		`    <bucket type="cloudtrail">`, // 28: another type, another folder
		`      <name>central</name>`,
		`    </bucket>`,
	))
	require.Nil(t, lines)
	var ids []string
	for _, b := range cfg.Buckets {
		ids = append(ids, b.ID())
	}
	assert.Equal(t, []string{
		"vpcflow:central/?regions=us-east-1",
		"vpcflow:central/?regions=eu-central-1,eu-west-1",
		"vpcflow:central/?accounts=111111111111&regions=ap-south-1",
		"vpcflow:central/logs/",
		"cloudtrail:central/",
	}, ids)
	assert.Equal(t, "east", cfg.Buckets[0].Profile)
	assert.False(t, cfg.Buckets[0].RemoveFromBucket)
	assert.Equal(t, "europe", cfg.Buckets[1].AccountAlias)
	assert.True(t, cfg.Buckets[1].RemoveFromBucket)
	assertLines(t, []string{
		`o.conf:19: <bucket> 4: selects the same objects as <bucket> 1 (o.conf:3): not read on its own, as in Wazuh, where the first block marks them read before this one lists them (its only_logs_after, aws_account_alias and discard_regex do not apply)`,
	}, warns)

	// A block reading every region and one reading a region: both are
	// read, objects of the region once; the first keeps its plain ID.
	cfg, lines, warns = loadOssec(t, ossecConf(
		`    <bucket type="vpcflow"><name>central</name></bucket>`,
		`    <bucket type="vpcflow"><name>central</name><regions>us-east-1</regions><aws_account_alias>east</aws_account_alias></bucket>`,
	))
	require.Nil(t, lines)
	require.Len(t, cfg.Buckets, 2)
	assert.Equal(t, "vpcflow:central/", cfg.Buckets[0].ID())
	assert.Equal(t, "vpcflow:central/?regions=us-east-1", cfg.Buckets[1].ID())
	assertLines(t, []string{
		`o.conf:4: <bucket> 2: selects some of the objects of <bucket> 1 (o.conf:3) (accounts all, regions all there, accounts all, regions us-east-1 here): each is read once, by the block that lists it first, with that block's settings`,
	}, warns)
}

// TestOssecWazuhForms reads what Wazuh 4.14.7's wm_aws_read accepts and
// vpcalertd reads otherwise, with a warning each.
func TestOssecWazuhForms(t *testing.T) {
	cfg, lines, warns := loadOssec(t, "<ossec_config>\n"+
		"  <wodle name=\"aws-s3\">\n"+ // 2
		"    <interval>1h</interval>\n"+
		"    <remove_from_bucket>yes</remove_from_bucket>\n"+
		"    <bucket>legacy-trail</bucket>\n"+ // 5
		"    <bucket type=\"vpcflow\"><name>b-1</name></bucket>\n"+
		"    <wday>monday</wday>\n"+
		"  </wodle>\n"+
		"  <wodle name=\"aws-s3\">\n"+ // 9
		"    <interval>10m</interval>\n"+
		"    <bucket type=\"cloudtrail\"><name>b-2</name></bucket>\n"+
		"  </wodle>\n"+
		"  <wodle name=\"aws-s3\">\n"+
		"    <disabled>yes</disabled>\n"+
		"    <bucket type=\"cloudtrail\"><name>b-3</name></bucket>\n"+
		"  </wodle>\n"+
		"</ossec_config>\n")
	require.Nil(t, lines)
	var ids []string
	for _, b := range cfg.Buckets {
		ids = append(ids, b.ID())
	}
	assert.Equal(t, []string{"vpcflow:b-1/", "cloudtrail:legacy-trail/", "cloudtrail:b-2/"}, ids, "the legacy bucket is read after the others of its block; a disabled block is not read")
	assert.True(t, cfg.Buckets[1].RemoveFromBucket, "the module's remove_from_bucket is the legacy bucket's")
	assert.Equal(t, "LEGACY", cfg.Buckets[1].AccountAlias)
	assert.False(t, cfg.Buckets[0].RemoveFromBucket, "a typed bucket says its own")
	assert.Equal(t, 10*60e9, float64(cfg.Interval), "the shorter interval")
	assertLines(t, []string{
		`o.conf:2: <remove_from_bucket>: the module's <remove_from_bucket>yes applies only to the legacy <bucket>name</bucket> form, as in Wazuh: <bucket> 2 is not deleted from; say <remove_from_bucket>yes</remove_from_bucket> inside the <bucket> to delete what is read`,
		`o.conf:5: <bucket> 1: deprecated form <bucket>name</bucket> (Wazuh warns the same): read as <bucket type="cloudtrail"> with aws_account_alias LEGACY`,
		`o.conf:7: <wday>: ignored: vpcalertd starts a pass every <interval> (Wazuh would start them by <day>, <wday> and <time>)`,
		`o.conf:9: <wodle name="aws-s3">: a second aws-s3 wodle (the first is at line 2): its buckets are read too, as Wazuh runs both; vpcalertd has one schedule: the shorter <interval> and the first block's <run_on_start> and <skip_on_error> hold for all`,
	}, warns)
}

func TestExitCode(t *testing.T) {
	region := &specfile.Error{Key: "regions", Err: checkRegion("us-fake-1")}
	other := &specfile.Error{Key: "path", Err: checkKeyPrefix("a#")}
	assert.Equal(t, 22, ExitCode(region))
	assert.Equal(t, 22, ExitCode(specfile.Join(region, region)))
	assert.Equal(t, 2, ExitCode(specfile.Join(region, other)))
	assert.Equal(t, 2, ExitCode(nil))
}

// TestWazuhParserCases runs the bucket values of Wazuh 4.14.7's own parser
// tests (tests/integration/test_aws/data/test_cases/parser_test_module:
// cases_invalid_values_in_bucket, cases_empty_values_in_bucket,
// cases_multiple_bucket_and_service_tags) through the same block: what
// Wazuh refuses is refused at its element's line, what it warns about and
// ignores is a warning.
func TestWazuhParserCases(t *testing.T) {
	valid := map[string]string{"type": "cloudtrail", "name": "wazuh-cloudtrail-integration-tests", "only_logs_after": "2023-JAN-31",
		"regions": "us-east-1", "path": "test_prefix", "path_suffix": "test_suffix", "remove_from_bucket": "no"}
	conf := func(elem, value string) string {
		v := map[string]string{}
		for k, x := range valid {
			v[k] = x
		}
		v[elem] = value
		return ossecConf(`    <disabled>no</disabled>`, // 3
			fmt.Sprintf(`    <bucket type="%s">`, v["type"]),                             // 4
			`      <name>`+v["name"]+`</name>`,                                           // 5
			`      <only_logs_after>`+v["only_logs_after"]+`</only_logs_after>`,          // 6
			`      <regions>`+v["regions"]+`</regions>`,                                  // 7
			`      <path>`+v["path"]+`</path>`,                                           // 8
			`      <path_suffix>`+v["path_suffix"]+`</path_suffix>`,                      // 9
			`      <remove_from_bucket>`+v["remove_from_bucket"]+`</remove_from_bucket>`, // 10
			`    </bucket>`)
	}
	cfg, errs, warns := loadOssec(t, conf("type", "cloudtrail"))
	require.Nil(t, errs)
	assert.Empty(t, warns)
	assert.Equal(t, "cloudtrail:wazuh-cloudtrail-integration-tests/test_prefix/test_suffix/", cfg.Buckets[0].ID())

	// Two blocks of one bucket with other regions, and services: Wazuh
	// calls the wodle for each bucket; so does vpcalertd.
	cfg, errs, warns = loadOssec(t, ossecConf(`    <disabled>no</disabled>`,
		`    <bucket type="cloudtrail"><name>wazuh-cloudtrail-integration-tests</name><regions>us-east-1</regions></bucket>`,
		`    <bucket type="cloudtrail"><name>wazuh-cloudtrail-integration-tests</name><regions>us-east-2</regions></bucket>`,
		`    <service type="cloudwatchlogs"><aws_log_groups>wazuh-cloudwatchlogs-integration-tests</aws_log_groups><regions>us-east-1</regions></service>`,
		`    <service type="cloudwatchlogs"><aws_log_groups>wazuh-cloudwatchlogs-integration-tests</aws_log_groups><regions>us-east-2</regions></service>`))
	require.Nil(t, errs)
	require.Len(t, cfg.Buckets, 2)
	assert.Equal(t, []string{"us-east-1"}, cfg.Buckets[0].Regions)
	assert.Equal(t, []string{"us-east-2"}, cfg.Buckets[1].Regions)
	assertLines(t, []string{`o.conf:6: <service>: not read by vpcalertd …`, `o.conf:7: <service>: not read by vpcalertd …`}, warns)

	for _, c := range []struct{ elem, value, want string }{
		{"name", "1", `o.conf:5: <bucket> 1 <name>: "1" is not a valid S3 bucket name`},
		{"type", "invalid_value", `o.conf:4: <bucket> 1: unsupported bucket type "invalid_value" (expected one of [cloudtrail vpcflow])`},
		{"only_logs_after", "JAN-31", `o.conf:6: <bucket> 1 <only_logs_after>: bad date "JAN-31" …`},
		{"regions", "1", `o.conf:7: <bucket> 1 <regions>: invalid region "1": not an AWS region …`},
		{"path", "test-prefix>", `o.conf:8: <bucket> 1 <path>: invalid character in a key prefix: "test-prefix>" has the character >…`},
		{"path_suffix", "test-suffix>", `o.conf:9: <bucket> 1 <path_suffix>: invalid character in a key prefix: "test-suffix>" has the character >…`},
		{"remove_from_bucket", "nein", `o.conf:10: <bucket> 1 <remove_from_bucket>: expected yes or no, got "nein"`},
		{"type", "", `o.conf:4: <bucket> 1: missing: the log type (expected one of [cloudtrail vpcflow])`},
		{"name", "", `o.conf:5: <bucket> 1 <name>: missing: the bucket name`},
	} {
		t.Run("refused/"+c.elem+"="+c.value, func(t *testing.T) {
			_, errs, _ := loadOssec(t, conf(c.elem, c.value))
			assertLines(t, []string{c.want}, errs)
		})
	}
	for _, c := range []struct{ elem, want string }{
		{"only_logs_after", `o.conf:6: <bucket> 1 <only_logs_after>: empty: ignored (Wazuh warns the same)`},
		{"regions", `o.conf:7: <bucket> 1 <regions>: empty: ignored (Wazuh warns the same)`},
		{"path", `o.conf:8: <bucket> 1 <path>: empty: ignored (Wazuh warns the same)`},
		{"path_suffix", `o.conf:9: <bucket> 1 <path_suffix>: empty: ignored (Wazuh warns the same)`},
	} {
		t.Run("empty/"+c.elem, func(t *testing.T) {
			cfg, errs, warns := loadOssec(t, conf(c.elem, ""))
			require.Nil(t, errs)
			require.Len(t, cfg.Buckets, 1)
			assertLines(t, []string{c.want}, warns)
		})
	}
}

// TestOssecManagerConf reads a whole manager ossec.conf as Wazuh accepts
// it: every bucket block is read, with no warning.
func TestOssecManagerConf(t *testing.T) {
	cfg, err := Load("testdata/ossec-manager.CONSTRUCTED.conf")
	require.NoError(t, err)
	assert.Empty(t, cfg.Warnings)
	var ids []string
	for _, b := range cfg.Buckets {
		ids = append(ids, b.ID())
	}
	assert.Equal(t, []string{
		"cloudtrail:corp-cloudtrail/o-a1b2c3d4e5/",
		"vpcflow:corp-flow-logs/network/?regions=us-east-1,us-east-2",
		"vpcflow:corp-flow-logs/network/?regions=eu-central-1,eu-west-1",
	}, ids)
	eu := cfg.Buckets[2]
	assert.Equal(t, "eu", eu.AccountAlias)
	assert.Equal(t, "arn:aws:iam::123456789012:role/wazuh-reader", eu.RoleARN)
	assert.Equal(t, "action", eu.DiscardField)
	assert.Equal(t, "testdata/ossec-manager.CONSTRUCTED.conf:53", eu.Pos)
	assert.Equal(t, "us", cfg.Buckets[1].AccountAlias)
	assert.Empty(t, cfg.Buckets[1].RoleARN, "each block has its own settings")
}
