// Package transport owns fedlic's Raft network layer: a raft.StreamLayer
// over TCP that can run over mutual TLS, and the constructor that wraps
// it in a raft.NetworkTransport. It must not import node/, api/ or fsm/.
package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// ALPN protocol offered when TLS is on, so a raft port is never mistaken
// for another TLS service.
const alpnRaft = "fedlic-raft/1"

// StreamLayer implements raft.StreamLayer over TCP, optionally with TLS.
type StreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	tls       *tls.Config
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// Listen opens the raft listener on bind. advertise, if non-empty, is the
// address other members dial (it must not be an unspecified address like
// 0.0.0.0). With tlsConf non-nil every connection, in and out, is TLS
// with the config's certificates; set ClientAuth for mutual TLS.
func Listen(bind, advertise string, tlsConf *tls.Config) (*StreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft listen on %s: %w", bind, err)
	}
	adv := ln.Addr()
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("raft advertise address %q: %w", advertise, err)
		}
		adv = a
	}
	if ta, ok := adv.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft address %s is unspecified: other members cannot dial it; give a routable address", adv)
	}
	s := &StreamLayer{ln: ln, advertise: adv}
	if tlsConf != nil {
		c := tlsConf.Clone()
		c.NextProtos = []string{alpnRaft}
		s.tls = c
		s.ln = tls.NewListener(ln, c)
	}
	return s, nil
}

// Accept waits for the next inbound raft connection.
func (s *StreamLayer) Accept() (net.Conn, error) { return s.ln.Accept() }

// Close stops the listener.
func (s *StreamLayer) Close() error { return s.ln.Close() }

// Addr is the advertised address.
func (s *StreamLayer) Addr() net.Addr { return s.advertise }

// Dial opens a connection to another member.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if s.tls == nil {
		return d.Dial("tcp", string(address))
	}
	c := s.tls.Clone() // per dial, as vault does, so ServerName is ours alone
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(string(address))
		if err != nil {
			return nil, err
		}
		c.ServerName = host
	}
	return tls.DialWithDialer(d, "tcp", string(address), c)
}

// Options configure New.
type Options struct {
	Bind, Advertise string
	TLS             *tls.Config
	MaxPool         int           // connections kept per peer; 0 = 3
	Timeout         time.Duration // I/O deadline; 0 = 10s
	Logger          hclog.Logger
}

// New starts a raft.NetworkTransport on a fresh StreamLayer.
func New(o Options) (*raft.NetworkTransport, error) {
	if o.Bind == "" {
		return nil, errors.New("raft bind address is empty: set --raft-addr")
	}
	sl, err := Listen(o.Bind, o.Advertise, o.TLS)
	if err != nil {
		return nil, err
	}
	if o.MaxPool == 0 {
		o.MaxPool = 3
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	logger := o.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  sl,
		MaxPool: o.MaxPool,
		Timeout: o.Timeout,
		Logger:  logger.Named("raft-net"),
	}), nil
}

var _ io.Closer = (*StreamLayer)(nil)
