package botdetection

import "strings"

// The rules of the built-in list that hold common words ("bot") run as
// code: RE2 would scan every agent holding the word at tens of
// nanoseconds a byte. Each is one pass per occurrence of its word.

// isBot decides whether agent is on the built-in list.
func isBot(agent string) bool {
	for _, w := range badAgentWords {
		if strings.Contains(agent, w) {
			return true
		}
	}
	for _, w := range badAgentFoldWords {
		if containsFold(agent, w) {
			return true
		}
	}
	if versionedName(agent) || slashBot(agent) || versionedKeyword(agent) {
		return true
	}
	for i := range badAgentRegexps {
		if badAgentRegexps[i].match(agent) {
			return true
		}
	}
	return false
}

func (r *compiledRule) match(agent string) bool {
	if !r.at {
		return holdsAny(agent, r.need) && r.re.MatchString(agent)
	}
	for _, w := range r.need {
		if occurrences(agent, w, func(i int) bool {
			return (!r.word || i == 0 || !isWordByte(agent[i-1])) && r.re.MatchString(agent[i:])
		}) {
			return true
		}
	}
	return false
}

// holdsAny reports whether agent contains one of words.
func holdsAny(agent string, words []string) bool {
	for _, w := range words {
		if strings.Contains(agent, w) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains lower (lower case ASCII) in
// any case.
func containsFold(s, lower string) bool {
	for i := 0; i+len(lower) <= len(s); i++ {
		j := 0
		for j < len(lower) && s[i+j]|0x20 == lower[j] {
			j++
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}

// occurrences calls f with the index of each occurrence of w in s until
// f returns true.
func occurrences(s, w string, f func(at int) bool) bool {
	for from := 0; ; {
		i := strings.Index(s[from:], w)
		if i < 0 {
			return false
		}
		if f(from + i) {
			return true
		}
		from += i + 1
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// versionedName is Kong's `\b(?:names)/(\d+)`: a name of versionedNames
// as a whole word, then '/' and a digit.
func versionedName(agent string) bool {
	for _, name := range versionedNames {
		if occurrences(agent, name, func(at int) bool {
			end := at + len(name)
			return (at == 0 || !isWordByte(agent[at-1])) && end+1 < len(agent) && agent[end] == '/' && isDigit(agent[end+1])
		}) {
			return true
		}
	}
	return false
}

// slashBot is Kong's `/[A-z]+[Bb]ot[ \-](\d+)`: '/', letters (and the
// six bytes between Z and a), B or b, "ot", a space or '-', a digit.
func slashBot(agent string) bool {
	return occurrences(agent, "ot", func(at int) bool {
		b, end := at-1, at+2
		if b < 2 || agent[b]|0x20 != 'b' || end+1 >= len(agent) || (agent[end] != ' ' && agent[end] != '-') || !isDigit(agent[end+1]) {
			return false
		}
		k := b - 1
		for k >= 0 && agent[k] >= 'A' && agent[k] <= 'z' {
			k--
		}
		return k < b-1 && k >= 0 && agent[k] == '/'
	})
}

// versionedKeyword is Kong's general matcher without the forms the fold
// words cover: `(?:[Aa]rchiver|[Ii]ndexer|[Bb]ot)[/ ](\d+)`.
func versionedKeyword(agent string) bool {
	for _, kw := range [...]struct {
		rest  string
		first byte // lower case; the agent may have either case
	}{{"rchiver", 'a'}, {"ndexer", 'i'}, {"ot", 'b'}} {
		if occurrences(agent, kw.rest, func(at int) bool {
			end := at + len(kw.rest)
			return at > 0 && agent[at-1]|0x20 == kw.first && end+1 < len(agent) &&
				(agent[end] == '/' || agent[end] == ' ') && isDigit(agent[end+1])
		}) {
			return true
		}
	}
	return false
}
