package indexer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// deadLetter appends rejected documents, one JSON object a line:
//
//	{"time":"…","index":"…","id":"…","pipeline":"…","status":400,
//	 "reason":"mapper_parsing_exception: …","error":{…},"document":{…}}
//
// A line is fsync'd before the batch that held it is acknowledged. Alerts
// that could not even be turned into a document carry "alert" (the raw
// line, as a string) and "origin" instead of "document".
type deadLetter struct {
	path string
	mu   sync.Mutex // guards f
	f    *os.File
}

func openDeadLetter(path string) (*deadLetter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("dead_letter_file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dead_letter_file %s: %w", path, err)
	}
	return &deadLetter{path: path, f: f}, nil
}

// deadEntry is one dead-letter line.
type deadEntry struct {
	Time     string          `json:"time"`
	Index    string          `json:"index,omitempty"`
	ID       string          `json:"id,omitempty"`
	Pipeline string          `json:"pipeline,omitempty"`
	Status   int             `json:"status,omitempty"`
	Reason   string          `json:"reason"`
	Error    json.RawMessage `json:"error,omitempty"`
	Document json.RawMessage `json:"document,omitempty"`
	Alert    string          `json:"alert,omitempty"`
	Origin   *deadOrigin     `json:"origin,omitempty"`
}

type deadOrigin struct {
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key,omitempty"`
	Line   int    `json:"line,omitempty"`
	RuleID string `json:"rule_id,omitempty"`
	Seq    int    `json:"seq"`
}

// write appends entries and fsyncs the file.
func (d *deadLetter) write(entries []deadEntry) error {
	var buf []byte
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, e := range entries {
		if e.Time == "" {
			e.Time = now
		}
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("dead_letter_file %s: %w", d.path, err)
		}
		buf = append(append(buf, line...), '\n')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.f.Write(buf); err != nil {
		return fmt.Errorf("dead_letter_file %s: %w", d.path, err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("dead_letter_file %s: %w", d.path, err)
	}
	return nil
}

func (d *deadLetter) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.f.Close()
}

// parseAction reads index, id and pipeline from a record's action line.
func parseAction(rec []byte) (line, doc []byte, index, id, pipeline string) {
	i := indexByte(rec, '\n')
	if i < 0 {
		return rec, nil, "", "", ""
	}
	line, doc = rec[:i], rec[i+1:]
	if n := len(doc); n > 0 && doc[n-1] == '\n' {
		doc = doc[:n-1]
	}
	var a map[string]struct {
		Index    string `json:"_index"`
		ID       string `json:"_id"`
		Pipeline string `json:"pipeline"`
	}
	if json.Unmarshal(line, &a) == nil {
		for _, m := range a {
			index, id, pipeline = m.Index, m.ID, m.Pipeline
		}
	}
	return line, doc, index, id, pipeline
}
