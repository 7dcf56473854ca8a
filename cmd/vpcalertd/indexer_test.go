package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

// newIndexer starts the in-repo OpenSearch _bulk server over TLS with basic
// authentication and Wazuh's template, and returns it with its CA file.
func newIndexer(t *testing.T) (*indexertest.Server, string) {
	t.Helper()
	tpl, err := os.ReadFile("../../output/indexer/testdata/wazuh-template.alerts-4.x.v4.14.7.json")
	require.NoError(t, err)
	srv, err := indexertest.NewServer(indexertest.Options{Templates: [][]byte{tpl}, TLS: true, Username: "admin", Password: "s3cret-pass"})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "root-ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CA.PEM, 0o600))
	return srv, ca
}

func TestReplayToIndexer(t *testing.T) {
	srv, ca := newIndexer(t)
	t.Setenv(passwordEnv, "s3cret-pass")
	args := []string{"replay", "--quiet", "--now", "2024-03-05T10:20:31Z", "--bucket", "my-vpc-flowlogs", "--indexer", srv.URL, "--indexer-user", "admin", "--indexer-ca", ca, mirror}
	code, out, errs := run(t, "", args...)
	require.Equal(t, 0, code, errs)
	assert.Empty(t, out, "with --indexer and no --out, nothing goes to stdout")
	n := srv.Count()
	assert.Positive(t, n)
	docs := srv.Docs("wazuh-alerts-4.x-2024.03.05")
	assert.Len(t, docs, n, "every document in the index of the alerts' day")

	// Replaying the same files again makes no second copy: the _ids are
	// derived from where each record came from.
	code, _, errs = run(t, "", args...)
	require.Equal(t, 0, code, errs)
	assert.Equal(t, n, srv.Count())
}

func TestReplayToIndexerWrongPassword(t *testing.T) {
	srv, ca := newIndexer(t)
	t.Setenv(passwordEnv, "wrong")
	code, _, errs := run(t, "", "replay", "--quiet", "--indexer", srv.URL, "--indexer-user", "admin", "--indexer-ca", ca, mirror)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "admin")
	assert.NotContains(t, errs, "wrong", "the password is never printed")
	assert.Zero(t, srv.Count())
}
