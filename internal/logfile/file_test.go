package logfile

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestCheck(t *testing.T) {
	// A short directory: a Unix socket's path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "lf")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	if err := Check(fifo); err != nil {
		t.Errorf("a FIFO with no reader: %v, want accepted", err)
	}
	if err := Check(filepath.Join(dir, "new.log")); err != nil {
		t.Errorf("a file to create: %v", err)
	}
	if err := Check(filepath.Join(dir, "missing", "x.log")); err == nil {
		t.Error("a file in a missing directory was accepted")
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skip("unix socket:", err)
	}
	defer l.Close()
	err = Check(sock)
	if err == nil || !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), "socket") {
		t.Errorf("a Unix socket: %v, want an error naming the path as a socket", err)
	}
}

func TestPipeChunk(t *testing.T) {
	line := func(n int) string { return strings.Repeat("x", n-1) + "\n" }
	for _, tt := range []struct {
		name string
		p    string
		want int
	}{
		{"small", line(10) + line(20), 30},
		{"exactly PIPE_BUF", line(pipeBuf), pipeBuf},
		{"whole lines within PIPE_BUF", line(3000) + line(1000) + line(500), 4000},
		{"a first line over PIPE_BUF", line(5000) + line(10), 5000},
		{"no newline", strings.Repeat("x", 5000), 5000},
	} {
		if got := pipeChunk([]byte(tt.p)); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// A batch larger than the FIFO's buffer, written in chunks that wait
// for the reader, arrives whole and in order.
func TestWriteToFIFOArrivesWhole(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	// Read-write: a reader that sees no EOF before the writer opens
	// (Linux).
	r, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var batch []byte
	for i := range 300 {
		batch = append(batch, strings.Repeat(string(rune('a'+i%26)), 999)+"\n"...)
	}
	batch = append(batch, strings.Repeat("z", 3*pipeBuf)+"\n"...)
	done := make(chan error, 1)
	go func() {
		f := File{Path: fifo}
		done <- f.Write(context.Background(), batch)
		f.Close()
	}()
	got := make([]byte, len(batch))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, batch) {
		t.Error("the FIFO's reader got other bytes than written")
	}
}
