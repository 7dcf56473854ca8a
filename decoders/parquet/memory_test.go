package parquet

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
)

// TestMemoryOneRowGroup: reading a Parquet file holds one page per column
// of one row group (and the footer), whatever the number of row groups: a
// file of 60 row groups takes no more heap than a file of 10, but for its
// longer footer (a few KB per row group).
func TestMemoryOneRowGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 350,000 records (-short)")
	}
	set := loadSet(t)
	dir := t.TempDir()
	const perGroup = 5_000
	peak := func(groups int) (uint64, int) {
		var text bytes.Buffer
		realisticText(&text, groups*perGroup)
		path := filepath.Join(dir, "f.parquet")
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, WriteText(f, &text, WriteOptions{RowGroupRows: perGroup}))
		require.NoError(t, f.Close())
		text = bytes.Buffer{}
		f, err = os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		st, err := set.Open(event.Origin{Key: "f.log.parquet"}, f, decoders.OpenOptions{OpenTable: Open})
		require.NoError(t, err)
		var ev event.Event
		var ms runtime.MemStats
		var peak uint64
		n := 0
		for {
			err := st.Next(&ev)
			if err == io.EOF {
				return peak, n
			}
			require.NoError(t, err)
			if n++; n%(perGroup/4) == 1 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}
	few, n10 := peak(10)
	many, n60 := peak(60)
	require.Equal(t, 10*perGroup, n10)
	require.Equal(t, 60*perGroup, n60)
	t.Logf("heap in use: %d KiB for 10 row groups, %d KiB for 60", few>>10, many>>10)
	assert.Less(t, many, few+4<<20, "heap grows with the number of row groups")
}
