package golden

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Errorf(format string, a ...any) { r.failed = true; r.msg = format }
func (r *recorder) Fatal(a ...any)                 { r.failed = true }

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "case.golden.txt")
	missing := filepath.Join(dir, "none.golden.txt")
	if err := os.WriteFile(path, []byte("want\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		update bool
		path   string
		got    string
		fails  bool
		after  string // the file's content afterwards; "-" when it must not exist
	}{
		{"same", false, path, "want\n", false, "want\n"},
		{"differs", false, path, "other\n", true, "want\n"},
		{"empty-vs-missing", false, missing, "", false, "-"},
		{"output-vs-missing", false, missing, "x", true, "-"},
		{"update-writes", true, path, "new\n", false, "new\n"},
		{"update-never-empties", true, path, "", true, "new\n"},
		{"update-no-empty-file", true, missing, "", false, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			*update = tc.update
			defer func() { *update = false }()
			r := &recorder{TB: t}
			Check(r, tc.path, []byte(tc.got))
			if r.failed != tc.fails {
				t.Errorf("failed = %v, want %v (%s)", r.failed, tc.fails, r.msg)
			}
			b, err := os.ReadFile(tc.path)
			switch {
			case tc.after == "-" && err == nil:
				t.Errorf("%s exists: %q", tc.path, b)
			case tc.after != "-" && string(b) != tc.after:
				t.Errorf("%s holds %q, want %q", tc.path, b, tc.after)
			}
		})
	}
}

// TestEveryPackageAcceptsUpdate: every package with tests imports this one
// in its tests, or go test ./... -update would fail there with "flag
// provided but not defined".
func TestEveryPackageAcceptsUpdate(t *testing.T) {
	const self = "github.com/vpcalertd/vpcalertd/internal/golden"
	root := filepath.Join("..", "..")
	tested := map[string]bool{} // dir -> imports golden
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.Dir(path)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		imports := tested[dir]
		for _, im := range f.Imports {
			imports = imports || im.Path.Value == `"`+self+`"`
		}
		tested[dir] = imports || filepath.Base(dir) == "golden" // this package defines the flag
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tested) < 10 {
		t.Fatalf("found only %d packages with tests under %s", len(tested), root)
	}
	for dir, ok := range tested {
		if !ok {
			t.Errorf("%s: no test file imports %s; add an update_test.go as the other packages have", dir, self)
		}
	}
}
