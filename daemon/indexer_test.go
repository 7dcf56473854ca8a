package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

// The daemon's indexer output: every alert written to the alerts file is
// also a document in the indexer, and a second pass over the same bucket
// adds nothing to either.
func TestIndexerOutput(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	ec2 := ec2Server(t)
	tpl, err := os.ReadFile("../output/indexer/testdata/wazuh-template.alerts-4.x.v4.14.7.json")
	require.NoError(t, err)
	ix, err := indexertest.NewServer(indexertest.Options{Templates: [][]byte{tpl}})
	require.NoError(t, err)
	t.Cleanup(ix.Close)

	dir := t.TempDir()
	flows := srv.NewBucket(t, "flows-ix")
	for i := 0; i < 2; i++ {
		srv.Put(t, flows, flowKey("111111111111", "us-east-1", "2024-03-05", "fl-0a1b2c3d4e5f60718", i), gz(t, flowBody("111111111111", 10, 1000+i*100, true)))
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
outputs:
  file: {path: alerts.json}
  indexer:
    url: %[3]s
    queue: {dir: indexer-queue}
buckets:
  - type: vpcflow
    name: %[4]s
    only_logs_after: 2024-MAR-05
    service_endpoint: %[1]s
    ec2_endpoint: %[2]s
`, srv.Endpoint, ec2.URL, ix.URL, flows))
	for pass := 0; pass < 2; pass++ {
		res := runMain(t, cfg, true)
		require.Equal(t, 0, res.code, res.stderr)
	}
	got := readAlerts(t, filepath.Join(dir, "alerts.json"))
	require.NotEmpty(t, got)
	assert.Equal(t, len(got), ix.Count(), "one document per alert, none twice")
}

// A wrong indexer password stops the start with a clear error.
func TestIndexerWrongPassword(t *testing.T) {
	ix, err := indexertest.NewServer(indexertest.Options{Username: "admin", Password: "right"})
	require.NoError(t, err)
	t.Cleanup(ix.Close)
	t.Setenv("VPCALERTD_TEST_INDEXER_PASSWORD", "wrong")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
outputs:
  indexer:
    url: %s
    auth: {username: admin, password_env: VPCALERTD_TEST_INDEXER_PASSWORD}
buckets:
  - type: vpcflow
    name: some-bucket
`, ix.URL))
	res := runMain(t, cfg, true)
	assert.NotEqual(t, 0, res.code)
	assert.Contains(t, res.stderr, "admin")
	assert.NotContains(t, res.stderr, "wrong")
}
