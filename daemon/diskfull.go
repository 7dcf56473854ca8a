package daemon

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/output"
)

// Disk-full pause: the first retry comes after Options.RoomBackoff
// (defaultRoomBackoff), then twice as late up to roomBackoffMax; a WARN
// says the daemon still waits every roomNag.
const (
	defaultRoomBackoff = time.Second
	roomBackoffMax     = 30 * time.Second
	roomNag            = time.Minute
)

// ErrDiskFull is the error of a `run --once` that found no room for the
// alerts file (or the state): it stops instead of waiting.
var ErrDiskFull = errors.New("no room on disk")

// diskFull says whether err is a file system's refusal for lack of room
// that repeating the same write can get past: the alerts file's (which
// keeps what it refused) or, unless fileOnly, any other (a state
// transaction rolled back, a sync that can be repeated).
func diskFull(err error, fileOnly bool) bool {
	var df *output.DiskFullError
	return errors.As(err, &df) || !fileOnly && output.IsDiskFull(err)
}

// freeBytes returns the bytes free for the daemon on the file system of
// path.
func freeBytes(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil // Bsize is uint32 on macOS
}

// untilRoom runs write — a write or sync of the outputs, or a state
// commit — until it succeeds or fails for another reason. A refusal for
// lack of room pauses the daemon instead of stopping it: nothing is marked
// meanwhile (write comes before the marks' commit), a WARN names the path
// and the room left, /readyz turns not ready, and write is tried again
// with a growing backoff until it passes, which writes the refused bytes
// exactly once. With --once, or when the daemon is stopping (after
// shutdown_grace), the error is returned. fileOnly limits the pause to the
// alerts file's refusals: a write to several outputs can be repeated only
// when the file, the first of them, refused it.
func (cm *committer) untilRoom(what string, fileOnly bool, write func() error) error {
	err := write()
	if err == nil || !diskFull(err, fileOnly) {
		return err
	}
	d := cm.d
	path, free := cm.room(err)
	ready := "disk space for " + path
	d.opts.Metrics.Error(metrics.ErrorDiskFull)
	d.opts.Metrics.SetReady(ready, err)
	if cm.once {
		return fmt.Errorf("%w: %s: %w (%d bytes free); nothing read since the last commit is marked: "+
			"make room and run again", ErrDiskFull, what, err, free)
	}
	d.log.Warn("disk full: "+what+" refused; nothing is marked until it passes, retrying as room comes back",
		"path", path, "free_bytes", free, "error", err.Error())
	began, nagged := time.Now(), time.Now()
	backoff := d.opts.RoomBackoff
	var stopBy <-chan time.Time
	for {
		select {
		case <-time.After(backoff):
		case <-cm.ctx.Done(): // aborted
			return err
		case <-cm.stopping:
			if stopBy == nil {
				t := time.NewTimer(d.cfg.ShutdownGrace)
				defer t.Stop()
				stopBy, cm.stopping = t.C, nil
				d.log.Warn("stopping while the disk is full: waiting for room at most shutdown_grace", "grace", d.cfg.ShutdownGrace.String())
			}
			continue
		case <-stopBy:
			return fmt.Errorf("stopped while waiting for room: %w", err)
		}
		if err = write(); err == nil || !diskFull(err, fileOnly) {
			break
		}
		backoff = min(2*backoff, roomBackoffMax)
		if time.Since(nagged) >= roomNag {
			nagged = time.Now()
			_, free = cm.room(err)
			d.log.Warn("disk full: still waiting for room", "path", path, "free_bytes", free,
				"waiting", time.Since(began).Round(time.Second).String())
		}
	}
	d.opts.Metrics.SetReady(ready, nil)
	if err == nil {
		d.log.Info("room is back: carrying on", "path", path, "paused", time.Since(began).Round(time.Millisecond).String())
	}
	return err
}

// room names the file a disk-full error is about and the bytes free on
// its file system.
func (cm *committer) room(err error) (path string, free int64) {
	d := cm.d
	var df *output.DiskFullError
	if errors.As(err, &df) {
		path = df.Path
	} else {
		path = d.cfg.StatePath
	}
	if f := d.opts.File; f != nil && path == f.Path() {
		free, _ = f.Free()
		return path, free
	}
	free, _ = freeBytes(path)
	return path, free
}
