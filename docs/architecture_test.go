package docs

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/vpcalertd/vpcalertd"

// goPackage is one package of the module, as its files say.
type goPackage struct {
	imports map[string][]string // package of the module or third-party path -> files importing it
	doc     bool                // has a doc.go with a package comment
}

// modulePackages reads the module's packages from their source: the
// imports of the files that are not tests, and whether a doc.go carries
// the package comment.
func modulePackages(t *testing.T) map[string]*goPackage {
	t.Helper()
	pkgs := map[string]*goPackage{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		pkg := pkgs[rel]
		if pkg == nil {
			pkg = &goPackage{imports: map[string][]string{}}
			pkgs[rel] = pkg
		}
		if d.Name() == "doc.go" && f.Doc != nil {
			pkg.doc = true
		}
		for _, im := range f.Imports {
			path, err := strconv.Unquote(im.Path.Value)
			if err != nil {
				return err
			}
			if path == module || strings.HasPrefix(path, module+"/") {
				path = strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
			}
			pkg.imports[path] = append(pkg.imports[path], filepath.ToSlash(p))
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, pkgs)
	return pkgs
}

var floorRow = regexp.MustCompile("(?m)^\\| (\\d+) \\| `([^`]+)` \\| (.+) \\|$")

// documentedFloors reads the package table of architecture.md.
func documentedFloors(t *testing.T) map[string]int {
	t.Helper()
	data, err := os.ReadFile("architecture.md")
	require.NoError(t, err)
	floors := map[string]int{}
	for _, m := range floorRow.FindAllStringSubmatch(string(data), -1) {
		n, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		_, dup := floors[m[2]]
		require.False(t, dup, "architecture.md lists %s twice", m[2])
		floors[m[2]] = n
	}
	require.NotEmpty(t, floors, "architecture.md: no package table found")
	return floors
}

// TestArchitectureMap: every package of the module has a row in
// architecture.md's table and every row is a package; each package
// imports only packages of lower floors; each has a doc.go with its
// package comment.
func TestArchitectureMap(t *testing.T) {
	pkgs := modulePackages(t)
	floors := documentedFloors(t)
	var names []string
	for name := range pkgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		floor, ok := floors[name]
		if !assert.True(t, ok, "package %s has no row in docs/architecture.md: add it with its floor and its one job", name) {
			continue
		}
		assert.True(t, pkgs[name].doc, "package %s has no doc.go with a package comment saying its job", name)
		for im, files := range pkgs[name].imports {
			imFloor, internal := floors[im]
			if _, isPkg := pkgs[im]; !isPkg && !internal {
				continue // standard library or another module
			}
			assert.Less(t, imFloor, floor, "%s (floor %d) imports %s (floor %d) in %v: imports go to lower floors only; "+
				"move the code, or change the floors in docs/architecture.md", name, floor, im, imFloor, files)
		}
	}
	for name := range floors {
		assert.Contains(t, pkgs, name, "docs/architecture.md lists %s, which is not a package of the module", name)
	}
}

// TestEC2OnlyInFlowlogs: the AWS SDK's EC2 package is slow to compile;
// only collector/flowlogs imports it, so that the other packages build
// fast.
func TestEC2OnlyInFlowlogs(t *testing.T) {
	const ec2 = "github.com/aws/aws-sdk-go-v2/service/ec2"
	found := false
	for name, pkg := range modulePackages(t) {
		for im, files := range pkg.imports {
			if im == ec2 || strings.HasPrefix(im, ec2+"/") {
				assert.Equal(t, "collector/flowlogs", name, "%v import %s: only collector/flowlogs may", files, im)
				found = true
			}
		}
	}
	assert.True(t, found, "collector/flowlogs no longer imports %s: update this test and docs/architecture.md", ec2)
}
