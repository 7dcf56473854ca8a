package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/aws/smithy-go/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSDKLogAndMissingCredentials: the SDK's own log lines go to the
// daemon's structured log; a chain that finds nothing is ErrNoCredentials
// with what it tried.
func TestSDKLogAndMissingCredentials(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	cfg, err := LoadAWSConfig(context.Background(), Auth{Log: log})
	require.NoError(t, err)
	cfg.Logger.Logf(logging.Warn, "retrying request %s, attempt %d", "ListObjectsV2", 2)
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	assert.Equal(t, "WARN", line["level"])
	assert.Equal(t, "aws sdk: retrying request ListObjectsV2, attempt 2", line["msg"])

	_, err = CheckCredentials(context.Background(), cfg, Auth{})
	require.ErrorIs(t, err, ErrNoCredentials)
	var ce *CredentialsError
	require.True(t, errors.As(err, &ce))
	assert.Contains(t, ce.Tried, "environment (AWS_ACCESS_KEY_ID not set)")
	assert.Contains(t, ce.Tried, filepath.Join(dir, "credentials")+" (missing)")
	assert.False(t, Permanent(errors.New("x")))
	assert.True(t, Permanent(err))
}
