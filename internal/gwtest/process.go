package gwtest

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is a server a test runs (redis-server, slapd): started, killed,
// paused and resumed the same way whatever the program.
type process struct {
	t    testing.TB
	name string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// run starts cmd; the returned channel is closed when it exits.
func (p *process) run(cmd *exec.Cmd) <-chan struct{} {
	p.t.Helper()
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return done
}

// forget drops a process that exited by itself.
func (p *process) forget() {
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
}

// Stop kills the server (SIGKILL, as a crash) and waits for it to exit.
// Stopping a stopped server does nothing.
func (p *process) Stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Pause freezes the server (SIGSTOP): connections are accepted by the
// kernel and stay open but nothing is answered, as with a hung server or
// a network partition. It returns once every thread of the server is
// stopped: the signal is delivered asynchronously, and a request sent
// before that might still be answered.
func (p *process) Pause() {
	p.t.Helper()
	pid := p.signal(syscall.SIGSTOP)
	deadline := time.Now().Add(5 * time.Second)
	for !stopped(pid) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not stop within 5 s of SIGSTOP", p.name)
		}
		time.Sleep(time.Millisecond)
	}
}

// Resume lets a paused server run again (SIGCONT).
func (p *process) Resume() {
	p.t.Helper()
	p.signal(syscall.SIGCONT)
}

func (p *process) signal(sig syscall.Signal) (pid int) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		p.t.Fatalf("%s is not running", p.name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	return p.cmd.Process.Pid
}

// stopped reports whether every thread of process pid is stopped (state
// T in /proc).
func stopped(pid int) bool {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/stat")
		if err != nil {
			return false
		}
		// The state follows the command name, which is in parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}
