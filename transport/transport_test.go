package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// testPKI makes a CA and one leaf certificate for 127.0.0.1.
func testPKI(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fedlic test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}

// roundTrip dials from a to b and checks bytes flow both ways.
func roundTrip(t *testing.T, a, b *StreamLayer) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		c, err := b.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			errc <- err
			return
		}
		_, err = c.Write(buf)
		errc <- err
	}()
	c, err := a.Dial(raft.ServerAddress(b.Addr().String()), 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ping" {
		t.Fatalf("echo = %q", buf)
	}
	return <-errc
}

func listen(t *testing.T, conf *tls.Config) *StreamLayer {
	t.Helper()
	s, err := Listen("127.0.0.1:0", "", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPlainTCP(t *testing.T) {
	if err := roundTrip(t, listen(t, nil), listen(t, nil)); err != nil {
		t.Fatal(err)
	}
}

func TestMutualTLS(t *testing.T) {
	pool, cert := testPKI(t)
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	if err := roundTrip(t, listen(t, conf), listen(t, conf)); err != nil {
		t.Fatalf("mutual TLS round trip: %v", err)
	}
	// A client without a certificate is refused by a server that requires one.
	noCert := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if err := roundTrip(t, listen(t, noCert), listen(t, conf)); err == nil {
		t.Fatal("a client without a certificate got through mutual TLS")
	}
}

func TestUnspecifiedAdvertiseRefused(t *testing.T) {
	_, err := Listen("0.0.0.0:0", "", nil)
	if err == nil || !strings.Contains(err.Error(), "unspecified") {
		t.Fatalf("got %v, want an error about an unspecified address", err)
	}
	s, err := Listen("0.0.0.0:0", "127.0.0.1:7500", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Addr().String() != "127.0.0.1:7500" {
		t.Fatalf("advertised %s", s.Addr())
	}
}
