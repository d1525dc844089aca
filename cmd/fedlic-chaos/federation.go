package main

// Federation chaos (--federation): domains A (acme) and B (partner) of
// three agents each on one gossip pool with mutual trust, both under
// load, while every node of B is killed and restarted again and again
// (alone, or all three at once) and, optionally, A's nodes too. A must
// not depend on B: every check on A answers allowed, A's writes fail
// only inside A's own fault windows. The rules are in
// federation_judge.go, the faults in federation_faults.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
)

// fedOptions are the settings of a federation run: the process mode's,
// plus the interval of A's faults (B's is faultInterval).
type fedOptions struct {
	options
	aFaultInterval time.Duration
}

// fedSummary is the one JSON line printed last on stdout.
type fedSummary struct {
	OK                           bool           `json:"ok"`
	Ops                          int            `json:"ops"`   // A and B writes, A checks
	Acked                        int            `json:"acked"` // acknowledged writes, A and B
	UnknownWrites                int            `json:"unknown_writes"`
	Lost                         int            `json:"lost"` // acknowledged writes missing on a replica, A and B
	Faults                       int            `json:"faults"`
	FaultKinds                   map[string]int `json:"fault_kinds"`
	Seed                         int64          `json:"seed"`
	DurationS                    float64        `json:"duration_s"`
	AChecks                      int            `json:"a_checks"`
	ACheckFailures               int            `json:"a_check_failures"`
	ACheckFailuresInAFaults      int            `json:"a_check_failures_in_a_faults"`
	AChecksDuringBOutage         int            `json:"a_checks_during_b_outage"`
	AWrites                      int            `json:"a_writes"`
	AWriteFailures               int            `json:"a_write_failures"`
	AWriteFailuresOutsideAFaults int            `json:"a_write_failures_outside_a_faults"`
	AFaults                      int            `json:"a_faults"`
	BFaults                      int            `json:"b_faults"`
	BOutages                     int            `json:"b_outages"`
	BWrites                      int            `json:"b_writes"`
	BWriteFailures               int            `json:"b_write_failures"`
	ALinearizable                bool           `json:"a_linearizable"`
	BLinearizable                bool           `json:"b_linearizable"`
	RevocationsUndone            int            `json:"revocations_undone"`
	AReplicasEqual               bool           `json:"a_replicas_equal"`
	BReplicasEqual               bool           `json:"b_replicas_equal"`
	BTokensValidAfterHeal        bool           `json:"b_tokens_valid_after_heal"`
	RevocationProbes             int            `json:"revocation_probes"`
	RevocationMaxMs              int64          `json:"revocation_max_ms"`
	BRevocationsFollowed         int            `json:"b_revocations_followed"`     // licenses revoked in B by the load, checked on every A node after the heal
	BRevocationsMissingAtA       int            `json:"b_revocations_missing_at_a"` // of those, (license, A node) pairs still allowing it
	Problems                     []string       `json:"problems,omitempty"`
	Kept                         string         `json:"kept,omitempty"`
	Error                        string         `json:"error,omitempty"`
}

// federationMain runs --federation and prints the summary; the exit
// status is mainExit's.
func federationMain(ctx context.Context, fo fedOptions) int {
	if len(fo.nodes) > 0 || fo.scenario != "" {
		return harnessError("--federation starts its own processes: no --nodes, no --scenario", fo.seed)
	}
	sum, err := runFederation(ctx, fo)
	sum.Seed = fo.seed
	if err != nil {
		sum.OK, sum.Error = false, err.Error()
	}
	b, _ := json.Marshal(sum)
	fmt.Println(string(b))
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "fedlic-chaos: %v\n", err)
		if sum.Kept != "" {
			fmt.Fprintf(os.Stderr, "fedlic-chaos: logs in %s\n", sum.Kept)
		}
		return 2
	case !sum.OK:
		fmt.Fprintf(os.Stderr, "fedlic-chaos: FEDERATION CHECK FAILED (seed %d); evidence in %s\n", fo.seed, sum.Kept)
		return 1
	}
	return 0
}

// fedRun is the state of one federation run.
type fedRun struct {
	fo     fedOptions
	start  time.Time
	logMu  sync.Mutex
	tmp    string
	a, b   *fedDomain
	load   *fedLoad
	probes []fedProbe
	probMu sync.Mutex
	report *fedReport // set by heal
}

func (r *fedRun) logf(format string, args ...any) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	fmt.Fprintf(r.fo.stderr, "federation %6.1fs: %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

func (r *fedRun) addProbe(p fedProbe) {
	r.probMu.Lock()
	r.probes = append(r.probes, p)
	r.probMu.Unlock()
	if p.Error != "" {
		r.logf("revocation probe after %s: %s", p.After, p.Error)
	} else {
		r.logf("revocation probe after %s: %s denied on every A node %d ms after B acknowledged it (per node: %v)", p.After, p.LicenseID, p.DeniedMs, p.NodeMs)
	}
}

// runFederation starts both domains, sets up trust, runs load and
// faults, heals and judges. An error is a harness problem; the logs are
// then kept too.
func runFederation(ctx context.Context, fo fedOptions) (sum fedSummary, err error) {
	if fo.stderr == nil {
		fo.stderr = os.Stderr
	}
	if fo.clients < 2 {
		return sum, errors.New("--clients must be at least 2 with --federation")
	}
	r := &fedRun{fo: fo, start: time.Now()}
	r.logf("seed %d, %d clients, %s, B faults every %s, A faults every %s", fo.seed, fo.clients, fo.duration, fo.faultInterval, fo.aFaultInterval)
	bin, err := findFedlic(fo.fedlic)
	if err != nil {
		return sum, err
	}
	if r.tmp, err = os.MkdirTemp("", "fedlic-chaos-federation-"); err != nil {
		return sum, err
	}
	var ds []*fedDomain
	stopAgents := sync.OnceFunc(func() {
		for _, d := range ds {
			stopAll(d.ms)
		}
	})
	defer stopAgents()
	defer func() {
		switch {
		case err != nil || !sum.OK || fo.keep != "":
			stopAgents()
			sum.Kept = r.keep(sum, err)
		default:
			os.RemoveAll(r.tmp)
		}
	}()
	r.logf("starting %s and %s (three agents each) from %s in %s", fedDomainA, fedDomainB, bin, r.tmp)
	ds, err = startFederationProcs(ctx, bin, r.tmp, fo.snapshotThreshold, fo.register)
	if err != nil {
		return sum, err
	}
	r.a, r.b = ds[0], ds[1]
	r.load = &fedLoad{a: r.a, b: r.b, histA: &history.History{}, histB: &history.History{}, tokens: map[string]string{}}
	if err := r.setup(ctx); err != nil {
		return sum, err
	}
	return r.drive(ctx)
}

// setup makes the domains trust each other, issues the fixed licenses
// A's checks use, and waits until A verifies B's tokens (and B A's).
func (r *fedRun) setup(ctx context.Context) error {
	if err := trustEachOther(ctx, r.a, r.b); err != nil {
		return err
	}
	l := r.load
	for i := 0; i < 4; i++ {
		for _, d := range []*fedDomain{r.a, r.b} {
			h, list := l.histA, &l.own
			if d == r.b {
				h, list = l.histB, &l.peer
			}
			lic := fixedLicense{licensee: fmt.Sprintf("fed-fixed-%s-%d", d.name, i), product: d.name + "/db"}
			resp, err := issueRetry(ctx, d, h, -1, lic.licensee, lic.product, 10, 30*time.Second)
			if err != nil {
				return err
			}
			lic.id, lic.token = resp.GetLicense().GetId(), resp.GetToken()
			*list = append(*list, lic)
		}
	}
	t0 := time.Now()
	for _, p := range l.peer {
		if err := verifiesEverywhere(ctx, r.a, p.token, 60*time.Second); err != nil {
			return fmt.Errorf("%s never verified %s's token: %w", fedDomainA, fedDomainB, err)
		}
	}
	if err := verifiesEverywhere(ctx, r.b, l.own[0].token, 60*time.Second); err != nil {
		return fmt.Errorf("%s never verified %s's token: %w", fedDomainB, fedDomainA, err)
	}
	r.logf("mutual trust in place: every node verifies the other domain's tokens (%s after the trust was added)", time.Since(t0).Round(time.Millisecond))
	return nil
}

// drive runs the load and the faults for the duration, heals and judges.
func (r *fedRun) drive(ctx context.Context) (fedSummary, error) {
	fo, l := r.fo, r.load
	aWriters, checkers := max(1, fo.clients/2), max(1, fo.clients/4)
	bWriters := max(1, fo.clients-aWriters-checkers)
	loadStop := make(chan struct{})
	var workers sync.WaitGroup
	spawn := func(fn func()) { workers.Add(1); go func() { defer workers.Done(); fn() }() }
	for i := 0; i < aWriters; i++ {
		spawn(func() { l.writer(ctx, r.a, l.histA, i, fo.seed, loadStop) })
	}
	for i := 0; i < bWriters; i++ {
		spawn(func() { l.writer(ctx, r.b, l.histB, i, fo.seed, loadStop) })
	}
	for i := 0; i < checkers; i++ {
		spawn(func() { l.checker(ctx, i, fo.seed, loadStop) })
	}
	r.logf("load: %d A writers, %d A checkers, %d B writers", aWriters, checkers, bWriters)

	faultStop := make(chan struct{})
	var faulters sync.WaitGroup
	fb := &fedFaulter{d: r.b, rng: rand.New(rand.NewPCG(uint64(fo.seed), 0xb0b)), logf: r.logf, stopc: faultStop}
	fb.after = func(ctx context.Context, f fedFault) {
		r.addProbe(l.revocationProbe(ctx, fmt.Sprintf("%s at %s", f.Kind, rel(r.start.UnixNano(), f.At)), len(r.probes)))
	}
	fa := &fedFaulter{d: r.a, rng: rand.New(rand.NewPCG(uint64(fo.seed), 0xa0a)), logf: r.logf, stopc: faultStop}
	if fo.faultInterval > 0 {
		faulters.Add(1)
		go func() {
			defer faulters.Done()
			fb.schedule(ctx, fo.faultInterval, func(n int) fedPlan { return nextBFault(fb.rng, n) })
		}()
	}
	if fo.aFaultInterval > 0 {
		faulters.Add(1)
		go func() {
			defer faulters.Done()
			fa.schedule(ctx, fo.aFaultInterval, func(int) fedPlan { return nextAFault(fa.rng) })
		}()
	}

	deadline := time.After(fo.duration)
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			close(faultStop)
			close(loadStop)
			faulters.Wait()
			workers.Wait()
			return fedSummary{}, fmt.Errorf("interrupted: %w", ctx.Err())
		case <-deadline:
			break wait
		case <-progress.C:
			r.logf("A: %d writes (%d failed), %d checks (%d failed); B: %d writes (%d failed)",
				l.aWrites.Load(), l.aWriteFails.Load(), l.nChecks.Load(), l.checkFails.Load(), l.bWrites.Load(), l.bWriteFails.Load())
		}
	}
	r.logf("duration over: stopping faults (every victim is restarted), then the load")
	close(faultStop)
	faulters.Wait()
	close(loadStop)
	workers.Wait()
	end := time.Now().UnixNano()
	return r.heal(ctx, end, append(fa.faults(), fb.faults()...))
}
