package golden

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files with the output of the tests")

// Update reports whether the tests run with -update.
func Update() bool { return *update }

// Check compares got with the golden file at path; a missing file stands
// for empty output. Under -update it writes got to path instead. It never
// writes an empty golden file, and never deletes one: empty output where a
// golden file has content fails the test, under -update too, so that a
// broken run cannot wipe the expected output.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if *update && len(got) > 0 {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	switch {
	case len(got) == 0 && len(want) > 0 && *update:
		t.Errorf("%s: the output is empty; the golden file is kept (delete it by hand if no output is right)", path)
	case !bytes.Equal(want, got):
		t.Errorf("%s differs (run go test -update and read the diff):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}
