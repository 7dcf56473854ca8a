package daemon

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/state"
)

// TestServeRefusesDamagedIDSeed: an alert-id high-water mark that is not a
// number stops the start, naming it, instead of numbering from 0 again.
func TestServeRefusesDamagedIDSeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf("state: %s\noutputs: {file: {path: %s}}\nbuckets: [{type: vpcflow, name: b-1}]\n",
		filepath.Join(dir, "state.db"), filepath.Join(dir, "alerts.json")))
	store, err := state.Open(filepath.Join(dir, "state.db"))
	require.NoError(t, err)
	require.NoError(t, store.Commit(state.Commit{Meta: map[string][]byte{metaIDs: []byte("12x")}}))
	require.NoError(t, store.Close())

	var out, errb bytes.Buffer
	code := serveFile(context.Background(), cfg, Options{Once: true}, &out, &errb)
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), `alert id high-water mark \"12x\"`)
	assert.Contains(t, errb.String(), "the state file is damaged")
}
