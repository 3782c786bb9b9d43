package mtlsauth

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// crlCheckInterval is how often, at most, a CRL file is looked at for
// changes (by modification time and size).
const crlCheckInterval = 10 * time.Second

// crlSource is the configured CRL: inline PEM, or a file that is re-read
// when it changes. A changed file is applied only once two looks a check
// interval apart find it the same: a file written in place can be caught
// between two CRLs, and its first part alone parses as fewer CRLs, with
// the revocations of the rest silently lifted. A file that no longer reads
// or parses leaves the CRLs in force as they were.
type crlSource struct {
	path   string // "" for inline PEM
	cas    []*x509.Certificate
	logger *slog.Logger

	set     atomic.Pointer[crlSet]
	checked atomic.Int64 // unix nanoseconds of the last look at the file

	mu      sync.Mutex // one refresh at a time; guards modTime, size and seen
	modTime time.Time
	size    int64
	// seen is a changed file waiting for the next look to confirm it.
	seen *crlFileState
}

// crlFileState is one look at a changed CRL file.
type crlFileState struct {
	modTime time.Time
	size    int64
	sum     [sha256.Size]byte
}

// crlSet is one version of the CRLs. gen changes with every version, so
// that verifications cached under an older one are redone.
type crlSet struct {
	gen  uint64
	crls []*crl
}

type crl struct {
	list    *x509.RevocationList
	revoked map[string]struct{} // serial numbers, hex
	// signer is the configured CA whose signature the CRL carries (checked
	// at load); nil when it was issued by an intermediate CA, whose
	// signature is checked against the presented chain.
	signer *x509.Certificate
}

// newCRLSource loads v, inline PEM when it starts with "-----BEGIN",
// otherwise a file path. cas are the configured CA certificates.
func newCRLSource(v string, cas []*x509.Certificate, logger *slog.Logger) (*crlSource, error) {
	s := &crlSource{cas: cas, logger: logger}
	data := []byte(v)
	if !strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN") {
		s.path = v
		fi, err := os.Stat(v)
		if err != nil {
			return nil, errors.New("cannot read the CRL file: " + err.Error())
		}
		if data, err = os.ReadFile(v); err != nil {
			return nil, errors.New("cannot read the CRL file: " + err.Error())
		}
		s.modTime, s.size = fi.ModTime(), fi.Size()
	}
	crls, err := parseCRLs(data, cas, logger)
	if err != nil {
		return nil, err
	}
	s.set.Store(&crlSet{gen: 1, crls: crls})
	s.checked.Store(time.Now().UnixNano())
	return s, nil
}

// current is the CRL set in force.
func (s *crlSource) current() *crlSet { return s.set.Load() }

// refresh re-reads a CRL file that changed, at most once per
// crlCheckInterval; the request that finds the interval over does it,
// others carry on with the set in force.
func (s *crlSource) refresh(now time.Time) {
	if s.path == "" {
		return
	}
	n := now.UnixNano()
	if n-s.checked.Load() < int64(crlCheckInterval) || !s.mu.TryLock() {
		return
	}
	defer s.mu.Unlock()
	if n-s.checked.Load() < int64(crlCheckInterval) {
		return
	}
	s.checked.Store(n)
	fi, err := os.Stat(s.path)
	if err != nil {
		s.warn("cannot read the CRL file; keeping the CRLs in force", err)
		return
	}
	if fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		s.seen = nil
		return
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		s.seen = nil
		s.warn("cannot read the changed CRL file; keeping the CRLs in force", err)
		return
	}
	look := &crlFileState{modTime: fi.ModTime(), size: fi.Size(), sum: sha256.Sum256(data)}
	if !look.same(s.seen) || int64(len(data)) != fi.Size() {
		s.seen = look
		return
	}
	s.seen = nil
	s.modTime, s.size = fi.ModTime(), fi.Size()
	crls, err := parseCRLs(data, s.cas, s.logger)
	if err != nil {
		s.warn("cannot load the changed CRL file; keeping the CRLs in force", err)
		return
	}
	s.set.Store(&crlSet{gen: s.current().gen + 1, crls: crls})
	if s.logger != nil {
		s.logger.Info("mtls-auth: CRL file reloaded", "path", s.path, "crls", len(crls))
	}
}

func (a *crlFileState) same(b *crlFileState) bool {
	return b != nil && a.modTime.Equal(b.modTime) && a.size == b.size && a.sum == b.sum
}

func (s *crlSource) warn(msg string, err error) {
	if s.logger != nil {
		s.logger.Warn("mtls-auth: "+msg, "path", s.path, "error", err)
	}
}

// parseCRLs reads PEM "X509 CRL" blocks, or one DER CRL. A CRL whose
// issuer is a configured CA must carry that CA's signature.
func parseCRLs(data []byte, cas []*x509.Certificate, logger *slog.Logger) ([]*crl, error) {
	var ders [][]byte
	if bytes.Contains(data, []byte("-----BEGIN")) {
		for rest := data; ; {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				// A block cut short (a file still being written) would
				// otherwise end the list there, dropping its CRLs unseen.
				if bytes.Contains(rest, []byte("-----BEGIN")) {
					return nil, errors.New("CRL " + strconv.Itoa(len(ders)+1) + ": incomplete PEM block")
				}
				break
			}
			if block.Type != "X509 CRL" {
				return nil, errors.New("unexpected PEM block " + block.Type + " (expected X509 CRL)")
			}
			ders = append(ders, block.Bytes)
		}
		if len(ders) == 0 {
			return nil, errors.New("no CRL found")
		}
	} else {
		ders = [][]byte{data}
	}
	out := make([]*crl, 0, len(ders))
	for i, der := range ders {
		where := "CRL " + strconv.Itoa(i+1)
		list, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, errors.New(where + ": " + err.Error())
		}
		l := &crl{list: list, revoked: make(map[string]struct{}, len(list.RevokedCertificateEntries))}
		for _, e := range list.RevokedCertificateEntries {
			l.revoked[e.SerialNumber.Text(16)] = struct{}{}
		}
		named := false
		for _, ca := range cas {
			if !bytes.Equal(ca.RawSubject, list.RawIssuer) {
				continue
			}
			named = true
			if list.CheckSignatureFrom(ca) == nil {
				l.signer = ca
				break
			}
		}
		switch {
		case named && l.signer == nil:
			return nil, errors.New(where + ": not signed by the configured CA certificate " + formatDN(list.RawIssuer))
		case !named && logger != nil:
			logger.Info("mtls-auth: the CRL's issuer is none of the configured CA certificates; it applies to certificates an intermediate CA of that name issued",
				"crl", where, "issuer", formatDN(list.RawIssuer))
		}
		out = append(out, l)
	}
	return out, nil
}

// revStatus is what the CRLs say about a chain.
type revStatus uint8

const (
	statusUnknown revStatus = iota // no current CRL from the leaf's issuer
	statusGood
	statusRevoked
)

// status checks every certificate of a verified chain (leaf first, anchor
// last) against the CRLs its issuer signed. Any listing revokes, even in
// a CRL past its next update. The chain is good when a current CRL of the
// leaf's issuer does not list the leaf; until is the earliest next update
// of those CRLs (zero: none given).
func (s *crlSet) status(chain []*x509.Certificate, now time.Time) (st revStatus, until time.Time) {
	for k := 0; k+1 < len(chain); k++ {
		cert, issuer := chain[k], chain[k+1]
		for _, l := range s.crls {
			if !l.issuedBy(cert, issuer) {
				continue
			}
			if _, ok := l.revoked[cert.SerialNumber.Text(16)]; ok {
				return statusRevoked, time.Time{}
			}
			if k == 0 && l.current(now) {
				st = statusGood
				if nu := l.list.NextUpdate; !nu.IsZero() && (until.IsZero() || nu.Before(until)) {
					until = nu
				}
			}
		}
	}
	return st, until
}

// issuedBy reports whether the CRL covers cert, whose issuer in the
// verified chain is issuer.
func (l *crl) issuedBy(cert, issuer *x509.Certificate) bool {
	if !bytes.Equal(l.list.RawIssuer, cert.RawIssuer) {
		return false
	}
	if l.signer != nil {
		return bytes.Equal(l.signer.RawSubjectPublicKeyInfo, issuer.RawSubjectPublicKeyInfo)
	}
	return l.list.CheckSignatureFrom(issuer) == nil
}

// current reports whether now is within the CRL's validity.
func (l *crl) current(now time.Time) bool {
	return !now.Before(l.list.ThisUpdate) && (l.list.NextUpdate.IsZero() || now.Before(l.list.NextUpdate))
}
