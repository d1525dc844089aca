package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/fsm"
	"github.com/hashicorp/raft"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// benchSnapshot fills a state machine with o.licenses licenses (applied
// through ApplyBatch, as raft would) and times snapshot and restore.
// Baselines: writing (with fsync) and reading the same bytes raw.
func benchSnapshot(ctx context.Context, o opts, rep *reporter) error {
	dir, err := os.MkdirTemp("", "fedlic-bench-snap-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	progress("snapshot: filling %d licenses", o.licenses)
	before := heapInUse()
	f := fsm.New(nil)
	now := time.Now().UnixNano()
	ents := sampleIssue(0).GetEntitlements()
	var idx uint64
	batch := make([]*raft.Log, 0, 1000)
	for i := 0; i < o.licenses; i++ {
		idx++
		b, err := fsm.Encode(fsm.IssueType, &pb.IssueCommand{License: &pb.License{Id: fmt.Sprintf("lic-%020d", i), Domain: "",
			Licensee: fmt.Sprintf("licensee-%d", i%50000), Product: fmt.Sprintf("bench/p%d", i%20), Entitlements: ents, CreatedUnixNano: now}})
		if err != nil {
			return err
		}
		batch = append(batch, &raft.Log{Index: idx, Type: raft.LogCommand, Data: b})
		if len(batch) == cap(batch) || i == o.licenses-1 {
			for _, r := range f.ApplyBatch(batch) {
				if res := r.(*fsm.Result); res.Err != nil {
					return res.Err
				}
			}
			batch = batch[:0]
		}
	}
	perLicense := float64(heapInUse()-before) / float64(o.licenses)
	path := filepath.Join(dir, "state.snap")
	t0 := time.Now()
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.WriteSnapshot(out); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	out.Close()
	snapTime := time.Since(t0)
	st, _ := os.Stat(path)
	t0 = time.Now()
	in, _ := os.Open(path)
	g := fsm.New(nil)
	if err := g.Restore(in); err != nil {
		return err
	}
	restoreTime := time.Since(t0)
	if g.Count() != o.licenses || g.Hash() != f.Hash() {
		return fmt.Errorf("restored state differs: %d licenses", g.Count())
	}
	// Baselines: the same bytes written with fsync, and read back.
	t0 = time.Now()
	raw, _ := os.Create(filepath.Join(dir, "raw"))
	src, _ := os.Open(path)
	io.Copy(raw, src)
	raw.Sync()
	raw.Close()
	src.Close()
	rawWrite := time.Since(t0)
	t0 = time.Now()
	src, _ = os.Open(filepath.Join(dir, "raw"))
	io.Copy(io.Discard, src)
	src.Close()
	rawRead := time.Since(t0)
	tag := fmt.Sprintf("%d licenses", o.licenses)
	rep.add(row{Bench: "snapshot", Metric: "snapshot time, " + tag, Unit: "s", Ours: snapTime.Seconds(), Baseline: rawWrite.Seconds(), Target: "<= 3 (1M)", Note: "baseline: copy+fsync of the same bytes"})
	rep.add(row{Bench: "snapshot", Metric: "restore time, " + tag, Unit: "s", Ours: restoreTime.Seconds(), Baseline: rawRead.Seconds(), Target: "<= 5 (1M)", Note: "baseline: read of the same bytes"})
	rep.add(row{Bench: "snapshot", Metric: "snapshot size, " + tag, Unit: "MiB", Ours: float64(st.Size()) / (1 << 20)})
	rep.add(row{Bench: "snapshot", Metric: "heap per license", Unit: "bytes", Ours: perLicense, Target: "<= 1024"})
	f, g = nil, nil // let the collector have them before agents start
	return catchUp(ctx, o, path, o.licenses, rep)
}
