package logs

import (
	"context"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/logfile"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/queue"
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
	q, release := queue.Open(env, "file-log", path+"\x00"+strconv.FormatBool(reopen), streamQueue(), func() queue.Sender {
		return &fileSender{file: logfile.File{Path: path, Reopen: reopen}}
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

// fileSender appends batches to the file through logfile.File, which
// follows log rotation and opens the file again for every batch when
// reopen is set (Kong: for every entry).
type fileSender struct {
	file logfile.File
	buf  []byte
}

func (s *fileSender) Send(ctx context.Context, batch [][]byte) error {
	s.buf = s.buf[:0]
	for _, e := range batch {
		s.buf = append(s.buf, e...)
	}
	return s.file.Write(ctx, s.buf)
}

func (s *fileSender) Close() { s.file.Close() }
