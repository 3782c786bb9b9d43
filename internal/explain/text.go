package explain

import (
	"fmt"
	"sort"
	"strings"
)

// Text renders the report for a terminal.
func (r *Report) Text() string {
	var b strings.Builder
	q := r.Request
	fmt.Fprintf(&b, "%s %s\n", q.Method, q.URL)
	if q.Path != q.RawPath {
		fmt.Fprintf(&b, "path     %s (normalised from %s)\n", q.Path, q.RawPath)
	}
	if r.Matched == nil {
		r.writeNoMatch(&b)
		r.writeNotes(&b)
		return b.String()
	}

	m := r.Matched
	svc := "no service"
	if r.Service != nil {
		svc = "service " + serviceLabel(r.Service)
	}
	fmt.Fprintf(&b, "matched  route %s (%s)  → %s\n", m.Route.Label(), matchDesc(m), svc)
	if len(m.Captures) > 1 {
		fmt.Fprintf(&b, "captures %s\n", capturesDesc(m))
	}
	switch {
	case r.Upstream != nil:
		u := r.Upstream
		fmt.Fprintf(&b, "upstream %s %s\n", u.Method, u.URL)
		var how []string
		if u.PreserveHost {
			how = append(how, "preserve_host")
		}
		if u.StripPath && m.MatchedPath != "" {
			how = append(how, "strip_path removed "+m.MatchedPath)
		} else if !u.StripPath {
			how = append(how, "strip_path off")
		}
		if len(how) > 0 {
			fmt.Fprintf(&b, "         (%s)\n", strings.Join(how, ", "))
		}
		if u.Balanced || len(u.Targets) > 1 {
			var ts []string
			for _, t := range u.Targets {
				ts = append(ts, fmt.Sprintf("%s (weight %d)", t.Address, t.Weight))
			}
			if len(ts) == 0 {
				ts = append(ts, "none")
			}
			fmt.Fprintf(&b, "targets  %s\n", strings.Join(ts, ", "))
		}
	case r.Status != 0:
		fmt.Fprintf(&b, "answer   %d from the gateway (not proxied)\n", r.Status)
	}

	if len(r.Candidates) > 0 {
		fmt.Fprintf(&b, "also matched, ranked below:\n")
		for _, c := range r.Candidates {
			p := c.Path
			if p == "" {
				p = "no path"
			}
			name := "route " + c.Route.Label()
			if c.SameRoute {
				name = fmt.Sprintf("same route, paths[%d]", c.PathIndex)
			}
			fmt.Fprintf(&b, "  %d. %s (%s): %s", c.Rank, name, p, c.Reason)
			if c.ReasonDetail != "" {
				fmt.Fprintf(&b, " (%s)", c.ReasonDetail)
			}
			b.WriteByte('\n')
		}
	} else {
		fmt.Fprintf(&b, "no other route matched\n")
	}

	if len(r.Plugins) > 0 {
		fmt.Fprintf(&b, "plugins, in order:\n")
		cols := [3]int{}
		cells := make([][3]string, len(r.Plugins))
		for i, p := range r.Plugins {
			cells[i] = [3]string{p.Name, p.Scope, p.ConfigPath}
			if p.OnlyForConsumers {
				cells[i][1], cells[i][2] = "consumers only", "-"
			}
			for k, c := range cells[i] {
				cols[k] = max(cols[k], len(c))
			}
		}
		for i, p := range r.Plugins {
			c := cells[i]
			line := fmt.Sprintf("  %-*s  %-*s  %-*s  %s", cols[0], c[0], cols[1], c[1], cols[2], c[2], strings.Join(p.Phases, ", "))
			if p.Consumer != "" {
				line += "  [for consumer " + p.Consumer
				if p.Replaces != "" {
					line += ", replaces " + p.Replaces
				}
				line += "]"
			}
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			for _, o := range p.ConsumerOverrides {
				fmt.Fprintf(&b, "    for consumer %s: %s %s\n", o.Consumer, o.Scope, o.ConfigPath)
			}
		}
	} else {
		fmt.Fprintf(&b, "no plugins\n")
	}
	r.writeNotes(&b)
	return b.String()
}

func (r *Report) writeNoMatch(b *strings.Builder) {
	nm := r.NoMatch
	if nm == nil {
		return
	}
	fmt.Fprintf(b, "no match: the proxy answers %d %q\n", nm.Status, nm.Message)
	if len(nm.Closest) == 0 {
		fmt.Fprintf(b, "no route has a path matching %s\n", r.Request.Path)
		return
	}
	fmt.Fprintf(b, "closest routes (path matched, another criterion did not):\n")
	for _, c := range nm.Closest {
		p := c.Path
		if p == "" {
			p = "no paths"
		}
		fmt.Fprintf(b, "  route %s (%s):\n", c.Route.Label(), p)
		for _, d := range c.Details {
			fmt.Fprintf(b, "      %s\n", d)
		}
	}
}

func (r *Report) writeNotes(b *strings.Builder) {
	if len(r.Notes) == 0 {
		return
	}
	fmt.Fprintf(b, "notes:\n")
	for _, n := range r.Notes {
		fmt.Fprintf(b, "  - %s\n", n)
	}
}

func serviceLabel(s *Service) string {
	if s.Name != "" {
		return s.Name
	}
	return s.ConfigPath
}

func matchDesc(m *Match) string {
	if m.PathIndex < 0 {
		return "no paths; " + strings.Join(m.Criteria, ", ")
	}
	d := fmt.Sprintf("paths[%d] %s, %s", m.PathIndex, m.Path, m.PathKind)
	if m.PathKind == "regex" && m.MatchedPath != "" {
		d += ", matched " + m.MatchedPath
	}
	if others := otherCriteria(m.Criteria); others != "" {
		d += "; also " + others
	}
	return d
}

func otherCriteria(cs []string) string {
	var out []string
	for _, c := range cs {
		if c != "paths" {
			out = append(out, c)
		}
	}
	return strings.Join(out, ", ")
}

func capturesDesc(m *Match) string {
	if len(m.NamedCaptures) > 0 {
		names := make([]string, 0, len(m.NamedCaptures))
		for n := range m.NamedCaptures {
			names = append(names, n)
		}
		sort.Strings(names)
		var parts []string
		for _, n := range names {
			parts = append(parts, n+"="+m.NamedCaptures[n])
		}
		return strings.Join(parts, " ")
	}
	var parts []string
	for i, c := range m.Captures[1:] {
		parts = append(parts, fmt.Sprintf("$%d=%s", i+1, c))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
