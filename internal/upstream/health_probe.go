package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// probeResult is what one active probe reports (skip: nothing, as for a
// status in neither list).
type probeResult struct {
	kind   counterKind
	detail string
	skip   bool
}

// probe runs one active check of t with the upstream's probe type; ctx
// carries the probe timeout and the checker's stop.
func (c *HealthChecker) probe(ctx context.Context, t *hcTarget) probeResult {
	switch c.cfg.Active.Type {
	case "tcp":
		return c.probeTCP(ctx, t)
	case "grpc", "grpcs":
		return c.probeGRPC(ctx, t, c.cfg.Active.Type == "grpcs")
	default:
		return c.probeHTTP(ctx, t, c.cfg.Active.Type == "https")
	}
}

func (c *HealthChecker) probeTCP(ctx context.Context, t *hcTarget) probeResult {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return probeFailure(err)
	}
	conn.Close()
	return probeResult{kind: countSuccess}
}

// probeHTTP sends Kong's probe, `GET <http_path> HTTP/1.0` with the
// upstream's host_header (or the target's host) and the configured
// headers, and classifies the status.
func (c *HealthChecker) probeHTTP(ctx context.Context, t *hcTarget, useTLS bool) probeResult {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return probeFailure(err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if useTLS {
		tc := tls.Client(conn, c.tlsConfig(t))
		if err := tc.HandshakeContext(ctx); err != nil {
			return probeFailure(err)
		}
		conn = tc
	}
	if _, err := io.WriteString(conn, c.httpRequest(t)); err != nil {
		return probeFailure(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return probeFailure(err)
	}
	resp.Body.Close()
	return c.classifyStatus(resp.StatusCode)
}

func (c *HealthChecker) classifyStatus(st int) probeResult {
	switch {
	case c.activeHealthy.has(st):
		return probeResult{kind: countSuccess, detail: strconv.Itoa(st)}
	case c.activeUnhealthy.has(st):
		return probeResult{kind: countHTTP, detail: strconv.Itoa(st)}
	}
	return probeResult{skip: true}
}

func (c *HealthChecker) httpRequest(t *hcTarget) string {
	host := c.hostHeader
	if host == "" {
		host = t.name()
	}
	var b strings.Builder
	b.WriteString("GET " + c.cfg.Active.HTTPPath + " HTTP/1.0\r\nHost: " + host + "\r\nUser-Agent: turnpike-healthcheck\r\n")
	names := make([]string, 0, len(c.cfg.Active.Headers))
	for name := range c.cfg.Active.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range c.cfg.Active.Headers[name] {
			if strings.ContainsAny(name+v, "\r\n") {
				continue
			}
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// tlsConfig verifies per https_verify_certificate, with https_sni or the
// target's configured host as the server name, and presents the
// upstream's client certificate.
func (c *HealthChecker) tlsConfig(t *hcTarget) *tls.Config {
	name := c.cfg.Active.HTTPSSNI
	if name == "" {
		name = t.name()
	}
	conf := &tls.Config{
		ServerName:         name,
		InsecureSkipVerify: !c.cfg.Active.HTTPSVerifyCertificate,
		RootCAs:            c.opts.RootCAs,
		MinVersion:         tls.VersionTLS12,
	}
	if cert := c.clientCert; cert != nil {
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return conf
}

// probeGRPC calls grpc.health.v1.Health/Check for the server as a whole:
// SERVING is a success, any other answer an HTTP failure, an unreachable
// server a TCP failure.
func (c *HealthChecker) probeGRPC(ctx context.Context, t *hcTarget, useTLS bool) probeResult {
	creds := insecure.NewCredentials()
	if useTLS {
		conf := c.tlsConfig(t)
		conf.NextProtos = []string{"h2"}
		creds = credentials.NewTLS(conf)
	}
	cc, err := grpc.NewClient("passthrough:///"+t.addr, grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("turnpike-healthcheck"))
	if err != nil {
		return probeResult{kind: countTCP, detail: err.Error()}
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		switch status.Code(err) {
		case codes.DeadlineExceeded, codes.Canceled:
			return probeResult{kind: countTimeout}
		case codes.Unavailable:
			return probeResult{kind: countTCP, detail: "gRPC unavailable"}
		}
		return probeResult{kind: countHTTP, detail: "gRPC " + status.Code(err).String()}
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return probeResult{kind: countHTTP, detail: "gRPC " + resp.GetStatus().String()}
	}
	return probeResult{kind: countSuccess, detail: "gRPC SERVING"}
}

// probeFailure classifies a network error as a timeout or a TCP failure.
func probeFailure(err error) probeResult {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return probeResult{kind: countTimeout}
	}
	detail := err.Error()
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		detail = oe.Err.Error()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		detail = "connection closed"
	}
	return probeResult{kind: countTCP, detail: detail}
}
