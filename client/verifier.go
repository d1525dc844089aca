package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/license"
)

// Verifier verifies license tokens offline for a service. It fetches
// the domain's trust anchor from a node, accepts it only if its root
// key matches the fingerprint the caller pinned, and refreshes it in
// the background; rolled-back anchors are refused. Verification itself
// never calls the server.
type Verifier struct {
	c     *Client
	v     *license.Verifier
	every time.Duration

	mu      sync.Mutex
	lastErr error
	stop    context.CancelFunc
	done    chan struct{}
}

// NewVerifier fetches the anchor once (so the first Verify works) and
// starts refreshing it every refresh (0: one minute) until Close.
func NewVerifier(ctx context.Context, c *Client, pinnedRootFingerprint string, refresh time.Duration) (*Verifier, error) {
	if pinnedRootFingerprint == "" {
		return nil, fmt.Errorf("pin the domain's root fingerprint (from 'fedlic domain status' via a trusted channel)")
	}
	if refresh <= 0 {
		refresh = time.Minute
	}
	v := &Verifier{c: c, v: license.NewVerifier(pinnedRootFingerprint), every: refresh, done: make(chan struct{})}
	if err := v.Refresh(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	v.stop = cancel
	go v.loop(bg)
	return v, nil
}

// Refresh fetches and accepts the current anchor now.
func (v *Verifier) Refresh(ctx context.Context) error {
	a, err := v.c.Domain.Anchor(ctx, &pb.AnchorRequest{})
	if err == nil {
		var sa *license.SignedAnchor
		if sa, err = license.ParseAnchorJSON([]byte(a.GetAnchorJson())); err == nil {
			err = v.v.Accept(sa, time.Now())
		}
	}
	v.mu.Lock()
	v.lastErr = err
	v.mu.Unlock()
	if err != nil {
		return fmt.Errorf("refresh trust anchor: %w", err)
	}
	return nil
}

func (v *Verifier) loop(ctx context.Context) {
	defer close(v.done)
	t := time.NewTicker(v.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			v.Refresh(rctx) // a failed refresh keeps the last good anchor
			cancel()
		}
	}
}

// Verify checks a token offline against the newest accepted anchor.
func (v *Verifier) Verify(token string) (*license.Claims, error) {
	return v.v.Verify(token, time.Now())
}

// Anchor returns the anchor in use.
func (v *Verifier) Anchor() *license.SignedAnchor { return v.v.Anchor() }

// LastRefreshError is the error of the most recent refresh, if any.
func (v *Verifier) LastRefreshError() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lastErr
}

// Close stops the background refresh.
func (v *Verifier) Close() {
	v.stop()
	<-v.done
}
