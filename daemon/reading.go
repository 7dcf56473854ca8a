package daemon

import (
	"context"
	"fmt"
	"slices"

	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/output"
)

// reading is the write-ahead record of the object a result read
// (state.Reading): its processing time and the id ranges its alerts are
// numbered from.
type reading struct {
	id  state.ObjectID
	rec state.Reading
	ids *output.ObjectIDs // nil without an id source
	// deaths is how many reads of the object the daemon's death cut
	// before this one (limits.crashes_per_object).
	deaths int
	// over is closed once the record counts this read as ended without a
	// death (readOver); overErr is why that failed. awaited is set once
	// awaitOver saw it.
	over    chan struct{}
	overErr error
	awaited bool
}

// beginReading writes the object's write-ahead record before it is read:
// a first read gets the time now and a new id range, a read after a crash
// (the record is there, the object not marked) reuses them, so that its
// alerts are the same, byte for byte, as those the cut read may have
// handed to an output. It returns them as the engine's Object.
func (d *Daemon) beginReading(j *job) (engine.Object, *reading, error) {
	rd := &reading{id: state.ObjectID{Bucket: j.obj.Bucket, Key: j.obj.Key, ETag: j.obj.ETag}}
	rec, found, err := d.opts.Store.Reading(rd.id)
	if err != nil {
		return engine.Object{}, nil, fmt.Errorf("state: %w", err)
	}
	if !found {
		rec = state.Reading{Started: d.now().UTC()}
	}
	if d.opts.IDs != nil {
		if len(rec.IDs) == 0 {
			rec.IDs = []int64{d.opts.IDs.Reserve()}
		}
		rd.ids = output.NewObjectIDs(d.opts.IDs, rec.IDs)
	}
	rec.Tries++
	rec.Scope = j.markScope
	rd.deaths = rec.Deaths()
	if err := d.opts.Store.PutReading(rd.id, rec); err != nil {
		return engine.Object{}, nil, fmt.Errorf("state: %w", err)
	}
	rd.rec = rec
	o := engine.Object{Now: rec.Started, Turn: j.turn, Key: rd.id.Bucket + "/" + rd.id.Key + "#" + rd.id.ETag}
	if rd.ids != nil {
		o.IDs = rd.ids
	}
	return o, rd, nil
}

// readOver records, in the background, that the read of rd is over: the
// object was read to the end, or its read stopped with an error; either
// way it did not kill the daemon, and a death from now on (while its
// result waits for its commit) is not counted against it. The write
// shares its transaction and fsync with the write-ahead records and other
// ends written meanwhile (state.Store.EndReading), so it is durable within
// about one batch (bbolt's 10 ms) and an fsync. A later write of the same
// record waits for it (awaitOver), and so does the result's end (finish).
func (d *Daemon) readOver(rd *reading) {
	if rd == nil || rd.over != nil {
		return
	}
	rd.over = make(chan struct{})
	try := rd.rec.Tries
	go func() {
		defer close(rd.over)
		rd.overErr = d.opts.Store.EndReading(rd.id, try)
	}()
}

// awaitOver waits for readOver's write, and warns when it failed: the
// object's read then counts as cut if the daemon dies before its mark.
func (d *Daemon) awaitOver(rd *reading) {
	if rd == nil || rd.over == nil || rd.awaited {
		return
	}
	<-rd.over
	rd.awaited = true
	if rd.overErr != nil {
		d.log.Warn("state: recording that the object was read failed; if the daemon dies before its mark, the read counts as cut by the death",
			"bucket", rd.id.Bucket, "key", rd.id.Key, "error", rd.overErr.Error())
		return
	}
	// The record as written, for a later PutReading (extend).
	rd.rec.End(rd.rec.Tries)
}

// enterReading waits at the isolation gate until j may be read: alone
// when a death already cut a read of it (its write-ahead record counts
// more reads begun than let go).
func (d *Daemon) enterReading(ctx context.Context, j *job) (func(), error) {
	rec, found, err := d.opts.Store.Reading(state.ObjectID{Bucket: j.obj.Bucket, Key: j.obj.Key, ETag: j.obj.ETag})
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	suspect := found && rec.Tries-rec.Ended > 0
	if suspect {
		d.log.Debug("object read alone: the daemon stopped while reading it before", "bucket", j.obj.Bucket, "key", j.obj.Key,
			"deaths", rec.Tries-rec.Ended)
	}
	return d.iso.enter(ctx, j, suspect)
}

// extendReading records the id ranges the read took beyond those of its
// record, before its alerts reach an output (an object whose alerts did
// not fit in one range). The record is written whole: after readOver's.
func (d *Daemon) extendReading(rd *reading) error {
	if rd == nil || rd.ids == nil || len(rd.ids.Ranges()) == len(rd.rec.IDs) {
		return nil
	}
	d.awaitOver(rd)
	rd.rec.IDs = slices.Clone(rd.ids.Ranges())
	if err := d.opts.Store.PutReading(rd.id, rd.rec); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// readingsHighWater returns the end of the highest id range in the
// write-ahead records: ids above it are free.
func readingsHighWater(store *state.Store) (int64, error) {
	var hw int64
	err := store.Readings(func(_ state.ObjectID, r state.Reading) error {
		for _, base := range r.IDs {
			hw = max(hw, base+output.IDRangeSize)
		}
		return nil
	})
	return hw, err
}
