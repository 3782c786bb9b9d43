package logs

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/logs/queue"
)

// FileConfig is Kong's file-log schema.
type FileConfig struct {
	Path string `yaml:"path"`
	// Reopen opens the file again for every batch written (Kong: for
	// every entry).
	Reopen bool `yaml:"reopen"`
	// CustomFieldsByLua is refused when given: Turnpike runs no Lua.
	CustomFieldsByLua map[string]string `yaml:"custom_fields_by_lua"`
}

// FileLog is the file-log plugin's registration.
func FileLog() plugin.Registration {
	return plugin.Registration{Name: "file-log", Priority: priorityFileLog, NewConfig: func() any { return &FileConfig{} }, New: newFileLog}
}

func newFileLog(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*FileConfig)
	var errs plugin.Errors
	switch {
	case c.Path == "":
		errs = append(errs, plugin.Problem{Path: "path", Message: "required field missing"})
	case !validFilename(c.Path):
		errs = append(errs, plugin.Problem{Path: "path", Message: "not a valid filename"})
	}
	errs = append(errs, refuseLua(c.CustomFieldsByLua)...)
	if len(errs) > 0 {
		return nil, errs
	}
	path, reopen := c.Path, c.Reopen
	q, release := openQueue(env, "file-log", path+"\x00"+strconv.FormatBool(reopen), streamQueue(), func() queue.Sender {
		return &fileSender{path: path, reopen: reopen}
	})
	return &shipper{q: q, release: release, newline: true}, nil
}

// validFilename is Kong's path pattern: no '*', '&', '%' or '`', and
// neither starting nor ending with white space.
func validFilename(p string) bool {
	if len(p) < 2 || strings.ContainsAny(p, "*&%`") {
		return false
	}
	return strings.TrimSpace(p[:1]) != "" && strings.TrimSpace(p[len(p)-1:]) != ""
}

// fileSender appends batches to the file. It opens the file again when
// reopen is set, and otherwise when the path no longer names the file it
// has open (moved away or deleted by log rotation), so rotation needs no
// signal to the gateway.
type fileSender struct {
	path   string
	reopen bool
	f      *os.File
	st     os.FileInfo
	buf    []byte
}

func (s *fileSender) Send(_ context.Context, batch [][]byte) error {
	if s.f != nil && (s.reopen || s.moved()) {
		s.Close()
	}
	if s.f == nil {
		f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		s.f, s.st = f, st
	}
	s.buf = s.buf[:0]
	for _, e := range batch {
		s.buf = append(s.buf, e...)
	}
	if _, err := s.f.Write(s.buf); err != nil {
		s.Close()
		return err
	}
	return nil
}

// moved reports whether the path names another file than the open one.
func (s *fileSender) moved() bool {
	st, err := os.Stat(s.path)
	return err != nil || !os.SameFile(st, s.st)
}

func (s *fileSender) Close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}
