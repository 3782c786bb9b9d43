package logs

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/queue"
)

// TCPConfig is Kong's tcp-log schema.
type TCPConfig struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// Timeout and Keepalive are in milliseconds.
	Timeout   float64 `yaml:"timeout"`
	Keepalive float64 `yaml:"keepalive"`
	TLS       bool    `yaml:"tls"`
	TLSSNI    string  `yaml:"tls_sni"`
	// CustomFieldsByLua is refused when given: Turnpike runs no Lua.
	CustomFieldsByLua map[string]string `yaml:"custom_fields_by_lua"`
}

// SetDefaults applies Kong's defaults.
func (c *TCPConfig) SetDefaults() { c.Timeout, c.Keepalive = 10000, 60000 }

// UDPConfig is Kong's udp-log schema.
type UDPConfig struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// Timeout is in milliseconds.
	Timeout float64 `yaml:"timeout"`
	// CustomFieldsByLua is refused when given: Turnpike runs no Lua.
	CustomFieldsByLua map[string]string `yaml:"custom_fields_by_lua"`
}

// SetDefaults applies Kong's defaults.
func (c *UDPConfig) SetDefaults() { c.Timeout = 10000 }

// TCPLog is the tcp-log plugin's registration.
func TCPLog() plugin.Registration {
	return plugin.Registration{Name: "tcp-log", Priority: priorityTCPLog, NewConfig: func() any { return &TCPConfig{} }, New: newTCPLog}
}

// UDPLog is the udp-log plugin's registration.
func UDPLog() plugin.Registration {
	return plugin.Registration{Name: "udp-log", Priority: priorityUDPLog, NewConfig: func() any { return &UDPConfig{} }, New: newUDPLog}
}

// streamQueue are the queue settings of the plugins Kong gives no queue
// settings (tcp-log, udp-log, syslog, file-log): Kong's queue defaults,
// but sending what is queued at once, up to 100 entries a batch (Kong
// sends each entry from its own timer).
func streamQueue() queue.Settings {
	var c queue.Config
	c.SetDefaults()
	s := c.Settings()
	s.MaxBatch, s.Delay = 100, 0
	return s
}

func checkHostPort(errs plugin.Errors, host string, port int) plugin.Errors {
	if host == "" {
		errs = append(errs, plugin.Problem{Path: "host", Message: "required field missing"})
	}
	if port < 0 || port > 65535 {
		errs = append(errs, plugin.Problem{Path: "port", Message: "value should be between 0 and 65535"})
	} else if port == 0 {
		errs = append(errs, plugin.Problem{Path: "port", Message: "required field missing"})
	}
	return errs
}

func newTCPLog(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*TCPConfig)
	errs := checkHostPort(nil, c.Host, c.Port)
	errs = positive(errs, "timeout", c.Timeout)
	errs = nonNegative(errs, "keepalive", c.Keepalive)
	errs = append(errs, refuseLua(c.CustomFieldsByLua)...)
	if len(errs) > 0 {
		return nil, errs
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	var tlsConf *tls.Config
	if c.TLS {
		sni := c.TLSSNI
		if sni == "" {
			sni = c.Host
		}
		tlsConf = &tls.Config{ServerName: sni, MinVersion: tls.VersionTLS12}
	}
	key := addr + "\x00" + strconv.FormatFloat(c.Timeout, 'g', -1, 64) + "\x00" + strconv.FormatFloat(c.Keepalive, 'g', -1, 64) + "\x00" + strconv.FormatBool(c.TLS) + "\x00" + c.TLSSNI
	timeout, keepalive := millis(c.Timeout), millis(c.Keepalive)
	q, release := queue.Open(env, "tcp-log", key, streamQueue(), func() queue.Sender {
		return &connSender{network: "tcp", addr: addr, timeout: timeout, keepalive: keepalive, tls: tlsConf}
	})
	return &shipper{q: q, release: release, newline: true}, nil
}

// maxDatagram is the largest UDP payload over IPv4.
const maxDatagram = 65507

func newUDPLog(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*UDPConfig)
	errs := checkHostPort(nil, c.Host, c.Port)
	errs = positive(errs, "timeout", c.Timeout)
	errs = append(errs, refuseLua(c.CustomFieldsByLua)...)
	if len(errs) > 0 {
		return nil, errs
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	timeout := millis(c.Timeout)
	s := streamQueue()
	s.MaxEntryBytes = maxDatagram
	q, release := queue.Open(env, "udp-log", addr+"\x00"+strconv.FormatFloat(c.Timeout, 'g', -1, 64), s, func() queue.Sender {
		return &connSender{network: "udp", addr: addr, timeout: timeout, datagrams: true}
	})
	return &shipper{q: q, release: release}, nil
}

// connSender writes entries on one connection (TCP, optionally TLS, UDP
// or a Unix socket), made when first needed and again after an error
// or after being idle past keepalive.
type connSender struct {
	network string
	addr    string
	timeout time.Duration
	// keepalive is how long an idle connection is kept (0: one
	// connection per batch; datagram senders keep theirs).
	keepalive time.Duration
	tls       *tls.Config
	// datagrams sends each entry as one datagram; otherwise the batch
	// is written as one stream.
	datagrams bool
	conn      net.Conn
	lastUsed  time.Time
	buf       []byte
}

func (s *connSender) dial(ctx context.Context) error {
	if s.conn != nil && (s.datagrams || time.Since(s.lastUsed) < s.keepalive) {
		return nil
	}
	s.drop()
	d := net.Dialer{Timeout: s.timeout}
	conn, err := d.DialContext(ctx, s.network, s.addr)
	if err != nil {
		return err
	}
	if s.tls != nil {
		tc := tls.Client(conn, s.tls)
		hctx, cancel := context.WithTimeout(ctx, s.timeout)
		err = tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			return errors.New("TLS handshake with " + s.addr + ": " + err.Error())
		}
		conn = tc
	}
	s.conn = conn
	return nil
}

func (s *connSender) Send(ctx context.Context, batch [][]byte) error {
	if err := s.dial(ctx); err != nil {
		return err
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	var err error
	if s.datagrams {
		for _, e := range batch {
			if _, err = s.conn.Write(e); err != nil {
				break
			}
		}
	} else {
		s.buf = s.buf[:0]
		for _, e := range batch {
			s.buf = append(s.buf, e...)
		}
		_, err = s.conn.Write(s.buf)
	}
	if err != nil {
		s.drop()
		return err
	}
	s.lastUsed = time.Now()
	if !s.datagrams && s.keepalive == 0 {
		s.drop()
	}
	return nil
}

func (s *connSender) drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

func (s *connSender) Close() { s.drop() }
