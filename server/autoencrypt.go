package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/acl"
	"consulate/catalog"
	"consulate/structs"
	"consulate/tlsutil"
)

// AutoEncryptTLS is what auto_encrypt.allow_tls needs of the agent's TLS
// configuration (*tlsutil.Configurator implements it).
type AutoEncryptTLS interface {
	// ManualCARoots are the configured CA certificates (PEM), returned to
	// clients so that they trust the servers.
	ManualCARoots() []string
	// SetExtraIncomingRoots makes incoming RPC trust the auto-encrypt CA.
	SetExtraIncomingRoots(pemRoots []byte) error
	// InsecureRPCConfig serves connections without a client certificate.
	InsecureRPCConfig() *tls.Config
}

var _ AutoEncryptTLS = (*tlsutil.Configurator)(nil)

// autoEncryptCALoop keeps the port trusting the auto-encrypt CA stored in
// Raft, and on the leader creates the CA when none exists.
func (s *Server) autoEncryptCALoop() {
	var trusted string
	var failures int
	for s.shutdownCtx.Err() == nil {
		st := s.State()
		ws := memdb.NewWatchSet()
		ws.Add(st.AbandonCh())
		_, ca, err := st.AutoEncryptCA(ws)
		if err != nil {
			s.logger.Error("reading the auto-encrypt CA", "error", err)
		}
		if ca != nil && ca.CertPEM != trusted {
			if err := s.autoTLS.SetExtraIncomingRoots([]byte(ca.CertPEM)); err != nil {
				s.logger.Error("trusting the auto-encrypt CA", "error", err)
			} else {
				trusted = ca.CertPEM
				s.logger.Info("trusting the auto-encrypt CA for client certificates")
			}
		}
		var ready <-chan struct{}
		var retry <-chan time.Time
		if ca == nil && err == nil {
			select {
			case <-s.leaderReadyCh():
				if err := s.createAutoEncryptCA(); err != nil {
					failures++
					s.logger.Error("creating the auto-encrypt CA", "error", err)
					retry = time.After(min(time.Duration(failures)*time.Second, 30*time.Second))
				} else {
					failures = 0
					continue
				}
			default:
				ready = s.leaderReadyCh()
			}
		}
		if err != nil {
			retry = time.After(time.Second)
		}
		ctx, cancel := context.WithCancel(s.shutdownCtx)
		watch := ws.WatchCh(ctx)
		select {
		case <-watch:
		case <-ready:
		case <-retry:
		case <-s.shutdownCtx.Done():
		}
		cancel()
	}
}

// createAutoEncryptCA generates a CA and stores it through Raft unless
// another leader stored one first.
func (s *Server) createAutoEncryptCA() error {
	certPEM, keyPEM, err := tlsutil.GenerateCA(tlsutil.AutoEncryptCAOptions(s.cfg.Domain))
	if err != nil {
		return err
	}
	resp, err := s.raftApply(catalog.AutoEncryptCASetType, &structs.AutoEncryptCA{
		ID: structs.AutoEncryptCAID, CertPEM: certPEM, KeyPEM: keyPEM,
	})
	if err != nil {
		return err
	}
	if stored, _ := resp.(bool); stored {
		s.logger.Info("created the auto-encrypt CA")
	}
	return nil
}

// autoEncryptSign signs a client agent's certificate request.
func (s *Server) autoEncryptSign(_ context.Context, args *structs.AutoEncryptSignRequest, reply *structs.AutoEncryptSignResponse) error {
	if !s.cfg.AutoEncryptAllowTLS || s.autoTLS == nil {
		return fmt.Errorf("%w: auto_encrypt.allow_tls is not enabled on this server", structs.ErrPermissionDenied)
	}
	if args.Datacenter != "" && args.Datacenter != s.cfg.Datacenter {
		return badRequest("auto-encrypt certificates are signed for datacenter %q only, not %q", s.cfg.Datacenter, args.Datacenter)
	}
	// With ACLs on, the agent token must allow writing the node, as in
	// Consul: reaching the port without a certificate is not enough.
	z, err := s.authorizer(args.Token)
	if err != nil {
		return err
	}
	if err := z.check(acl.ResourceNode, args.NodeName, acl.AccessWrite); err != nil {
		return err
	}
	_, ca, err := s.State().AutoEncryptCA(nil)
	if err != nil {
		return err
	}
	if ca == nil {
		return ErrAutoEncryptNotReady
	}
	certPEM, notBefore, notAfter, err := tlsutil.SignCSR(tlsutil.SignOptions{
		CACertPEM: ca.CertPEM, CAKeyPEM: ca.KeyPEM,
		Datacenter: s.cfg.Datacenter, Domain: s.cfg.Domain, TTL: s.cfg.AutoEncryptCertTTL,
	}, args.CSR)
	if errors.Is(err, tlsutil.ErrBadCSR) {
		s.logger.Warn("refused an auto-encrypt certificate request", "node", args.NodeName, "error", err)
		return badRequest("%v", err)
	}
	if err != nil {
		return err
	}
	s.logger.Info("signed an auto-encrypt certificate", "node", args.NodeName, "valid_before", notAfter)
	reply.IssuedCert = structs.IssuedCert{CertPEM: certPEM, ValidAfter: notBefore, ValidBefore: notAfter}
	reply.ManualCARoots = s.autoTLS.ManualCARoots()
	reply.Roots = []string{ca.CertPEM}
	return nil
}

// ErrAutoEncryptNotReady is returned by AutoEncrypt.Sign before the
// leader has created the signing CA; clients retry.
var ErrAutoEncryptNotReady = errors.New("server: the auto-encrypt CA is not ready yet")
