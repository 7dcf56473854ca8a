package rules

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// OS_Regex and OS_Match, the two pattern languages of Wazuh 4.x
// (docs/wazuh-compat.md, "Field matches: OS_Regex and OS_Match"). The matcher below re-implements the state
// machine of Wazuh's os_regex_execute.c, including its quirks: no real
// backtracking (at most four saved retry points), `+`/`*` only after a
// backslash class, and a "lazy" hand-over to the next pattern token.

// ErrBadPattern is wrapped by every pattern compile error.
var ErrBadPattern = errors.New("bad pattern")

// osPatternMax is OS_PATTERN_MAXSIZE.
const osPatternMax = 2048

// Escape codes stored after a backslash in a compiled pattern (the numbers
// os_regex_compile.c uses).
const (
	rxDigit    = 1  // \d
	rxWord     = 2  // \w  [A-Za-z0-9@_-]
	rxSpace    = 3  // \s  ' ' only
	rxPunct    = 4  // \p
	rxOpen     = 5  // \(
	rxClose    = 6  // \)
	rxBackslsh = 7  // \\
	rxNotDigit = 8  // \D
	rxNotWord  = 9  // \W
	rxNotSpace = 10 // \S
	rxAny      = 11 // \.
	rxTab      = 12 // \t
	rxDollar   = 13 // \$
	rxPipe     = 14 // \|
	rxLess     = 15 // \<
)

// rxClass[code][c] says whether byte c belongs to the class of an escape
// code (os_regex_maps.c regexmap).
var rxClass = buildRxClasses()

func buildRxClasses() (t [16][256]bool) {
	isD := func(c int) bool { return c >= '0' && c <= '9' }
	isW := func(c int) bool {
		return isD(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '@' || c == '_'
	}
	isP := func(c int) bool {
		return (c >= 33 && c <= 46) || (c >= 58 && c <= 63) || c == '[' || c == ']' || (c >= 123 && c <= 125)
	}
	for c := 0; c < 256; c++ {
		t[rxDigit][c] = isD(c)
		t[rxWord][c] = isW(c)
		t[rxSpace][c] = c == ' '
		t[rxPunct][c] = isP(c)
		t[rxOpen][c] = c == '('
		t[rxClose][c] = c == ')'
		t[rxBackslsh][c] = c == '\\'
		t[rxNotDigit][c] = !isD(c)
		t[rxNotWord][c] = !isW(c)
		t[rxNotSpace][c] = c != ' '
		t[rxAny][c] = true
		t[rxTab][c] = c == '\t'
		t[rxDollar][c] = c == '$'
		t[rxPipe][c] = c == '|'
		t[rxLess][c] = c == '<'
	}
	return t
}

var rxEscapes = map[byte]byte{
	'd': rxDigit, 'w': rxWord, 's': rxSpace, 'p': rxPunct, '(': rxOpen, ')': rxClose,
	'\\': rxBackslsh, 'D': rxNotDigit, 'W': rxNotWord, 'S': rxNotSpace, '.': rxAny,
	't': rxTab, '$': rxDollar, '|': rxPipe, '<': rxLess,
}

// lower is Wazuh's charmap: ASCII A-Z to a-z, every other byte unchanged.
func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// OSRegex is a compiled OS_Regex pattern. It is immutable and safe for
// concurrent use.
type OSRegex struct {
	raw  string
	subs []rxSub
}

type rxSub struct {
	pat   []byte // compiled sub-pattern, NUL padded so look-ahead never runs off
	begin bool   // ^
	end   bool   // $
	// lit is set when the sub-pattern is plain text (no escape, no
	// parenthesis). The state machine then reduces to a case-insensitive
	// search: substring, prefix (^), suffix ($) or equality (^…$); litOK
	// marks that shortcut.
	lit   string
	litOK bool
	// nonEmpty marks a sub-pattern that is just \.+ (with or without
	// anchors): it matches every non-empty string.
	nonEmpty bool
}

const rxPad = 8

// CompileOSRegex compiles an OS_Regex pattern, case-insensitive as every
// Wazuh rule uses it.
func CompileOSRegex(pattern string) (*OSRegex, error) {
	if len(pattern) > osPatternMax {
		return nil, fmt.Errorf("%w: os_regex longer than %d bytes", ErrBadPattern, osPatternMax)
	}
	b := []byte(pattern)
	depth := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' {
			if i+1 >= len(b) {
				return nil, fmt.Errorf("%w: os_regex %q ends with a backslash", ErrBadPattern, pattern)
			}
			code, ok := rxEscapes[b[i+1]]
			if !ok {
				return nil, fmt.Errorf("%w: os_regex %q: unknown escape \\%c", ErrBadPattern, pattern, b[i+1])
			}
			b[i+1] = code
			i++
			continue
		}
		switch c {
		case '(':
			depth++
		case ')':
			b[i] = '('
			depth--
		}
		if depth != 0 && depth != 1 {
			return nil, fmt.Errorf("%w: os_regex %q: only one level of parentheses is allowed", ErrBadPattern, pattern)
		}
		b[i] = lower(b[i])
		if b[i] == '|' && depth != 0 {
			return nil, fmt.Errorf("%w: os_regex %q: '|' inside parentheses", ErrBadPattern, pattern)
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%w: os_regex %q: unbalanced parentheses", ErrBadPattern, pattern)
	}
	re := &OSRegex{raw: pattern}
	start := 0
	for i := 0; i <= len(b); i++ {
		// Escape arguments were replaced by code bytes (< 16), so every '|'
		// left here separates sub-patterns and a final '$' is an anchor.
		if i < len(b) && b[i] != '|' {
			continue
		}
		part := b[start:i]
		var s rxSub
		if len(part) > 0 && part[0] == '^' {
			s.begin = true
			part = part[1:]
		}
		if len(part) > 0 && part[len(part)-1] == '$' {
			s.end = true
			part = part[:len(part)-1]
		}
		s.pat = make([]byte, len(part)+rxPad)
		copy(s.pat, part)
		if len(part) > 0 && bytes.IndexByte(part, '\\') < 0 && bytes.IndexByte(part, '(') < 0 {
			s.lit, s.litOK = string(part), true
		}
		s.nonEmpty = len(part) == 3 && part[0] == '\\' && part[1] == rxAny && part[2] == '+'
		re.subs = append(re.subs, s)
		start = i + 1
	}
	return re, nil
}

// String returns the pattern as written.
func (re *OSRegex) String() string { return re.raw }

// Match reports whether s matches. An empty s never matches: Wazuh reads
// past the end of an empty string there (undefined), and an absent field,
// which reads as "" in vpcalertd, never matches a Wazuh <field> either.
func (re *OSRegex) Match(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for i := range re.subs {
		if rxExec(&re.subs[i], s) {
			return true
		}
	}
	return false
}

// MatchString is Match for a string.
func (re *OSRegex) MatchString(s string) bool {
	if len(s) == 0 {
		return false
	}
	for i := range re.subs {
		if rxExec(&re.subs[i], s) {
			return true
		}
	}
	return false
}

func isPlus(c byte) bool { return c == '+' || c == '*' }

// rxExec is _OS_Regex without sub-string capture, for one sub-pattern and
// a non-empty s. It is generic so that strings and byte slices share one
// implementation without conversions.
func rxExec[T string | []byte](p *rxSub, s T) bool {
	if p.litOK {
		return litMatch(p, s)
	}
	if p.nonEmpty {
		return true
	}
	pat := p.pat
	n := len(s)
	matched := false // r_code != NULL
	regexMatched := false
	stErr := -1
	pt := 0
	var ptErr [4]int
	var ptErrStr [4]int
	for k := range ptErr {
		ptErr[k] = -1
	}

	for st := 0; st < n; st++ {
		c := s[st]
		var ended bool
		if pt, ended = rxStep(pat, pt, p.end); ended {
			return matched
		}

		if pat[pt] == '\\' {
			if rxClass[pat[pt+1]&15][c] {
				next := pt + 2
				if !isPlus(pat[next]) {
					pt, stErr, matched = next, rxStart(stErr, st), true
					continue
				}
				if pat[next] == '*' {
					regexMatched = true
				}
				if regexMatched {
					next++
					if pat[next] == '(' {
						next++
					}
					// How far the pattern moves past what follows the
					// repeated class while it matches c: the end or a
					// literal equal to c (which ends the repetition) 1,
					// another class matching c 2, or 0 when that class
					// repeats too.
					ok := -1
					switch {
					case pat[next] == 0:
						ok = 1
					case pat[next] == '\\':
						if rxClass[pat[next+1]&15][c] {
							ok = 2
							if isPlus(pat[next+2]) {
								ok = 0
							}
						}
					case pat[next] == lower(c):
						regexMatched = false
						ok = 1
					}
					if ok >= 0 {
						if pat[next] == 0 {
							// Wazuh continues here without setting r_code.
							continue
						}
						rxSave(&ptErr, &ptErrStr, pt, st)
						pt = next + ok
					}
				} else {
					regexMatched = true
				}
				matched = true
				continue
			}
			switch rxMiss(pat, pt, regexMatched, matched) {
			case rxMissEnd:
				if !p.end || c == 0 {
					return true
				}
			case rxMissSkipMatched:
				matched = true
				fallthrough
			case rxMissSkip:
				pt += 3
				st--
				regexMatched = false
				continue
			}
			regexMatched = false
		} else if pat[pt] == lower(c) && pat[pt] != 0 {
			pt, stErr, matched = pt+1, rxStart(stErr, st), true
			continue
		}

		// Error handling: retry from the newest saved point, else restart
		// the pattern one character after where this attempt began.
		if rpt, rst, ok := rxRestore(&ptErr, &ptErrStr); ok {
			pt, st = rpt, rst
			continue
		}
		if p.begin {
			return false
		}
		if stErr >= 0 {
			st = stErr
			stErr = -1
		}
		pt = 0
		matched = false
	}

	// The string is consumed: accept when the rest of the pattern can match
	// nothing (os_regex_execute.c "Cleaning up").
	return rxRestEmpty(pat, pt, regexMatched) && matched
}

// What a class that does not match the character means (rxMiss).
const (
	rxMissFail        = iota // the attempt fails here
	rxMissEnd                // the class ends the pattern and ends a repetition: a match, unless anchored at $
	rxMissSkip               // a repetition ends: go on past the class with the same character
	rxMissSkipMatched        // an optional repetition (*) is skipped: the same, and it counts as matched
)

// rxMiss decides what the class at pt, which does not match the current
// character, means (os_regex_execute.c, the escape branch).
func rxMiss(pat []byte, pt int, regexMatched, matched bool) int {
	switch {
	case pat[pt+3] == 0 && regexMatched && matched:
		return rxMissEnd
	case pat[pt+2] == '+' && regexMatched:
		return rxMissSkip
	case pat[pt+2] == '*':
		return rxMissSkipMatched
	}
	return rxMissFail
}

// rxStart returns where the current attempt began: stErr, or st when
// this character is its first match.
func rxStart(stErr, st int) int {
	if stErr < 0 {
		return st
	}
	return stErr
}

// rxStep moves past a group's '(' at pt and reports whether an unanchored
// pattern is complete there (the match is decided).
func rxStep(pat []byte, pt int, end bool) (int, bool) {
	if pat[pt] == '(' {
		pt++
	}
	return pt, pat[pt] == 0 && !end
}

// rxSave keeps a point to retry from (at most four, as Wazuh's
// pt_error).
func rxSave(ptErr, ptErrStr *[4]int, pt, st int) {
	for k := range ptErr {
		if ptErr[k] < 0 {
			ptErr[k], ptErrStr[k] = pt, st
			return
		}
	}
}

// rxRestore takes the newest saved point to retry from.
func rxRestore(ptErr, ptErrStr *[4]int) (pt, st int, ok bool) {
	for k := 3; k >= 0; k-- {
		if ptErr[k] >= 0 {
			pt, st = ptErr[k], ptErrStr[k]
			ptErr[k] = -1
			return pt, st, true
		}
	}
	return 0, 0, false
}

// rxRestEmpty reports whether the pattern from pt can match the empty
// rest of a string: nothing left but a closing group, or repeated classes
// that may match nothing.
func rxRestEmpty(pat []byte, pt int, regexMatched bool) bool {
	eof := func() bool {
		if pat[pt] == '(' {
			pt++
		}
		return pat[pt] == 0
	}
	if eof() {
		return true
	}
	if pat[pt] == '\\' && regexMatched {
		pt += 2
		if isPlus(pat[pt]) {
			pt++
			if eof() {
				return true
			}
			if pat[pt] == '\\' {
				pt += 2
				if pat[pt] == '*' {
					pt++
					if eof() {
						return true
					}
				}
			}
		}
	}
	if pat[pt] == '\\' {
		pt += 2
		if pat[pt] == '*' {
			pt++
			if eof() {
				return true
			}
		}
	}
	return false
}

// OSMatch is a compiled OS_Match pattern: '|'-separated literals, each a
// case-insensitive substring, or anchored with ^ (prefix), $ (suffix) or
// both (equality); an empty alternative matches everything. A leading '!'
// negates the whole pattern (Wazuh's expression negation).
type OSMatch struct {
	raw    string
	negate bool
	subs   []matchSub
}

type matchKind uint8

const (
	matchSubstr matchKind = iota
	matchPrefix
	matchSuffix
	matchEqual
	matchAll
)

type matchSub struct {
	kind matchKind
	lit  string // lower case
}

// CompileOSMatch compiles an OS_Match pattern.
func CompileOSMatch(pattern string) (*OSMatch, error) {
	if len(pattern) > osPatternMax {
		return nil, fmt.Errorf("%w: os_match longer than %d bytes", ErrBadPattern, osPatternMax)
	}
	m := &OSMatch{raw: pattern}
	p := pattern
	if strings.HasPrefix(p, "!") {
		m.negate = true
		p = p[1:]
	}
	for _, part := range strings.Split(p, "|") {
		lp := strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, part)
		var s matchSub
		switch {
		case strings.HasPrefix(lp, "^") && strings.HasSuffix(lp, "$") && len(lp) >= 2:
			s = matchSub{matchEqual, lp[1 : len(lp)-1]}
		case lp == "":
			s = matchSub{matchAll, ""}
		case strings.HasSuffix(lp, "$"):
			s = matchSub{matchSuffix, lp[:len(lp)-1]}
		case strings.HasPrefix(lp, "^"):
			s = matchSub{matchPrefix, lp[1:]}
		default:
			s = matchSub{matchSubstr, lp}
		}
		m.subs = append(m.subs, s)
	}
	return m, nil
}

// String returns the pattern as written.
func (m *OSMatch) String() string { return m.raw }

// Match reports whether s matches.
func (m *OSMatch) Match(s []byte) bool { return osMatchExec(m, s) }

// MatchString is Match for a string.
func (m *OSMatch) MatchString(s string) bool { return osMatchExec(m, s) }

func osMatchExec[T string | []byte](m *OSMatch, s T) bool {
	hit := false
	for _, p := range m.subs {
		if subMatch(p, s) {
			hit = true
			break
		}
	}
	return hit != m.negate
}

func subMatch[T string | []byte](p matchSub, s T) bool {
	switch p.kind {
	case matchAll:
		return true
	case matchEqual:
		return len(s) == len(p.lit) && foldHasPrefix(s, p.lit)
	case matchPrefix:
		return foldHasPrefix(s, p.lit)
	case matchSuffix:
		return len(s) >= len(p.lit) && foldHasPrefix(s[len(s)-len(p.lit):], p.lit)
	}
	// _OS_Match: a substring, and the string must be at least as long.
	if len(s) < len(p.lit) {
		return false
	}
	for i := 0; i+len(p.lit) <= len(s); i++ {
		if foldHasPrefix(s[i:], p.lit) {
			return true
		}
	}
	return false
}

// foldHasPrefix reports whether s starts with lit (lower case) under
// Wazuh's ASCII-only case folding.
func foldHasPrefix[T string | []byte](s T, lit string) bool {
	if len(s) < len(lit) {
		return false
	}
	for i := 0; i < len(lit); i++ {
		if lower(s[i]) != lit[i] {
			return false
		}
	}
	return true
}

// litMatch is rxExec for a plain-text sub-pattern.
func litMatch[T string | []byte](p *rxSub, s T) bool {
	lit := p.lit
	switch {
	case p.begin && p.end:
		return len(s) == len(lit) && foldHasPrefix(s, lit)
	case p.begin:
		return foldHasPrefix(s, lit)
	case p.end:
		return len(s) >= len(lit) && foldHasPrefix(s[len(s)-len(lit):], lit)
	}
	first := lit[0]
	for i := 0; i+len(lit) <= len(s); i++ {
		if lower(s[i]) == first && foldHasPrefix(s[i:], lit) {
			return true
		}
	}
	return false
}
