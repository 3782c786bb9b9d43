package logs

import (
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/queue"
)

// SyslogConfig is Kong's syslog schema, plus Turnpike's socket_path.
type SyslogConfig struct {
	// LogLevel is the least severe severity sent.
	LogLevel             string `yaml:"log_level"`
	SuccessfulSeverity   string `yaml:"successful_severity"`
	ClientErrorsSeverity string `yaml:"client_errors_severity"`
	ServerErrorsSeverity string `yaml:"server_errors_severity"`
	Facility             string `yaml:"facility"`
	// CustomFieldsByLua is refused when given: Turnpike runs no Lua.
	CustomFieldsByLua map[string]string `yaml:"custom_fields_by_lua"`
	// SocketPath is the local syslog's datagram socket (Turnpike's
	// field; Kong writes through the C library's syslog to /dev/log).
	SocketPath string `yaml:"socket_path"`
}

// SetDefaults applies Kong's defaults.
func (c *SyslogConfig) SetDefaults() {
	c.LogLevel, c.SuccessfulSeverity, c.ClientErrorsSeverity, c.ServerErrorsSeverity = "info", "info", "info", "info"
	c.Facility = "user"
	c.SocketPath = "/dev/log"
}

// severities are syslog's, most severe first: the index is the code.
var severities = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// facilities are syslog's facility codes by name.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Syslog is the syslog plugin's registration.
func Syslog() plugin.Registration {
	return plugin.Registration{Name: "syslog", Priority: prioritySyslog, NewConfig: func() any { return &SyslogConfig{} }, New: newSyslog}
}

func newSyslog(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*SyslogConfig)
	var errs plugin.Errors
	severity := func(path, name string) int {
		i := slices.Index(severities, name)
		if i < 0 {
			errs = append(errs, plugin.Problem{Path: path, Message: "expected one of: debug, info, notice, warning, err, crit, alert, emerg"})
		}
		return i
	}
	s := &syslogLog{
		level:   severity("log_level", c.LogLevel),
		success: severity("successful_severity", c.SuccessfulSeverity),
		client:  severity("client_errors_severity", c.ClientErrorsSeverity),
		server:  severity("server_errors_severity", c.ServerErrorsSeverity),
		pid:     strconv.Itoa(os.Getpid()),
	}
	facility, ok := facilities[c.Facility]
	if !ok {
		errs = append(errs, plugin.Problem{Path: "facility", Message: "expected one of: auth, authpriv, cron, daemon, ftp, kern, lpr, mail, news, syslog, user, uucp, local0, local1, local2, local3, local4, local5, local6, local7"})
	}
	if c.SocketPath == "" {
		errs = append(errs, plugin.Problem{Path: "socket_path", Message: "required field missing"})
	}
	errs = append(errs, refuseLua(c.CustomFieldsByLua)...)
	if len(errs) > 0 {
		return nil, errs
	}
	s.facility = facility
	if _, err := os.Stat(c.SocketPath); err != nil && env.Logger != nil {
		env.Logger.Warn("syslog: no local syslog socket yet; entries are retried, then dropped and counted", "socket_path", c.SocketPath)
	}
	qs := streamQueue()
	qs.MaxEntryBytes = maxDatagram
	path := c.SocketPath
	s.q, s.release = queue.Open(env, "syslog", path, qs, func() queue.Sender {
		return &connSender{network: "unixgram", addr: path, timeout: time.Second, datagrams: true}
	})
	return s, nil
}

// syslogLog sends the log object as one RFC 3164 message to the local
// syslog, at the severity the response status calls for (Kong's rules).
type syslogLog struct {
	q       *queue.Queue
	release func()
	level   int
	success int
	client  int
	server  int
	// facility is the facility's code.
	facility int
	pid      string
}

// Log queues the message when its severity is at least log_level.
func (s *syslogLog) Log(c *plugin.Ctx) {
	sev := s.success
	switch status := c.Record.Status; {
	case status >= 500:
		sev = s.server
	case status >= 400:
		sev = s.client
	}
	if sev > s.level {
		return
	}
	bp := s.q.Buffer()
	b := append(*bp, '<')
	b = strconv.AppendInt(b, int64(s.facility*8+sev), 10)
	b = append(b, '>')
	b = time.Now().AppendFormat(b, time.Stamp)
	b = append(b, " kong["...)
	b = append(b, s.pid...)
	b = append(b, "]: "...)
	*bp = AppendEntry(b, c)
	s.q.Enqueue(bp)
}

// Close gives the queue back; the last instance using it flushes it.
func (s *syslogLog) Close() { s.release() }
