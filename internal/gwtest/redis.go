package gwtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis is a redis-server process on a free loopback port, with nothing
// persisted. It is killed when the test ends.
type Redis struct {
	process
	Addr string // 127.0.0.1:port
	Port int
	args []string // after the port and bind options
}

// StartRedis starts redis-server on a free loopback port and waits until
// it answers PING. extra options are appended to the command line, e.g.
// "--cluster-enabled", "yes". When redis-server is not installed the test
// is skipped, or fails when the CI environment variable is set.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	return startRedis(t, "", extra)
}

// StartRedisSentinel starts a sentinel on a free loopback port watching
// master under name (quorum 1), and waits until it answers PING.
func StartRedisSentinel(t testing.TB, master *Redis, name string) *Redis {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 1000\n", name, master.Port, name)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return startRedis(t, conf, []string{"--sentinel"})
}

func startRedis(t testing.TB, conf string, extra []string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("redis-server is not installed (install it to run this test; with CI set this is a failure)")
		}
		t.Fatalf("redis-server is not installed and CI is set: %v", err)
	}
	cluster := slices.Contains(extra, "--cluster-enabled")
	dir := t.TempDir()
	// A port found free may be taken by another process before redis-server
	// binds it (and a cluster node also binds port+10000): on a busy
	// machine, try again on another.
	for attempt := 1; ; attempt++ {
		port := freeRedisPort(t, cluster)
		var args []string
		if conf != "" {
			args = append(args, conf)
		}
		args = append(args, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir)
		r := &Redis{process: process{t: t, name: "redis-server"}, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, args: append(args, extra...)}
		if log, ok := r.tryStart(); !ok {
			if attempt < 5 && strings.Contains(log, "Address already in use") {
				continue
			}
			t.Fatalf("redis-server exited at start-up:\n%s", log)
		}
		t.Cleanup(r.Stop)
		return r
	}
}

// freeRedisPort returns a loopback port that was free, with port+10000
// free too for a cluster node's bus.
func freeRedisPort(t testing.TB, cluster bool) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !cluster {
			l.Close()
			return port
		}
		if port+10000 > 65535 {
			l.Close()
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		l.Close()
		if err == nil {
			bus.Close()
			return port
		}
	}
}

// start runs the process and waits for PING.
func (r *Redis) start() {
	r.t.Helper()
	if log, ok := r.tryStart(); !ok {
		r.t.Fatalf("redis-server exited at start-up:\n%s", log)
	}
}

// tryStart runs the process and waits for PING; it reports false with
// the server's output when the process exited before answering.
func (r *Redis) tryStart() (string, bool) {
	r.t.Helper()
	cmd := exec.Command("redis-server", r.args...)
	log := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	done := r.run(cmd)
	deadline := time.Now().Add(10 * time.Second)
	for {
		reply, err := r.ping()
		if err == nil && reply == "+PONG" {
			return "", true
		}
		select {
		case <-done:
			r.forget()
			return log.String(), false
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not answer PING within 10s (last: %q, %v):\n%s", reply, err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *Redis) ping() (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// Restart stops the server if it runs and starts a fresh one (empty) on
// the same port.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Stop()
	r.start()
}
