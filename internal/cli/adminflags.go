package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/spf13/pflag"

	"github.com/turnpikegw/turnpike/internal/admin"
	"github.com/turnpikegw/turnpike/internal/server"
)

// adminAuthOptions are the admin API's credential flags besides
// --admin-token: named tokens with roles, and client certificates.
type adminAuthOptions struct {
	tokensFile string
	tokens     string
	clientCA   string
}

func (a *adminAuthOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.tokensFile, "admin-tokens-file", "", "YAML or JSON list of admin credentials, `{name, token | token_sha256 | client_cn, role}` with role read-only or admin (see docs/admin-security.md); keep it mode 0600")
	fs.StringVar(&a.tokens, "admin-tokens", "", "admin credentials in the form of --admin-tokens-file, inline; prefer TURNPIKE_ADMIN_TOKENS, which ps does not show")
	fs.StringVar(&a.clientCA, "admin-client-ca", "", "PEM file of the CAs that sign admin clients' certificates: every admin listener must be ssl, and requires and verifies a client certificate; a certificate's CN or SAN maps to a role through client_cn entries (with no token configured, any verified certificate is an admin)")
}

// adminAuth is what the admin listeners and the admin API get from the
// credential flags.
type adminAuth struct {
	creds []admin.Credential
	// clientCAs verify admin clients' certificates; nil: none asked for.
	clientCAs *x509.CertPool
}

// prepare reads the credentials and the client CA, and refuses an admin
// listener reachable from other machines with no credential at all.
func (a *adminAuthOptions) prepare(token string, listens []server.Listen, logger *slog.Logger) (adminAuth, error) {
	var out adminAuth
	if a.tokensFile != "" {
		creds, err := readCredentialsFile(a.tokensFile, logger)
		if err != nil {
			return out, fmt.Errorf("--admin-tokens-file %s: %v", a.tokensFile, err)
		}
		out.creds = append(out.creds, creds...)
	}
	if a.tokens != "" {
		creds, err := admin.ParseCredentials([]byte(a.tokens))
		if err != nil {
			return out, fmt.Errorf("--admin-tokens (TURNPIKE_ADMIN_TOKENS): %v", err)
		}
		out.creds = append(out.creds, creds...)
	}
	if token != "" {
		if len(token) > admin.MaxTokenBytes {
			return out, fmt.Errorf("--admin-token: longer than %d bytes", admin.MaxTokenBytes)
		}
		out.creds = append(out.creds, admin.TokenCredential(token))
	}
	if err := admin.CheckCredentials(out.creds); err != nil {
		return out, err
	}
	if a.clientCA != "" {
		pool, err := readCAs(a.clientCA)
		if err != nil {
			return out, fmt.Errorf("--admin-client-ca %s: %v", a.clientCA, err)
		}
		out.clientCAs = pool
	}
	return out, checkAdminListens(out, listens, logger)
}

// checkAdminListens applies the rules between listeners and credentials.
func checkAdminListens(auth adminAuth, listens []server.Listen, logger *slog.Logger) error {
	if auth.clientCAs == nil {
		for _, c := range auth.creds {
			if c.ClientCN != "" {
				return fmt.Errorf("admin credential %q: client_cn needs --admin-client-ca (no certificate is asked for without it)", c.Name)
			}
		}
	}
	for _, l := range listens {
		if auth.clientCAs != nil && !l.TLS {
			return fmt.Errorf("--admin-client-ca: --admin-listen %s is not ssl, so it would take requests without a certificate; add ssl to it (--admin-listen '%s ssl')", l.Addr, l.Addr)
		}
		if loopbackListen(l.Addr) {
			continue
		}
		if len(auth.creds) == 0 && auth.clientCAs == nil {
			return fmt.Errorf("--admin-listen %s: the admin API would answer other machines without a credential; set TURNPIKE_ADMIN_TOKEN (or --admin-token, --admin-tokens-file, --admin-client-ca), or listen on 127.0.0.1", l.Addr)
		}
		if !l.TLS {
			logger.Warn("admin tokens go in clear text to a listener other machines reach; add ssl to --admin-listen", "admin_listen", l.Addr)
		}
	}
	return nil
}

// loopbackListen: the address binds loopback only. A host name other
// than localhost may resolve to anything, and an empty host is every
// interface.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// readCredentialsFile reads a tokens file within admin.MaxCredentialFile,
// warning when others than its owner may read it.
func readCredentialsFile(path string, logger *slog.Logger) ([]admin.Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		logger.Warn("the admin tokens file may be read by others than its owner; chmod 600 it",
			"file", path, "mode", fmt.Sprintf("%04o", st.Mode().Perm()))
	}
	data, err := io.ReadAll(io.LimitReader(f, admin.MaxCredentialFile+1))
	if err != nil {
		return nil, err
	}
	return admin.ParseCredentials(data)
}

// readCAs reads a PEM file of CA certificates.
func readCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificate in the file")
	}
	return pool, nil
}
