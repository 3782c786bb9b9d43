package logfile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Grace is how long a closing writer waits, after its flush was
// cancelled, before abandoning a write that does not return (a regular
// file on a stuck disk).
const Grace = 200 * time.Millisecond

// File appends to the file at Path, opened when first written. It opens
// the file again for every write when Reopen is set, and otherwise when
// Path no longer names the file it has open (moved away or deleted by log
// rotation), so rotation needs no signal to the gateway. A File is used
// by one goroutine at a time.
type File struct {
	Path   string
	Reopen bool
	f      *os.File
	st     os.FileInfo
}

// Open opens path for appending without waiting: a FIFO opened without
// O_NONBLOCK waits for a reader, forever when there is none. Go puts a
// FIFO (or other pollable file) opened this way in its poller, so writes
// to it honour deadlines; on a regular file the flag changes nothing.
func Open(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NONBLOCK, 0o644)
}

// pipeBuf is PIPE_BUF on Linux: a write to a pipe of at most this many
// bytes is atomic, never interleaved with other writers' bytes.
const pipeBuf = 4096

// Check reports whether path can be opened for appending, without
// waiting and without keeping it open, for config checks. Opening fails
// with ENXIO for a FIFO that has no reader yet, which is fine (its reader
// may start later), and for a Unix socket (/dev/stdout under systemd),
// which no file write can reach: that is refused.
func Check(path string) error {
	f, err := Open(path)
	if err == nil {
		return f.Close()
	}
	if pe, ok := err.(*os.PathError); ok && pe.Err == syscall.ENXIO {
		st, serr := os.Stat(path)
		switch {
		case serr != nil:
			return err
		case st.Mode()&os.ModeNamedPipe != 0:
			return nil
		case st.Mode()&os.ModeSocket != 0:
			return fmt.Errorf("%s is a Unix socket, not a file or FIFO: it cannot be written to as a file", path)
		}
	}
	return err
}

// Write appends p, whole lines, in one write; to a FIFO, in writes of
// whole lines of at most PIPE_BUF (4 KiB) bytes each, which the kernel
// keeps whole, so that other writers of the FIFO cannot split a line of
// up to 4 KiB (a longer line gets a write of its own, which may
// interleave with theirs). When ctx ends, a write waiting on a FIFO
// (or other pollable file) returns; a regular file on a stuck disk cannot
// be interrupted, which is why callers bound how long they wait for the
// goroutine that writes.
func (a *File) Write(ctx context.Context, p []byte) error {
	if a.f != nil && (a.Reopen || a.moved()) {
		a.Close()
	}
	if a.f == nil {
		f, err := Open(a.Path)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		a.f, a.st = f, st
	}
	f := a.f
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	var err error
	if a.st.Mode()&os.ModeNamedPipe != 0 {
		for len(p) > 0 && err == nil {
			n := pipeChunk(p)
			_, err = f.Write(p[:n])
			p = p[n:]
		}
	} else {
		_, err = f.Write(p)
	}
	stop()
	if err != nil {
		a.Close()
	}
	return err
}

// pipeChunk is the length of p's first write to a FIFO: its longest
// prefix of whole lines within pipeBuf, or its first line when that is
// longer (or all of p when p has no newline).
func pipeChunk(p []byte) int {
	if len(p) <= pipeBuf {
		return len(p)
	}
	if i := bytes.LastIndexByte(p[:pipeBuf], '\n'); i >= 0 {
		return i + 1
	}
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		return i + 1
	}
	return len(p)
}

// moved reports whether the path names another file than the open one.
func (a *File) moved() bool {
	st, err := os.Stat(a.Path)
	return err != nil || !os.SameFile(st, a.st)
}

// Close closes the open file, if any; the next Write opens it again.
func (a *File) Close() {
	if a.f != nil {
		a.f.Close()
		a.f = nil
	}
}
