package plugin

import "strings"

// Problem is one validation problem of a plugin config, at Path relative
// to the plugin's `config` ("" for the config as a whole).
type Problem struct {
	Path    string
	Message string
}

// Errors collects validation problems of one plugin config. The compiler
// reports them under the plugin's path (`plugins[2].config.origins[1]`),
// with the configuration's other errors.
type Errors []Problem

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Message
		if e.Path != "" {
			lines[i] = e.Path + ": " + e.Message
		}
	}
	return strings.Join(lines, "\n")
}

// Under places problems found in a part of a config (a nested record)
// at that part's path: "" becomes path, "host" becomes path.host.
func (es Errors) Under(path string) Errors {
	if len(es) == 0 {
		return nil
	}
	out := make(Errors, len(es))
	for i, e := range es {
		out[i] = e
		out[i].Path = path
		if e.Path != "" {
			out[i].Path = path + "." + e.Path
		}
	}
	return out
}
