package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
}

// parseDockerfile reads the instructions; Docker is not needed (nor
// installed where the tests run), so this is the syntax check there is.
func parseDockerfile(t *testing.T, data string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	for line := range strings.SplitSeq(data, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		known := []string{"FROM", "ARG", "WORKDIR", "COPY", "RUN", "USER", "ENV", "EXPOSE", "ENTRYPOINT", "CMD", "LABEL"}
		if !slices.Contains(known, cmd) {
			t.Fatalf("Dockerfile: unknown or lower-case instruction %q", cmd)
		}
		out = append(out, instruction{cmd, strings.TrimSpace(args)})
	}
	return out
}

// shellWords splits a command as sh would, quotes removed.
func shellWords(s string) []string {
	var out []string
	var w strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, w.String())
	}
	return out
}

// withoutOutput drops "-o FILE", which rightly differs.
func withoutOutput(words []string) []string {
	if i := slices.Index(words, "-o"); i >= 0 && i+1 < len(words) {
		return slices.Delete(slices.Clone(words), i, i+2)
	}
	return words
}

// makeBuild is the Makefile's `build` recipe with its variables expanded
// ($(VERSION) left as $VERSION).
func makeBuild(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"GO": "go", "VERSION": "$VERSION"}
	assign := regexp.MustCompile(`^([A-Z_]+)\s*(?::=|\?=|=)\s*(.*)$`)
	var recipe string
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if m := assign.FindStringSubmatch(line); m != nil && vars[m[1]] == "" {
			vars[m[1]] = m[2]
		}
		if line == "build:" && i+1 < len(lines) {
			recipe = strings.TrimSpace(lines[i+1])
		}
	}
	ref := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
	for range 3 {
		recipe = ref.ReplaceAllStringFunc(recipe, func(s string) string { return vars[s[2:len(s)-1]] })
	}
	if !strings.Contains(recipe, "go build") {
		t.Fatalf("no build recipe in the Makefile: %q", recipe)
	}
	return withoutOutput(shellWords(recipe))
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ins := parseDockerfile(t, string(data))
	last := 0
	froms := 0
	for i, in := range ins {
		if in.cmd == "FROM" {
			last, froms = i, froms+1
		}
	}
	final := ins[last:]
	base := strings.Fields(ins[last].args)[0]
	if froms < 2 || !(strings.HasPrefix(base, "gcr.io/distroless/static") || base == "scratch") {
		t.Errorf("want a multi-stage build ending on distroless static or scratch: %d stages, final %s", froms, base)
	}
	checkGoVersion(t, ins)
	checkBuildCommand(t, ins)
	user := ""
	for _, in := range final {
		if in.cmd == "USER" {
			user = in.args
		}
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || strings.Trim(uid, "0123456789") != "" || strings.Trim(uid, "0") == "" {
		t.Errorf("USER %q: want a numeric non-root user (runAsNonRoot can only check a number)", user)
	}
	checkImagePorts(t, final)
	checkImageCommand(t, final)
}

func checkGoVersion(t *testing.T, ins []instruction) {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(repoRoot(), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	for _, in := range ins {
		if v, ok := strings.CutPrefix(in.args, "GO_VERSION="); ok && in.cmd == "ARG" {
			if goLine == nil || !strings.HasPrefix(v, string(goLine[1])) {
				t.Errorf("ARG GO_VERSION=%s, go.mod says go %s", v, goLine[1])
			}
			return
		}
	}
	t.Error("no ARG GO_VERSION")
}

// checkBuildCommand: the image's binary is built as `make build` builds it.
func checkBuildCommand(t *testing.T, ins []instruction) {
	t.Helper()
	want := makeBuild(t)
	for _, in := range ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			got := withoutOutput(shellWords(strings.ReplaceAll(in.args, "${VERSION}", "$VERSION")))
			if !slices.Equal(got, want) {
				t.Errorf("the image's build differs from the Makefile's:\n got %q\nwant %q", got, want)
			}
			return
		}
	}
	t.Error("no RUN go build")
}

// checkImagePorts: EXPOSE lists the listeners the binary opens in the
// image: its proxy and admin defaults, the TLS proxy port it adds, and
// the status listener the image turns on.
func checkImagePorts(t *testing.T, final []instruction) {
	t.Helper()
	flags := runFlags(t)
	want := []string{"8443"}
	for _, f := range []string{"proxy-listen", "admin-listen"} {
		for _, l := range parseListens(t, f, flags[f].def) {
			want = append(want, l.port)
		}
	}
	var exposed []string
	status := ""
	for _, in := range final {
		switch in.cmd {
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case "ENV":
			name, v, _ := strings.Cut(in.args, "=")
			flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "TURNPIKE_"), "_", "-"))
			if _, ok := flags[flag]; strings.HasPrefix(name, "TURNPIKE_") && !ok {
				t.Errorf("ENV %s names no flag", name)
			}
			if flag == "status-listen" {
				status = v
			}
		}
	}
	ls := parseListens(t, "status-listen", status)
	if len(ls) == 0 || !ls[0].public() {
		t.Errorf("TURNPIKE_STATUS_LISTEN=%q: the status listener must be on and reachable from outside the container", status)
	} else {
		want = append(want, ls[0].port)
	}
	for _, p := range want {
		if !slices.Contains(exposed, p) {
			t.Errorf("EXPOSE %q lacks %s", exposed, p)
		}
	}
}

// checkImageCommand: the default command runs the configuration the
// image ships, and that configuration validates.
func checkImageCommand(t *testing.T, final []instruction) {
	t.Helper()
	var entry, cmd []string
	copies := map[string]string{}
	for _, in := range final {
		switch in.cmd {
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &entry); err != nil {
				t.Errorf("ENTRYPOINT %s: want the exec form (no shell in the image): %v", in.args, err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(in.args), &cmd); err != nil {
				t.Errorf("CMD %s: want the exec form: %v", in.args, err)
			}
		case "COPY":
			f := slices.DeleteFunc(strings.Fields(in.args), func(w string) bool { return strings.HasPrefix(w, "--") })
			copies[f[len(f)-1]] = f[0]
		}
	}
	if len(entry) != 1 || copies[entry[0]] == "" || len(cmd) != 3 || cmd[0] != "run" || cmd[1] != "-c" {
		t.Fatalf("ENTRYPOINT %q CMD %q: want the binary and run -c FILE", entry, cmd)
	}
	src, ok := copies[cmd[2]]
	if !ok {
		t.Fatalf("CMD runs %s, which no COPY puts in the image", cmd[2])
	}
	data, err := os.ReadFile(filepath.Join(repoRoot(), src))
	if err != nil {
		t.Fatal(err)
	}
	validateConfig(t, string(data))
}
