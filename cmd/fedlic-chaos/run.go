package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
)

// options are the settings of one chaos run (the flags of main).
type options struct {
	duration          time.Duration
	faultInterval     time.Duration
	seed              int64
	clients           int
	fedlic            string
	nodes             []string // attach instead of starting processes
	keep              string   // keep history and logs here ("" only on failure, in a new temp folder)
	snapshotThreshold uint64
	scenario          string // "" or scenarioSnapshotRestart
	linTimeout        time.Duration
	partitions        string // partitionsAuto, partitionsNetns, or partitionsOff ("" is off)
	stderr            io.Writer
	register          func(*agentProc) // tests: told of every agent process, to kill it in cleanup
}

// summary is the one JSON line printed last on stdout.
type summary struct {
	OK                        bool           `json:"ok"`
	Ops                       int            `json:"ops"`
	Acked                     int            `json:"acked"`
	UnknownWrites             int            `json:"unknown_writes"`
	Lost                      int            `json:"lost"`
	Linearizable              bool           `json:"linearizable"`
	LinearizabilityResult     string         `json:"linearizability_result"`
	NonLinearizable           []string       `json:"non_linearizable,omitempty"`
	RevocationsUndone         int            `json:"revocations_undone"`
	ReplicasEqual             bool           `json:"replicas_equal"`
	StaleDuringNoLeader       int            `json:"stale_during_no_leader"`
	StaleFailedDuringNoLeader int            `json:"stale_failed_during_no_leader"`
	LeaderlessWindows         int            `json:"leaderless_windows"`
	Faults                    int            `json:"faults"`
	FaultKinds                map[string]int `json:"fault_kinds"`
	// Partitions is "netns" when partition faults ran, else "off: why".
	Partitions string `json:"partitions,omitempty"`
	// Isolation judges what isolated nodes answered (with partitions only;
	// its problems are in Problems and report.json).
	Isolation *isolationReport `json:"isolation,omitempty"`
	Seed      int64            `json:"seed"`
	DurationS float64          `json:"duration_s"`
	Problems  []string         `json:"problems,omitempty"` // the first few, see report.json
	Kept      string           `json:"kept,omitempty"`
	Error     string           `json:"error,omitempty"`
}

type runner struct {
	o      options
	start  time.Time
	logMu  sync.Mutex
	ms     []*member
	tmp    string
	down   *downTracker
	watch  *leaderWatch
	load   *loader
	hist   *history.History
	faultN int
	lab    *netLab // nil without partitions
}

// Partition modes (--partitions).
const (
	partitionsAuto  = "auto"  // with network namespaces if they work here, else without partitions
	partitionsNetns = "netns" // with network namespaces, or a harness error
	partitionsOff   = "off"
)

// setupPartitions decides whether this run injects partitions and, if
// so, builds its network namespaces. It returns the summary's
// "partitions" value; an error is a harness error.
func (r *runner) setupPartitions() (string, error) {
	mode := r.o.partitions
	switch mode {
	case "":
		return "off: not requested", nil
	case partitionsOff:
		return "off: --partitions off", nil
	case partitionsAuto, partitionsNetns:
	default:
		return "", fmt.Errorf("--partitions %q: use auto, netns or off", mode)
	}
	if len(r.o.nodes) > 0 {
		if mode == partitionsNetns {
			return "", fmt.Errorf("--partitions netns needs agents this harness starts; with --nodes it attaches (use --partitions off)")
		}
		return "off: attached to existing nodes", nil
	}
	if err := probeNetns(); err != nil {
		if mode == partitionsNetns {
			return "", fmt.Errorf("--partitions netns: %w; run as root on Linux with ip and nft, or use --partitions off", err)
		}
		r.logf("partitions off: %v", err)
		return "off: " + err.Error(), nil
	}
	removed, err := removeStaleLabs()
	if len(removed) > 0 {
		r.logf("removed leftovers of earlier runs: %s", strings.Join(removed, ", "))
	}
	if err != nil {
		r.logf("removing leftovers of earlier runs: %v", err)
	}
	lab, err := newNetLab(3)
	if err != nil {
		return "", err
	}
	r.lab = lab
	r.logf("partitions on: nodes in network namespaces %s.* at %s, %s, %s", lab.prefix, lab.nodeIP(0), lab.nodeIP(1), lab.nodeIP(2))
	return "netns", nil
}

func (r *runner) logf(format string, args ...any) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	fmt.Fprintf(r.o.stderr, "chaos %6.1fs: %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// run starts (or attaches to) a domain, drives load and faults for the
// duration, heals, reads every replica and checks the history. An error
// is a harness problem, not a failed check.
func run(ctx context.Context, o options) (sum summary, err error) {
	if o.stderr == nil {
		o.stderr = os.Stderr
	}
	if o.clients <= 0 {
		return sum, fmt.Errorf("--clients must be at least 1")
	}
	r := &runner{o: o, start: time.Now(), down: newDownTracker(), watch: &leaderWatch{}, hist: &history.History{}}
	sum.Seed = o.seed
	r.logf("seed %d, %d clients, %s, faults every %s", o.seed, o.clients, o.duration, o.faultInterval)

	r.tmp, err = os.MkdirTemp("", "fedlic-chaos-")
	if err != nil {
		return sum, err
	}
	kept := false
	defer func() {
		if !kept {
			os.RemoveAll(r.tmp)
		}
	}()
	partitions, err := r.setupPartitions()
	sum.Partitions = partitions
	if err != nil {
		return sum, err
	}
	if r.lab != nil {
		// Deferred before the agents are stopped, so it runs after.
		defer func() {
			if err := r.lab.close(); err != nil {
				r.logf("removing the network namespaces: %v", err)
			}
		}()
	}
	if len(o.nodes) > 0 {
		r.ms, err = attach(ctx, o.nodes)
	} else {
		var bin string
		if bin, err = findFedlic(o.fedlic); err == nil {
			r.logf("starting three agents from %s in %s", bin, r.tmp)
			r.ms, err = startProcs(ctx, bin, r.tmp, o.snapshotThreshold, o.register, r.lab)
		}
	}
	if err != nil {
		return sum, err
	}
	stopAgents := sync.OnceFunc(func() { stopAll(r.ms) })
	defer stopAgents()
	r.load = &loader{ms: r.ms, down: r.down, h: r.hist, pool: newPool()}

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var watchDone sync.WaitGroup
	watchDone.Add(1)
	go func() { defer watchDone.Done(); r.watch.run(watchCtx, r.ms, r.down.isIsolated) }()

	loadStop := make(chan struct{})
	var workers sync.WaitGroup
	for i := 0; i < o.clients; i++ {
		workers.Add(1)
		go func() { defer workers.Done(); r.load.worker(ctx, i, o.seed, loadStop) }()
	}

	faultStop := make(chan struct{})
	faultDone := make(chan struct{})
	go func() {
		defer close(faultDone)
		if len(o.nodes) > 0 {
			r.logf("attached to existing nodes: faults disabled")
			return
		}
		f := &faulter{ms: r.ms, down: r.down, rng: rand.New(rand.NewPCG(uint64(o.seed), 0xfa17)), logf: r.logf, stopc: faultStop}
		if r.lab != nil {
			f.kinds, f.net, f.hist, f.pool = partitionFaultKinds, r.lab, r.hist, r.load.pool
		}
		if o.scenario == scenarioSnapshotRestart {
			if err := r.snapshotRestart(ctx, f); err != nil {
				r.logf("scenario %s: %v", o.scenario, err)
			}
		}
		if o.faultInterval > 0 {
			f.schedule(ctx, o.faultInterval)
		}
	}()

	deadline := time.After(o.duration)
	progress := time.NewTicker(5 * time.Second)
	lastOps, lastAt := int64(0), time.Now()
wait:
	for {
		select {
		case <-ctx.Done():
			close(faultStop)
			close(loadStop)
			<-faultDone // no restart may happen after the agents are killed
			return sum, fmt.Errorf("interrupted: %w", ctx.Err())
		case <-deadline:
			break wait
		case now := <-progress.C:
			n := r.load.ops.Load()
			r.logf("%d ops, %.0f ops/s", n, float64(n-lastOps)/now.Sub(lastAt).Seconds())
			lastOps, lastAt = n, now
		}
	}
	progress.Stop()

	r.logf("duration over: stopping faults, healing")
	close(faultStop)
	<-faultDone
	close(loadStop)
	workers.Wait()
	stopWatch()
	watchDone.Wait()
	r.logf("load stopped after %d ops; waiting for the replicas to converge", r.load.ops.Load())

	replicas, err := readReplicas(ctx, r.ms, 90*time.Second)
	if err != nil {
		stopAgents()
		kept = r.keepOnError(&sum, err)
		return sum, err
	}
	nodeDown, faults := r.down.snapshot()
	windows := r.watch.snapshot()
	r.logf("checking %d operations (%d faults, %d leaderless windows)", len(r.hist.Ops), len(faults), len(windows))
	rep := history.Check(r.hist, replicas, history.Options{
		LinearizabilityTimeout: o.linTimeout,
		VisualizePath:          filepath.Join(r.tmp, "linearizability.html"),
		LeaderlessWindows:      windows,
		NodeDown:               nodeDown,
	})
	var iso *isolationReport
	if r.lab != nil {
		i := checkIsolation(r.hist.Ops, faults)
		iso = &i
	}
	sum = summarize(rep, iso, faults, windows, o.seed)
	sum.Partitions = partitions
	sum.DurationS = time.Since(r.start).Round(100 * time.Millisecond).Seconds()
	if !sum.OK || o.keep != "" {
		stopAgents()
		dir, kerr := r.keepAll(rep, iso, faults, windows, nodeDown, replicas)
		if kerr != nil {
			r.logf("keeping the evidence failed: %v", kerr)
		}
		sum.Kept = dir
		kept = dir == r.tmp
	}
	return sum, nil
}

func summarize(rep history.Report, iso *isolationReport, faults []faultRecord, windows [][2]int64, seed int64) summary {
	s := summary{
		OK: rep.OK(), Ops: rep.Ops, Acked: rep.Acked, UnknownWrites: rep.UnknownWrite, Lost: rep.Lost,
		Linearizable: rep.Linearizable, LinearizabilityResult: rep.LinearizabilityResult, NonLinearizable: rep.NonLinearizable,
		RevocationsUndone: rep.RevocationsUndone, ReplicasEqual: rep.ReplicasEqual,
		StaleDuringNoLeader: rep.StaleDuringNoLeader, StaleFailedDuringNoLeader: rep.StaleFailedDuringNoLeader,
		LeaderlessWindows: len(windows), Faults: len(faults), FaultKinds: map[string]int{}, Seed: seed,
	}
	for _, f := range faults {
		s.FaultKinds[f.Kind]++
	}
	if len(s.NonLinearizable) > 10 {
		s.NonLinearizable = s.NonLinearizable[:10]
	}
	var probs []string
	probs = append(probs, rep.LostWrites...)
	probs = append(probs, rep.Undone...)
	probs = append(probs, rep.StaleFailures...)
	if iso != nil {
		s.OK = s.OK && iso.ok()
		probs = append(probs, iso.Problems...)
		counts := *iso
		counts.Problems = nil
		s.Isolation = &counts
	}
	if !rep.ReplicasEqual {
		probs = append(probs, fmt.Sprintf("replica hashes differ: %v", rep.ReplicaHashes))
	}
	if len(probs) > 5 {
		probs = probs[:5]
	}
	s.Problems = probs
	return s
}

// keepDir returns where to keep evidence: --keep, or a new temp folder.
func (r *runner) keepDir() (string, error) {
	if r.o.keep != "" {
		return r.o.keep, os.MkdirAll(r.o.keep, 0o755)
	}
	return os.MkdirTemp("", "fedlic-chaos-kept-")
}

// keepAll writes the history, the report, the faults and the final
// replica states beside the agents' logs and data dirs.
func (r *runner) keepAll(rep history.Report, iso *isolationReport, faults []faultRecord, windows [][2]int64, nodeDown map[string][][2]int64, replicas []history.ReplicaState) (string, error) {
	dir, err := r.keepDir()
	if err != nil {
		return "", err
	}
	var errs []error
	writeJSON := func(name string, v any) {
		b, err := json.MarshalIndent(v, "", "  ")
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	writeJSON("report.json", rep)
	writeJSON("faults.json", map[string]any{"seed": r.o.seed, "faults": faults, "leaderless_windows": windows, "node_down": nodeDown, "isolation": iso})
	writeJSON("replicas.json", replicas)
	if f, err := os.Create(filepath.Join(dir, "history.jsonl")); err != nil {
		errs = append(errs, err)
	} else {
		if err := r.hist.WriteJSONL(f); err != nil {
			errs = append(errs, err)
		}
		f.Close()
	}
	r.moveAgentFiles(dir)
	r.logf("kept history, report and logs in %s", dir)
	if len(errs) > 0 {
		return dir, fmt.Errorf("%v", errs)
	}
	return dir, nil
}

// moveAgentFiles moves logs, data dirs and the visualization from the
// run's temp folder into dir (best effort: a rename across file systems
// fails and leaves them to be removed).
func (r *runner) moveAgentFiles(dir string) { moveRunFiles(r.tmp, dir, r.logf) }

// moveRunFiles moves every file and folder of tmp into dir, folders
// renamed NAME-data; logf hears what could not be moved.
func moveRunFiles(tmp, dir string, logf func(string, ...any)) {
	entries, _ := os.ReadDir(tmp)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		dst := n
		if fi, err := os.Stat(filepath.Join(tmp, n)); err == nil && fi.IsDir() {
			dst = n + "-data"
		}
		if err := os.Rename(filepath.Join(tmp, n), filepath.Join(dir, dst)); err != nil {
			logf("could not keep %s: %v", n, err)
		}
	}
}

// keepOnError keeps the evidence when the final state could not be read.
func (r *runner) keepOnError(sum *summary, cause error) bool {
	nodeDown, faults := r.down.snapshot()
	dir, err := r.keepAll(history.Report{Errors: []string{cause.Error()}}, nil, faults, r.watch.snapshot(), nodeDown, nil)
	if err != nil {
		r.logf("keeping the evidence failed: %v", err)
	}
	sum.Kept = dir
	return dir == r.tmp
}
