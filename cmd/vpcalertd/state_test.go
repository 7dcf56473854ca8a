package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStateCommandLine(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vpcalertd.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state: state.db\noutputs: {file: {path: alerts.json}}\n"+
		"buckets: [{type: vpcflow, name: flows-1, service_endpoint: http://127.0.0.1:9}]\n"), 0o644))

	for _, args := range [][]string{{"state"}, {"state", "list"}, {"state", "show"}, {"state", "show", "--config", cfg, "--before", "2024-03-05"}} {
		code, _, errs := run(t, "", args...)
		assert.Equal(t, 2, code, args)
		assert.Contains(t, errs, "usage: vpcalertd state show|reset --config FILE", args)
	}
	code, _, errs := run(t, "", "state", "reset", "--config", cfg, "--before", "March")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `--before: bad date "March"`)
	code, _, errs = run(t, "", "state", "show", "--config", cfg, "--bucket", "other")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `--bucket "other": no configured bucket has that name (expected one of [flows-1])`)

	state := filepath.Join(dir, "state.db")
	code, _, errs = run(t, "", "state", "show", "--config", cfg)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "vpcalertd state show: state file "+state+": no state file: it does not exist")

	// A damaged state: show says so; reset moves it aside.
	require.NoError(t, os.WriteFile(state, nil, 0o600))
	code, _, errs = run(t, "", "state", "show", "--config", cfg)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "state file "+state+": state file is damaged: it is empty (0 bytes)")
	code, out, errs := run(t, "", "state", "reset", "--config", cfg)
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, "moved the unusable state file aside to "+state+".unusable-")
	assert.Contains(t, out, "every configured bucket: forgot 0 marks of 0 accounts/regions")
	code, out, errs = run(t, "", "state", "show", "--config", cfg)
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, "bucket flows-1 (vpcflow, vpcflow:flows-1/)")
	assert.Contains(t, out, "first day: none yet")
	assert.Contains(t, out, "no account/region passed yet")

	code, _, errs = run(t, "", "state", "-h")
	assert.Equal(t, 0, code)
	assert.True(t, strings.Contains(errs, "reset  forgets what was read (Wazuh's reparse)"))
}

// TestRunReparse: run --reparse resets the state (here: a damaged one is
// moved aside) and runs one pass.
func TestRunReparse(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vpcalertd.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state: state.db\nlog: {format: json}\noutputs: {file: {path: alerts.json}}\n"+
		"buckets: [{type: vpcflow, name: flows-1, service_endpoint: http://127.0.0.1:9}]\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "state.db"), []byte("garbage"), 0o600))
	// No credentials: the bucket is unavailable at once.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "aws-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	code, _, errs := run(t, "", "run", "--config", cfg, "--reparse")
	assert.Equal(t, 1, code, "the bucket has no credentials: the pass leaves it unread")
	assert.Contains(t, errs, `"msg":"--reparse: state reset; every configured bucket is read again from its first day"`)
	assert.Contains(t, errs, `"moved_aside":"`+filepath.Join(dir, "state.db")+`.unusable-`)
	assert.Contains(t, errs, `"msg":"run --once done: objects or buckets were left unread`)
}
