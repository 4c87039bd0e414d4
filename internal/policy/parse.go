package policy

import (
	"fmt"
	"strings"

	"latch.dev/latch"
)

// MaxStatementLength bounds the text of one statement.
const MaxStatementLength = 2048

// maxMethodLength bounds one method name.
const maxMethodLength = 32

// Statement is one parsed statement: "METHODS PATH", or "PATH" alone.
type Statement struct {
	// Methods lists the methods the statement covers, upper case, without
	// duplicates, in the order written; nil means every method.
	Methods []string
	// Path is the canonical pattern: literal segments in the canonical form
	// of Canonicalize, "*", a final "**", placeholders such as "{sub}".
	// Every path is "/**" (also when written "*"); the root alone is "/".
	Path string

	segs []patSeg
}

type segKind uint8

const (
	segLiteral segKind = iota // text is the canonical segment
	segStar                   // "*": exactly one segment
	segGlob                   // final "**": zero or more segments
	segVar                    // text is the placeholder name: sub, org, client_id, attr.NAME
)

type patSeg struct {
	kind segKind
	text string
}

// Placeholders, replaced when a principal's policy is compiled.
const (
	PlaceholderSub      = "sub"
	PlaceholderOrg      = "org"
	PlaceholderClientID = "client_id"
	PlaceholderAttr     = "attr." // followed by the attribute's name
)

// String returns the statement in its canonical spelling, "METHODS PATH",
// which Parse accepts and returns unchanged.
func (s Statement) String() string {
	m := "*"
	if s.Methods != nil {
		m = strings.Join(s.Methods, ",")
	}
	return m + " " + s.Path
}

// AllMethods reports whether the statement covers every method.
func (s Statement) AllMethods() bool { return s.Methods == nil }

// HasPlaceholders reports whether the statement names {sub}, {org},
// {client_id} or an attribute.
func (s Statement) HasPlaceholders() bool {
	for _, g := range s.segs {
		if g.kind == segVar {
			return true
		}
	}
	return false
}

// Parse parses and validates one statement. Errors are latch.EINVALID and
// name the statement and the column (1-based, in bytes) of the problem.
//
// Grammar (see the package documentation for the meaning):
//
//	statement = [ methods 1*WSP ] path     ; WSP is space or tab; surrounding WSP is ignored
//	methods   = "*" / method *( "," method )
//	method    = UPPER *( UPPER / DIGIT / "-" / "_" )   ; at most 32 characters
//	path      = "*" / "/" / 1*( "/" segment )
//	segment   = "*" / "**" (last only) / "{" placeholder "}" / literal
//	placeholder = "sub" / "org" / "client_id" / "attr." name   ; name: letters, digits, '.', '_', '-'
//	literal   = a non-empty path segment, not "." or "..", without '*', '{', '}', '?', '#' or '\';
//	            it is stored in canonical form ("%37" becomes "7")
func Parse(s string) (Statement, error) {
	if len(s) > MaxStatementLength {
		return Statement{}, latch.Errorf(latch.EINVALID, "statement %q: longer than %d bytes", clip(s), MaxStatementLength)
	}
	fail := func(col int, format string, args ...any) (Statement, error) {
		return Statement{}, latch.Errorf(latch.EINVALID, "statement %q: %s (column %d)", clip(s), fmt.Sprintf(format, args...), col+1)
	}
	type field struct {
		text string
		pos  int
	}
	var fields [3]field
	n := 0
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		if n == len(fields) {
			break
		}
		fields[n] = field{s[i:j], i}
		n++
		i = j
	}
	var st Statement
	var pathField field
	switch n {
	case 0:
		return fail(0, "empty statement; write \"METHODS PATH\", such as \"GET /api/employee/{sub}/**\"")
	case 1:
		pathField = fields[0]
		if pathField.text != "*" && pathField.text[0] != '/' {
			if looksLikeMethods(pathField.text) {
				return fail(len(s), "missing path after the methods")
			}
			return fail(pathField.pos, "the path must start with '/' (or be '*')")
		}
	case 2:
		methods, col, msg := parseMethods(fields[0].text)
		if msg != "" {
			return fail(fields[0].pos+col, "%s", msg)
		}
		st.Methods = methods
		pathField = fields[1]
	default:
		if strings.HasSuffix(fields[0].text, ",") {
			return fail(fields[1].pos-1, "no spaces in the method list: write \"GET,POST\"")
		}
		return fail(fields[2].pos, "unexpected %q: a statement is \"METHODS PATH\"", fields[2].text)
	}
	segs, col, msg := parsePath(pathField.text)
	if msg != "" {
		return fail(pathField.pos+col, "%s", msg)
	}
	st.segs = segs
	st.Path = patternString(segs)
	return st, nil
}

// MustParse is Parse for statements known to be valid (tests, constants); it
// panics on an error.
func MustParse(s string) Statement {
	st, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return st
}

func looksLikeMethods(s string) bool {
	_, _, msg := parseMethods(s)
	return msg == "" && s != "*"
}

// parseMethods returns nil for "*", or the methods; on error the column
// within s and a message.
func parseMethods(s string) ([]string, int, string) {
	if s == "*" {
		return nil, 0, ""
	}
	var out []string
	for pos := 0; ; {
		end := strings.IndexByte(s[pos:], ',')
		if end < 0 {
			end = len(s)
		} else {
			end += pos
		}
		m := s[pos:end]
		switch {
		case m == "":
			return nil, pos, "empty method in the list"
		case m == "*":
			return nil, pos, "'*' stands for every method and cannot be combined with others"
		case strings.ContainsRune(m, '/'):
			return nil, pos, "a method must not contain '/' (is a space missing before the path?)"
		case len(m) > maxMethodLength:
			return nil, pos, fmt.Sprintf("method longer than %d characters", maxMethodLength)
		}
		if i := invalidMethodByte(m); i >= 0 {
			if c := m[i]; 'a' <= c && c <= 'z' {
				return nil, pos + i, fmt.Sprintf("methods are upper case: %q, not %q", strings.ToUpper(m), m)
			}
			return nil, pos + i, fmt.Sprintf("invalid character %q in method %q (methods are upper-case letters, digits, '-' and '_', starting with a letter)", m[i], m)
		}
		dup := false
		for _, o := range out {
			dup = dup || o == m
		}
		if !dup {
			out = append(out, m)
		}
		if end == len(s) {
			return out, 0, ""
		}
		pos = end + 1
	}
}

// invalidMethodByte returns the index of the first byte of m that a method
// may not have there, or -1.
func invalidMethodByte(m string) int {
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '-' || c == '_'):
		default:
			return i
		}
	}
	return -1
}

// ValidMethod reports whether m is a method a statement may name; Decide
// denies every other method (such as "get") without looking at statements.
func ValidMethod(m string) bool {
	return m != "" && len(m) <= maxMethodLength && invalidMethodByte(m) < 0
}

// parsePath parses a statement's path; on error it returns the column within
// p and a message.
func parsePath(p string) ([]patSeg, int, string) {
	if p == "*" {
		return []patSeg{{kind: segGlob}}, 0, ""
	}
	if p == "" || p[0] != '/' {
		return nil, 0, "the path must start with '/' (or be '*')"
	}
	if p == "/" {
		return []patSeg{}, 0, ""
	}
	var segs []patSeg
	for pos := 1; ; {
		end := strings.IndexByte(p[pos:], '/')
		if end < 0 {
			end = len(p)
		} else {
			end += pos
		}
		seg := p[pos:end]
		last := end == len(p)
		switch {
		case seg == "" && last:
			return nil, pos - 1, "trailing slash: write \"/a/b\" for the object, \"/a/b/**\" for it and everything below it"
		case seg == "":
			return nil, pos, "empty segment (\"//\")"
		case seg == "**" && !last:
			return nil, pos, "'**' is allowed only as the last segment"
		case seg == "**":
			segs = append(segs, patSeg{kind: segGlob})
		case seg == "*":
			segs = append(segs, patSeg{kind: segStar})
		case strings.IndexByte(seg, '*') >= 0:
			return nil, pos + strings.IndexByte(seg, '*'), fmt.Sprintf("a wildcard must be a whole segment: %q matches part of a segment; use '*' (one segment) or a final '**'", seg)
		case seg[0] == '{':
			name, ok := strings.CutPrefix(seg, "{")
			name, ok2 := strings.CutSuffix(name, "}")
			if !ok || !ok2 || strings.ContainsAny(name, "{}") {
				return nil, pos, fmt.Sprintf("a placeholder must be a whole segment, such as {sub}: %q", seg)
			}
			if !validPlaceholder(name) {
				return nil, pos, fmt.Sprintf("unknown placeholder %q: use {sub}, {org}, {client_id} or {attr.NAME}", seg)
			}
			segs = append(segs, patSeg{kind: segVar, text: name})
		case strings.ContainsAny(seg, "{}"):
			return nil, pos + strings.IndexAny(seg, "{}"), fmt.Sprintf("a placeholder must be a whole segment, such as /{sub}/: %q", seg)
		case strings.ContainsAny(seg, "?#"):
			return nil, pos + strings.IndexAny(seg, "?#"), "a path in a statement has no query string or fragment"
		default:
			c, ok := CanonicalSegment(seg)
			if !ok {
				return nil, pos, fmt.Sprintf("invalid segment %q: a dot segment, an encoded '/' or '\\', a raw '\\', a control character, a bad percent escape or invalid UTF-8", seg)
			}
			segs = append(segs, patSeg{kind: segLiteral, text: c})
		}
		if last {
			return segs, 0, ""
		}
		pos = end + 1
	}
}

func validPlaceholder(name string) bool {
	switch name {
	case PlaceholderSub, PlaceholderOrg, PlaceholderClientID:
		return true
	}
	attr, ok := strings.CutPrefix(name, PlaceholderAttr)
	return ok && validAttrName(attr)
}

// validAttrName: 1 to 128 letters, digits, '.', '_' or '-'.
func validAttrName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func patternString(segs []patSeg) string {
	if len(segs) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, g := range segs {
		b.WriteByte('/')
		switch g.kind {
		case segLiteral:
			b.WriteString(g.text)
		case segStar:
			b.WriteByte('*')
		case segGlob:
			b.WriteString("**")
		case segVar:
			b.WriteString("{" + g.text + "}")
		}
	}
	return b.String()
}

func clip(s string) string {
	if len(s) <= 120 {
		return s
	}
	return s[:120] + "..."
}
