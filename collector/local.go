package collector

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vpcalertd/vpcalertd/event"
)

// File is one local file to read, with the origin its records get.
type File struct {
	Origin event.Origin
}

// Open opens the file.
func (f File) Open() (io.ReadCloser, error) {
	return os.Open(f.Origin.Path)
}

// LocalOptions say how local files map onto the S3 fields Wazuh puts in an
// event.
type LocalOptions struct {
	Bucket       string        // log_info.s3bucket; default "local"
	AccountAlias string        // log_info.aws_account_alias
	Type         event.LogType // force the log type; default: from the key layout, else the content
}

// Local lists the files to read for the given paths, in a stable order. A
// directory is a mirror of a bucket: each file's key (log_info.log_file) is
// its path relative to the directory, with '/'. A file named directly keeps
// the part of its path from "AWSLogs/" on as its key when it has one, else
// its base name. Keys whose layout says they hold no events (CloudTrail
// digests, Insights) are left out of directories but read when named.
func Local(paths []string, opts LocalOptions) ([]File, error) {
	if opts.Bucket == "" {
		opts.Bucket = "local"
	}
	var files []File
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if !st.IsDir() {
			key := filepath.ToSlash(filepath.Clean(p))
			if i := strings.Index(key, "AWSLogs/"); i >= 0 && (i == 0 || key[i-1] == '/') {
				key = key[i:]
			} else {
				key = filepath.Base(p)
			}
			files = append(files, newFile(p, key, opts))
			continue
		}
		var found []File
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
				return nil
			}
			rel, err := filepath.Rel(p, path)
			if err != nil {
				return err
			}
			key := filepath.ToSlash(rel)
			if ParseKey(key).Skip {
				return nil
			}
			found = append(found, newFile(path, key, opts))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		sort.Slice(found, func(i, j int) bool { return found[i].Origin.Key < found[j].Origin.Key })
		files = append(files, found...)
	}
	return files, nil
}

func newFile(path, key string, opts LocalOptions) File {
	ki := ParseKey(key)
	typ := ki.Type
	if opts.Type != event.LogTypeUnknown {
		typ = opts.Type
	}
	return File{Origin: event.Origin{
		Type:         typ,
		Bucket:       opts.Bucket,
		Key:          key,
		Path:         path,
		AccountID:    ki.AccountID,
		AccountAlias: opts.AccountAlias,
		Region:       ki.Region,
	}}
}
