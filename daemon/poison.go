package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// endReading counts a read the daemon let go without a mark (a retry, a
// shutdown, a bad object without skip_on_error, a failure of its own) in
// the object's write-ahead record: it was no death while reading it. A
// marked object's record is deleted by its mark instead. A read already
// counted when it was over (readOver) is not counted again.
func (d *Daemon) endReading(res *result) {
	if res.reading == nil {
		return
	}
	rd := res.reading
	res.reading = nil
	d.awaitOver(rd)
	if rd.rec.LastEnded >= rd.rec.Tries {
		return // counted when the read was over
	}
	if err := d.opts.Store.EndReading(rd.id, rd.rec.Tries); err != nil {
		d.log.Warn("state: recording the end of a read failed; it may count as cut by a death",
			"bucket", rd.id.Bucket, "key", rd.id.Key, "error", err.Error())
	}
}

// QuarantinedObject is one line of the objects' quarantine file (JSON
// Lines), beside the queues' quarantine files: an object skipped without
// being read.
type QuarantinedObject struct {
	Time   time.Time `json:"time"`
	Bucket string    `json:"bucket"`
	Key    string    `json:"key"`
	ETag   string    `json:"etag"`
	Size   int64     `json:"size"`
	Reason string    `json:"reason"`
}

// quarantinePath is the objects' quarantine file: quarantine/objects.jsonl
// beside the state file, where the queues' quarantine files go by default.
func (d *Daemon) quarantinePath() string {
	return filepath.Join(filepath.Dir(d.cfg.StatePath), "quarantine", "objects.jsonl")
}

// quarantine appends an object to the quarantine file, fsync'd.
func (d *Daemon) quarantine(res *result, reason string) error {
	j := res.job
	line, err := json.Marshal(QuarantinedObject{Time: d.now().UTC(), Bucket: j.obj.Bucket, Key: j.obj.Key,
		ETag: j.obj.ETag, Size: j.obj.Size, Reason: reason})
	if err != nil {
		return err
	}
	p := d.quarantinePath()
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p, err)
	}
	return f.Close()
}
