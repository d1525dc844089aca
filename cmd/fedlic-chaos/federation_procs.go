package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
)

// fedConfigHCL is chaosConfigHCL's snapshot tuning (restarts go through
// snapshot restore) plus memberlist's LAN timing: every agent is on this
// host, and B's members must be seen dead and alive again in seconds.
const fedConfigHCL = `snapshot_interval = "1s"
trailing_logs = 128
gossip_fast = true
`

// fedDomain is one domain of the federation run: three agent processes
// and which of them a fault has taken down.
type fedDomain struct {
	name string
	ms   []*member
	mu   sync.Mutex
	down map[string]bool
}

func (d *fedDomain) setDown(down bool, ms ...*member) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range ms {
		d.down[m.name] = down
	}
}

func (d *fedDomain) isDown(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.down[name]
}

// pick returns a random member not taken down (any, if all are).
func (d *fedDomain) pick(rng *rand.Rand) *member {
	var live []*member
	for _, m := range d.ms {
		if !d.isDown(m.name) {
			live = append(live, m)
		}
	}
	if len(live) == 0 {
		live = d.ms
	}
	return live[rng.IntN(len(live))]
}

// startFederationProcs starts domains acme and partner, three agents
// each, scopes acme/* and partner/*, on one gossip pool: every agent
// lists the five other gossip addresses to join, so a restarted agent
// finds the pool through whichever member is up (a failed join is
// retried in the background). The domains returned must be stopped by
// the caller, even with an error.
func startFederationProcs(ctx context.Context, bin, tmp string, snapshotThreshold uint64, register func(*agentProc)) ([]*fedDomain, error) {
	cfgPath := filepath.Join(tmp, "federation.hcl")
	if err := os.WriteFile(cfgPath, []byte(fedConfigHCL), 0o600); err != nil {
		return nil, err
	}
	gossip := make([]string, 6)
	for i := range gossip {
		var err error
		if gossip[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	var ds []*fedDomain
	for k, name := range []string{fedDomainA, fedDomainB} {
		d := &fedDomain{name: name, down: map[string]bool{}}
		ds = append(ds, d)
		for i := 0; i < 3; i++ {
			g, err1 := freePort()
			r, err2 := freePort()
			if err := errors.Join(err1, err2); err != nil {
				return ds, err
			}
			id := fmt.Sprintf("n%d", i+1)
			mname := name + "-" + id
			var others []string
			for j, a := range gossip {
				if j != 3*k+i {
					others = append(others, a)
				}
			}
			p := &agentProc{bin: bin, dir: filepath.Join(tmp, mname), logPath: filepath.Join(tmp, mname+".log")}
			p.args = []string{"agent", "--config", cfgPath, "--domain", name, "--node-id", id, "--data-dir", p.dir,
				"--raft-addr", r, "--grpc-addr", g, "--log-level", "info", "--snapshot-threshold", fmt.Sprint(snapshotThreshold),
				"--scope", name + "/*", "--gossip-addr", gossip[3*k+i], "--gossip-join", strings.Join(others, ",")}
			if i == 0 {
				p.args = append(p.args, "--bootstrap")
			} else {
				p.args = append(p.args, "--join", d.ms[0].grpc)
			}
			c, err := client.Dial(g)
			if err != nil {
				return ds, err
			}
			if register != nil {
				register(p)
			}
			m := &member{name: mname, grpc: g, client: c, proc: p}
			d.ms = append(d.ms, m)
			if err := p.start(); err != nil {
				return ds, err
			}
			if i == 0 {
				if err := waitFor(ctx, 30*time.Second, mname+" to lead", func() (bool, string) {
					s, err := statusOf(ctx, m, time.Second)
					if err != nil {
						return false, err.Error()
					}
					return s.GetState() == "Leader", s.GetState()
				}); err != nil {
					return ds, fmt.Errorf("%w (log: %s)", err, p.logPath)
				}
			}
		}
		for _, m := range d.ms {
			if err := waitServing(ctx, m, 30*time.Second); err != nil {
				return ds, fmt.Errorf("%w (log: %s)", err, m.proc.logPath)
			}
		}
		if err := waitConverged(ctx, d.ms, 30*time.Second); err != nil {
			return ds, fmt.Errorf("domain %s: %w", name, err)
		}
	}
	return ds, nil
}

// rootFingerprintOf waits until a node of d reports its root fingerprint.
func rootFingerprintOf(ctx context.Context, d *fedDomain) (string, error) {
	var fp string
	err := waitFor(ctx, 30*time.Second, "domain "+d.name+"'s root fingerprint", func() (bool, string) {
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		s, err := d.ms[0].client.Domain.Status(c, &pb.DomainStatusRequest{})
		if err != nil {
			return false, err.Error()
		}
		fp = s.GetRootFingerprint()
		return fp != "", "no fingerprint yet"
	})
	return fp, err
}

// fedTrustMaxStaleness is the trust entries' max staleness, with the
// policy deny: B's anchor is refreshed every ~10 s while B is up and B
// is never down for more than seconds, so a B token that failed as
// "peer state stale" would be a fedlic bug, not the policy.
const fedTrustMaxStaleness = time.Hour

// trustEachOther makes each domain trust the other for its scope.
func trustEachOther(ctx context.Context, a, b *fedDomain) error {
	fps := map[string]string{}
	for _, d := range []*fedDomain{a, b} {
		fp, err := rootFingerprintOf(ctx, d)
		if err != nil {
			return err
		}
		fps[d.name] = fp
	}
	for _, pair := range [][2]*fedDomain{{a, b}, {b, a}} {
		d, peer := pair[0], pair[1]
		entry := &pb.TrustEntry{Domain: peer.name, RootFingerprint: fps[peer.name], Scope: []string{peer.name + "/*"},
			MaxStalenessNano: int64(fedTrustMaxStaleness)}
		if err := waitFor(ctx, 30*time.Second, d.name+" to trust "+peer.name, func() (bool, string) {
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := d.ms[1].client.Trust.Add(c, &pb.TrustAddRequest{Entry: entry})
			return err == nil, fmt.Sprint(err)
		}); err != nil {
			return err
		}
	}
	return nil
}

// issueRetry issues a license through d, retrying (for up to max) until
// a node acknowledges it; only the acknowledged attempt is recorded.
func issueRetry(ctx context.Context, d *fedDomain, h *history.History, cl int, licensee, product string, seats int64, max time.Duration) (*pb.WriteResponse, error) {
	var resp *pb.WriteResponse
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	err := waitFor(ctx, max, "an acknowledged issue of "+licensee+" in "+d.name, func() (bool, string) {
		m := d.pick(rng)
		op := history.Op{Client: cl, Kind: history.KindIssue, Node: m.name}
		err := call(ctx, &op, func(c context.Context) (err error) {
			resp, err = m.client.Issue(c, &pb.IssueRequest{Licensee: licensee, Product: product,
				Entitlements: []*pb.Entitlement{client.Count("seats", seats)}})
			return err
		})
		if err != nil {
			return false, m.name + ": " + err.Error()
		}
		op.LicenseID = resp.GetLicense().GetId()
		fillWrite(&op, resp.GetLicense(), resp.GetIndex())
		h.Add(op)
		return true, ""
	})
	return resp, err
}

// verifiesEverywhere polls until every node of d verifies token as valid.
func verifiesEverywhere(ctx context.Context, d *fedDomain, token string, max time.Duration) error {
	return waitFor(ctx, max, "every node of "+d.name+" to verify a peer token", func() (bool, string) {
		for _, m := range d.ms {
			c, cancel := context.WithTimeout(ctx, time.Second)
			r, err := m.client.Licenses.Verify(c, &pb.VerifyRequest{Token: token})
			cancel()
			if err != nil || !r.GetValid() {
				return false, fmt.Sprintf("%s: %v %s %s", m.name, err, r.GetReason(), r.GetDetail())
			}
		}
		return true, ""
	})
}
