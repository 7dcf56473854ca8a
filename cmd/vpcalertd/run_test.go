package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunUsageAndConfigErrorsExit2(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "vpcalertd.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("buckets: [{type: vpcflow, name: b-1, regions: [us-east], path: 'a#'}]\n"), 0o644))
	code, _, errs := run(t, "", "run", "--config", cfg)
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "vpcalertd run: configuration errors:\n")
	assert.Contains(t, errs, `buckets[0].regions: invalid region "us-east": not an AWS region, did you mean "us-east-1"?`)
	assert.Contains(t, errs, `buckets[0].path: invalid character in a key prefix: "a#" has the character #`)

	// Only unknown regions: Wazuh's wodle's exit code for them.
	require.NoError(t, os.WriteFile(cfg, []byte("buckets: [{type: vpcflow, name: b-1, regions: [us-fake-1]}]\n"), 0o644))
	code, _, errs = run(t, "", "run", "--config", cfg)
	assert.Equal(t, 22, code)
	assert.Contains(t, errs, `buckets[0].regions: invalid region "us-fake-1"`)

	// The same through an ossec.conf: every problem at once, at its line.
	conf := filepath.Join(t.TempDir(), "ossec.conf")
	require.NoError(t, os.WriteFile(conf, []byte("<ossec_config>\n  <wodle name=\"aws-s3\">\n    <bucket type=\"vpcflow\">\n"+
		"      <name>b-1</name>\n      <regions>us-fake-1</regions>\n      <path>test-prefix></path>\n    </bucket>\n  </wodle>\n</ossec_config>\n"), 0o644))
	code, _, errs = run(t, "", "run", "--config", conf)
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, conf+`:5: <bucket> 1 <regions>: invalid region "us-fake-1": not an AWS region, did you mean "us-east-1"?`)
	assert.Contains(t, errs, conf+`:6: <bucket> 1 <path>: invalid character in a key prefix: "test-prefix>" has the character >`)
	require.NoError(t, os.WriteFile(conf, []byte("<ossec_config>\n  <wodle name=\"aws-s3\">\n    <bucket type=\"vpcflow\">\n"+
		"      <name>b-1</name>\n      <regions>us-fake-1</regions>\n    </bucket>\n  </wodle>\n</ossec_config>\n"), 0o644))
	code, _, _ = run(t, "", "run", "--config", conf)
	assert.Equal(t, 22, code, "Wazuh's wodle exits 22 for an invalid region")

	for _, args := range [][]string{{"run"}, {"run", "--config", cfg, "extra"}, {"run", "--bogus"}} {
		code, _, errs = run(t, "", args...)
		assert.Equal(t, 2, code, args)
		assert.Contains(t, errs, "usage: vpcalertd run --config FILE [--once]", args)
	}
	code, _, errs = run(t, "", "run", "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, errs, "-once")
}
