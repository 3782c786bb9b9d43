package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
)

var (
	// AlgorithmList and HashOnList are the values an upstream's algorithm
	// and hash_on/hash_fallback accept (the admin API's schemas list them).
	AlgorithmList = []string{"round-robin", "consistent-hashing", "least-connections", "latency", "power-of-two-choices"}
	algorithms    = setOf(AlgorithmList...)
	HashOnList    = []string{"none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture"}
	hashOn        = setOf(HashOnList...)
	checkTypeList = []string{"tcp", "http", "https", "grpc", "grpcs"}
	checkTypes    = setOf(checkTypeList...)
)

func (b *builder) buildUpstreams() {
	entries := make([]*UpstreamEntry, len(b.cfg.Upstreams))
	for i := range b.cfg.Upstreams {
		if b.cp.stop() {
			return
		}
		u := &b.cfg.Upstreams[i]
		path := at("upstreams", i)
		e := &UpstreamEntry{Path: path, Upstream: u}
		entries[i] = e
		b.checkID(u.ID, path)
		b.checkUpstream(u, path)
		e.ID = upstreamID(e)
		b.m.Upstreams = append(b.m.Upstreams, e)
		b.upstreams.add(e.ID, e)
		register(b, &b.upstreams, "name", u.Name, path, e)
	}
	seen := map[*UpstreamEntry]map[string]string{}
	add := func(e *UpstreamEntry, t *Target, path string) {
		b.checkID(t.ID, path)
		te, ok := b.checkTarget(t, path)
		if !ok || e == nil {
			return
		}
		key := net.JoinHostPort(te.Host, strconv.Itoa(te.Port))
		if seen[e] == nil {
			seen[e] = map[string]string{}
		}
		if first, dup := seen[e][key]; dup {
			b.dupf(JoinPath(path, "target"), first, false, "duplicate target '%s'", key)
			return
		}
		seen[e][key] = path
		e.Targets = append(e.Targets, te)
	}
	for i, e := range entries {
		for j := range b.cfg.Upstreams[i].Targets {
			if b.cp.stop() {
				return
			}
			t := &b.cfg.Upstreams[i].Targets[j]
			path := at(JoinPath(e.Path, "targets"), j)
			if t.Upstream != nil {
				b.checkNestedRef(JoinPath(path, "upstream"), "upstream", t.Upstream.ID, t.Upstream.Name, e.Upstream.ID, e.Upstream.Name)
			}
			add(e, t, path)
		}
	}
	for i := range b.cfg.Targets {
		if b.cp.stop() {
			return
		}
		t := &b.cfg.Targets[i]
		path := at("targets", i)
		var e *UpstreamEntry
		switch {
		case t.Upstream == nil:
			b.err(JoinPath(path, "upstream"), "required field missing")
		case t.Upstream.Key() == "":
			b.err(JoinPath(path, "upstream"), "must set 'id' or 'name'")
		default:
			var ok bool
			if e, ok = b.upstreams.lookup(t.Upstream.Key()); !ok {
				b.errf(JoinPath(path, "upstream"), "upstream '%s' not found", t.Upstream.Key())
			}
		}
		add(e, t, path)
	}
}

func (b *builder) checkUpstream(u *Upstream, path string) {
	field := func(name string) string { return JoinPath(path, name) }
	switch _, _, hasPort := splitHostPort(u.Name); {
	case u.Name == "":
		b.err(field("name"), "required field missing")
	case net.ParseIP(u.Name) != nil:
		b.errf(field("name"), "Invalid name ('%s'); no ip addresses allowed", u.Name)
	case hasPort:
		b.errf(field("name"), "Invalid name ('%s'); no port allowed", u.Name)
	case !validHost(u.Name):
		b.errf(field("name"), "Invalid name ('%s'); must be a valid hostname", u.Name)
	}

	if !algorithms[u.Algorithm] {
		b.errf(field("algorithm"), "expected one of: %s", strings.Join(AlgorithmList, ", "))
	}
	// Kong's shorthands: balancers that do not hash drop hash_on, and
	// asking for a hash implies the hashing balancer.
	switch {
	case u.Algorithm == "least-connections" || u.Algorithm == "latency" || u.Algorithm == "power-of-two-choices":
		u.HashOn, u.HashFallback = "none", "none"
	case u.HashOn != "none" && hashOn[u.HashOn]:
		u.Algorithm = "consistent-hashing"
	}
	for _, h := range []struct{ name, value, header, query, capture string }{
		{"hash_on", u.HashOn, u.HashOnHeader, u.HashOnQueryArg, u.HashOnURICapture},
		{"hash_fallback", u.HashFallback, u.HashFallbackHeader, u.HashFallbackQueryArg, u.HashFallbackURICapture},
	} {
		if !hashOn[h.value] {
			b.errf(field(h.name), "expected one of: %s", strings.Join(HashOnList, ", "))
			continue
		}
		need := map[string]string{"header": h.header, "query_arg": h.query, "uri_capture": h.capture}
		suffix := map[string]string{"header": "_header", "query_arg": "_query_arg", "uri_capture": "_uri_capture"}
		if v, ok := need[h.value]; ok && v == "" {
			b.errf(field(h.name+suffix[h.value]), "required when '%s' is set to '%s'", h.name, h.value)
		}
	}
	if u.HashOn == "cookie" && u.HashOnCookie == "" {
		b.err(field("hash_on_cookie"), "required when 'hash_on' is set to 'cookie'")
	}
	if u.HashFallback == "cookie" && u.HashOnCookie == "" {
		b.err(field("hash_on_cookie"), "required when 'hash_fallback' is set to 'cookie'")
	}
	if (u.HashOn == "none" || u.HashOn == "cookie") && u.HashFallback != "none" {
		b.errf(field("hash_fallback"), "must be 'none' when 'hash_on' is '%s'", u.HashOn)
	}
	if !strings.HasPrefix(u.HashOnCookiePath, "/") {
		b.err(field("hash_on_cookie_path"), "should start with: /")
	}
	b.between(field("slots"), u.Slots, 10, 65536)
	if u.HostHeader != "" && !validHost(u.HostHeader) {
		b.errf(field("host_header"), "invalid hostname: '%s'", u.HostHeader)
	}
	if u.ClientCert != nil {
		if _, ok := b.certs.lookup(u.ClientCert.Key()); !ok {
			b.errf(field("client_certificate"), "certificate '%s' not found", u.ClientCert.Key())
		}
	}
	b.checkHealthchecks(&u.Healthchecks, field("healthchecks"))
}

func (b *builder) checkHealthchecks(h *Healthchecks, path string) {
	if h.Threshold < 0 || h.Threshold > 100 {
		b.err(JoinPath(path, "threshold"), "value should be between 0 and 100")
	}
	a, ap := &h.Active, JoinPath(path, "active")
	if !checkTypes[a.Type] {
		b.errf(JoinPath(ap, "type"), "expected one of: %s", strings.Join(checkTypeList, ", "))
	}
	if a.Timeout < 0 {
		b.err(JoinPath(ap, "timeout"), "value must be at least 0")
	}
	b.between(JoinPath(ap, "concurrency"), a.Concurrency, 1, 2147483648)
	if !strings.HasPrefix(a.HTTPPath, "/") {
		b.err(JoinPath(ap, "http_path"), "should start with: /")
	}
	if a.HTTPSSNI != "" && !validSNI(a.HTTPSSNI) {
		b.errf(JoinPath(ap, "https_sni"), "invalid SNI '%s'", a.HTTPSSNI)
	}
	for _, iv := range []struct {
		name string
		v    float64
	}{{"healthy.interval", a.Healthy.Interval}, {"unhealthy.interval", a.Unhealthy.Interval}} {
		if iv.v < 0 || iv.v > 65535 {
			b.err(JoinPath(ap, iv.name), "value should be between 0 and 65535")
		}
	}
	p, pp := &h.Passive, JoinPath(path, "passive")
	if !checkTypes[p.Type] {
		b.errf(JoinPath(pp, "type"), "expected one of: %s", strings.Join(checkTypeList, ", "))
	}
	statuses := map[string][]int{
		JoinPath(ap, "healthy.http_statuses"):   a.Healthy.HTTPStatuses,
		JoinPath(ap, "unhealthy.http_statuses"): a.Unhealthy.HTTPStatuses,
		JoinPath(pp, "healthy.http_statuses"):   p.Healthy.HTTPStatuses,
		JoinPath(pp, "unhealthy.http_statuses"): p.Unhealthy.HTTPStatuses,
	}
	for _, sp := range sortedKeys(statuses) {
		for i, s := range statuses[sp] {
			b.between(at(sp, i), s, 100, 999)
		}
	}
	// Kong caps every counter at 255 (a threshold, not a rate).
	counters := map[string]int{
		"active.healthy.successes":        a.Healthy.Successes,
		"active.unhealthy.tcp_failures":   a.Unhealthy.TCPFailures,
		"active.unhealthy.timeouts":       a.Unhealthy.Timeouts,
		"active.unhealthy.http_failures":  a.Unhealthy.HTTPFailures,
		"passive.healthy.successes":       p.Healthy.Successes,
		"passive.unhealthy.tcp_failures":  p.Unhealthy.TCPFailures,
		"passive.unhealthy.timeouts":      p.Unhealthy.Timeouts,
		"passive.unhealthy.http_failures": p.Unhealthy.HTTPFailures,
	}
	for _, name := range sortedKeys(counters) {
		b.between(JoinPath(path, name), counters[name], 0, 255)
	}
}

// defaultTargetPort is Kong's port for a target given without one.
const defaultTargetPort = 8000

// checkTarget parses `host[:port]`, `ip[:port]` or `[v6][:port]`.
func (b *builder) checkTarget(t *Target, path string) (*TargetEntry, bool) {
	tpath := JoinPath(path, "target")
	b.between(JoinPath(path, "weight"), t.Weight, 0, 65535)
	if t.Target == "" {
		b.err(tpath, "required field missing")
		return nil, false
	}
	host, port := t.Target, defaultTargetPort
	if net.ParseIP(host) == nil {
		h, p, hasPort := splitHostPort(t.Target)
		host = h
		if hasPort {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 65535 {
				b.errf(tpath, "Invalid target ('%s'); not a valid port", t.Target)
				return nil, false
			}
			port = n
		}
	}
	if !validHost(host) {
		b.errf(tpath, "Invalid target ('%s'); not a valid hostname or ip address", t.Target)
		return nil, false
	}
	return &TargetEntry{Path: path, Target: t, Host: host, Port: port}, true
}

func (b *builder) buildCertificates() {
	snis, sniIDs := index[string]{}, idSet{}
	addSNI := func(name, path string) {
		if !validSNI(name) {
			b.errf(JoinPath(path, "name"), "invalid SNI '%s'", name)
			return
		}
		// Certificates are selected by the lower-case server name, so names
		// that differ only in case would let one certificate take over
		// another's.
		key := strings.ToLower(name)
		register(b, &snis, "name", key, path, key)
	}
	for i := range b.cfg.Certificates {
		if b.cp.stop() {
			return
		}
		c := &b.cfg.Certificates[i]
		path := at("certificates", i)
		b.checkID(c.ID, path)
		main := b.checkKeyPair(c.Cert, c.Key, path, "cert", "key")
		if c.CertAlt != "" || c.KeyAlt != "" {
			// The alternative exists to serve clients that cannot use the
			// main one (RSA beside ECDSA), which Kong requires too.
			alt := b.checkKeyPair(c.CertAlt, c.KeyAlt, path, "cert_alt", "key_alt")
			if main != nil && alt != nil && keyKind(main.PublicKey) == keyKind(alt.PublicKey) {
				b.err(JoinPath(path, "cert_alt"), "certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type")
			}
		}
		e := &CertificateEntry{Path: path, Certificate: c}
		for j, s := range c.SNIs {
			spath := at(JoinPath(path, "snis"), j)
			if s.Certificate != nil {
				b.checkNestedRef(JoinPath(spath, "certificate"), "certificate", s.Certificate.ID, s.Certificate.Name, c.ID, "")
			}
			b.checkID(s.ID, spath)
			b.claimID(sniIDs, s.ID, s.ID, spath)
			addSNI(s.Name, spath)
			e.SNIs = append(e.SNIs, &c.SNIs[j])
		}
		b.m.Certificates = append(b.m.Certificates, e)
		b.certs.add(c.ID, e)
	}
	for i := range b.cfg.SNIs {
		if b.cp.stop() {
			return
		}
		s := &b.cfg.SNIs[i]
		path := at("snis", i)
		b.checkID(s.ID, path)
		b.claimID(sniIDs, s.ID, s.ID, path)
		addSNI(s.Name, path)
		switch {
		case s.Certificate == nil || s.Certificate.Key() == "":
			b.err(JoinPath(path, "certificate"), "required field missing")
		default:
			e, ok := b.certs.lookup(s.Certificate.Key())
			if !ok {
				b.errf(JoinPath(path, "certificate"), "certificate '%s' not found", s.Certificate.Key())
				continue
			}
			e.SNIs = append(e.SNIs, s)
		}
	}
}

// checkKeyPair checks a certificate and its key and returns the parsed
// certificate, or nil when they are missing or do not make a pair.
func (b *builder) checkKeyPair(cert, key, path, certField, keyField string) *x509.Certificate {
	missing := false
	for _, f := range []struct{ name, v string }{{certField, cert}, {keyField, key}} {
		if f.v == "" {
			b.err(JoinPath(path, f.name), "required field missing")
			missing = true
		}
	}
	if missing {
		return nil
	}
	pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
	if err != nil {
		b.errf(JoinPath(path, certField), "invalid certificate or key: %v", err)
		return nil
	}
	return pair.Leaf
}

// keyKind names a public key's algorithm, to compare a certificate's with
// its alternative's.
func keyKind(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}
