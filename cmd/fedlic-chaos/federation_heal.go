package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
)

// fedReport is everything the judges said, kept as report.json.
type fedReport struct {
	Summary fedSummary     `json:"summary"`
	Verdict fedVerdict     `json:"verdict"`
	A       history.Report `json:"a"`
	B       history.Report `json:"b"`
	Faults  []fedFault     `json:"faults"`
	Probes  []fedProbe     `json:"probes"`
	// MissingRevocations: licenses revoked in B that an A node still
	// allowed after the heal, with the index B acknowledged the revoke
	// at (0: unknown outcome), beside each A node's recorded watermark
	// of B's revocations (anti-entropy asks B only for what follows it).
	MissingRevocations []missingRevocation `json:"missing_revocations,omitempty"`
	AWatermarkOfB      map[string]uint64   `json:"a_watermark_of_b,omitempty"`
}

type missingRevocation struct {
	License     string   `json:"license"`
	ANodes      []string `json:"a_nodes"`
	BRevokeIdx  uint64   `json:"b_revoke_index"`
	BRevokeNode string   `json:"b_revoke_node,omitempty"`
	BRevokeAt   string   `json:"b_revoke_at,omitempty"`
}

// explainMissing pairs every license A did not deny with B's revoke.
func (r *fedRun) explainMissing(ctx context.Context, missing []string) ([]missingRevocation, map[string]uint64) {
	byID := map[string]*missingRevocation{}
	var out []*missingRevocation
	for _, k := range missing {
		i := strings.IndexByte(k, '@')
		id, node := k[:i], k[i+1:]
		if byID[id] == nil {
			byID[id] = &missingRevocation{License: id}
			out = append(out, byID[id])
		}
		byID[id].ANodes = append(byID[id].ANodes, node)
	}
	for _, op := range r.load.histB.Snapshot() {
		if m := byID[op.LicenseID]; m != nil && op.Kind == history.KindRevoke && op.Outcome == history.OutcomeOK {
			m.BRevokeIdx, m.BRevokeNode, m.BRevokeAt = op.Index, op.Node, rel(r.start.UnixNano(), op.Return)
		}
	}
	marks := map[string]uint64{}
	for _, m := range r.a.ms {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := m.client.Federation.Peers(c, &pb.PeersRequest{})
		cancel()
		for _, p := range resp.GetPeers() {
			if err == nil && p.GetDomain() == fedDomainB {
				marks[m.name] = p.GetRevocationWatermark()
			}
		}
	}
	res := make([]missingRevocation, 0, len(out))
	for _, m := range out {
		res = append(res, *m)
	}
	return res, marks
}

// heal runs after every victim is back and the load has stopped: one
// more B revocation must reach every A node, B's fixed tokens must
// still verify on every A node, each domain's replicas must converge to
// equal states holding every acknowledged write, and A's checks and
// write failures are judged.
func (r *fedRun) heal(ctx context.Context, end int64, faults []fedFault) (fedSummary, error) {
	l := r.load
	r.addProbe(l.revocationProbe(ctx, "the final heal", len(r.probes)))
	var problems []string
	tokensOK := true
	for _, p := range l.peer {
		if err := verifiesEverywhere(ctx, r.a, p.token, 30*time.Second); err != nil {
			tokensOK = false
			problems = append(problems, fmt.Sprintf("after B healed, %s's token %s: %v", fedDomainB, p.id, err))
		}
	}
	r.logf("reading every replica of both domains")
	var reps [2]history.Report
	var finalB history.ReplicaState
	for i, d := range []*fedDomain{r.a, r.b} {
		h := l.histA
		if d == r.b {
			h = l.histB
		}
		replicas, err := readReplicas(ctx, d.ms, 90*time.Second)
		if err != nil {
			return fedSummary{}, fmt.Errorf("domain %s did not converge: %w", d.name, err)
		}
		if d == r.b {
			finalB = replicas[0]
		}
		reps[i] = history.Check(h, replicas, history.Options{LinearizabilityTimeout: r.fo.linTimeout,
			VisualizePath: filepath.Join(r.tmp, d.name+"-linearizability.html")})
	}
	repA, repB := reps[0], reps[1]
	missing, followed := l.missingRevocations(ctx, finalB, fedProbeBound)
	var missDetail []missingRevocation
	var marks map[string]uint64
	if len(missing) > 0 {
		missDetail, marks = r.explainMissing(ctx, missing)
	}
	r.logf("%d licenses revoked in %s by the load: %d (license, A node) pairs not denied on %s", followed, fedDomainB, len(missing), fedDomainA)
	for i, m := range missing {
		if i == 5 {
			problems = append(problems, fmt.Sprintf("... and %d more B revocations not denied on A", len(missing)-5))
			break
		}
		problems = append(problems, fmt.Sprintf("license %s revoked in %s is still not denied on %s after %s", m[:strings.IndexByte(m, '@')], fedDomainB, m[strings.IndexByte(m, '@')+1:], fedProbeBound))
	}
	v := judgeFederation(fedRecord{Start: r.start.UnixNano(), End: end, Checks: l.allChecks(),
		AWrites: l.histA.Snapshot(), Faults: faults}, fedSettle)

	s := fedSummary{Seed: r.fo.seed, FaultKinds: map[string]int{},
		AChecks: v.AChecks, ACheckFailures: v.ACheckFailures, ACheckFailuresInAFaults: v.ACheckExcused,
		AChecksDuringBOutage: v.AChecksDuringBOutage, AWrites: v.AWrites, AWriteFailures: v.AWriteFailures,
		AWriteFailuresOutsideAFaults: v.AWriteFailuresOutside,
		BWrites:                      int(l.bWrites.Load()), BWriteFailures: int(l.bWriteFails.Load()),
		ALinearizable: repA.Linearizable, BLinearizable: repB.Linearizable,
		AReplicasEqual: repA.ReplicasEqual, BReplicasEqual: repB.ReplicasEqual,
		BTokensValidAfterHeal: tokensOK, BRevocationsFollowed: followed, BRevocationsMissingAtA: len(missing),
	}
	s.Ops = repA.Ops + repB.Ops + v.AChecks
	s.Acked, s.UnknownWrites, s.Lost = repA.Acked+repB.Acked, repA.UnknownWrite+repB.UnknownWrite, repA.Lost+repB.Lost
	s.RevocationsUndone = repA.RevocationsUndone + repB.RevocationsUndone
	for _, f := range faults {
		s.Faults++
		s.FaultKinds[f.Kind]++
		switch {
		case f.Domain == fedDomainA:
			s.AFaults++
		default:
			s.BFaults++
		}
		if f.Kind == fedBOutage {
			s.BOutages++
		}
		if f.Back == 0 {
			problems = append(problems, fmt.Sprintf("%s %v at %s: victims never came back:%s", f.Kind, f.Nodes, rel(r.start.UnixNano(), f.At), f.Note))
		}
	}
	r.probMu.Lock()
	probes := append([]fedProbe(nil), r.probes...)
	r.probMu.Unlock()
	for _, p := range probes {
		s.RevocationProbes++
		s.RevocationMaxMs = max(s.RevocationMaxMs, p.DeniedMs)
		if p.Error != "" {
			problems = append(problems, "revocation probe after "+p.After+": "+p.Error)
		}
	}
	problems = append(problems, v.Problems...)
	for _, x := range []struct {
		name string
		rep  history.Report
	}{{fedDomainA, repA}, {fedDomainB, repB}} {
		for _, w := range append(append([]string(nil), x.rep.LostWrites...), x.rep.Undone...) {
			problems = append(problems, x.name+": "+w)
		}
		if !x.rep.ReplicasEqual {
			problems = append(problems, fmt.Sprintf("%s: replica hashes differ: %v", x.name, x.rep.ReplicaHashes))
		}
		if !x.rep.Linearizable {
			problems = append(problems, fmt.Sprintf("%s: not linearizable (%s): %v", x.name, x.rep.LinearizabilityResult, x.rep.NonLinearizable))
		}
	}
	s.OK = len(problems) == 0 && repA.OK() && repB.OK() && s.RevocationProbes > 0
	if s.RevocationProbes == 0 {
		problems = append(problems, "no revocation probe ran")
	}
	s.DurationS = time.Since(r.start).Round(100 * time.Millisecond).Seconds()
	r.report = &fedReport{Summary: s, Verdict: v, A: repA, B: repB, Faults: faults, Probes: probes,
		MissingRevocations: missDetail, AWatermarkOfB: marks}
	r.report.Summary.Problems = problems
	if len(problems) > 8 {
		problems = problems[:8]
	}
	s.Problems = problems
	return s, nil
}

// keep writes the report, the histories and the failed checks beside
// the agents' logs and data dirs, in --keep or a new temp folder, and
// returns the folder ("" if nothing could be kept).
func (r *fedRun) keep(sum fedSummary, cause error) string {
	dir := r.fo.keep
	var err error
	if dir != "" {
		err = os.MkdirAll(dir, 0o755)
	} else {
		dir, err = os.MkdirTemp("", "fedlic-chaos-federation-kept-")
	}
	if err != nil {
		r.logf("keeping the evidence failed: %v", err)
		return ""
	}
	writeJSON := func(name string, v any) {
		b, err := json.MarshalIndent(v, "", "  ")
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
		}
		if err != nil {
			r.logf("keep %s: %v", name, err)
		}
	}
	if r.report != nil {
		writeJSON("report.json", r.report)
	} else {
		writeJSON("report.json", map[string]any{"summary": sum, "error": fmt.Sprint(cause)})
	}
	if l := r.load; l != nil {
		var failed []fedCheck
		for _, c := range l.allChecks() {
			if !c.Answered || !c.Allowed {
				failed = append(failed, c)
			}
		}
		writeJSON("failed-checks.json", failed)
		for name, h := range map[string]*history.History{"history-" + fedDomainA + ".jsonl": l.histA, "history-" + fedDomainB + ".jsonl": l.histB} {
			if f, err := os.Create(filepath.Join(dir, name)); err == nil {
				if err := h.WriteJSONL(f); err != nil {
					r.logf("keep %s: %v", name, err)
				}
				f.Close()
			}
		}
	}
	moveRunFiles(r.tmp, dir, r.logf)
	if dir != r.tmp {
		os.RemoveAll(r.tmp)
	}
	r.logf("kept report, histories and logs in %s", dir)
	return dir
}
