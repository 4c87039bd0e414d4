package policy

import "strings"

// Canonicalize returns the canonical form of a request path, the only form
// statements are matched against, and false when the path must be denied
// whatever the ACL says.
//
// rawPath is the path as it travelled on the wire (escaped form: nginx's
// $request_uri, X-Forwarded-Uri, url.URL.EscapedPath), optionally followed by
// "?query", which is dropped: the query string takes no part in decisions.
//
// The canonical form starts with '/', has no empty, "." or ".." segment and no
// trailing slash (the root "/" is the only path ending in '/'), and is ASCII:
//   - percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~) are decoded
//     ("%37" is "7", "%2e%2e" is "..", which is then refused);
//   - other percent escapes are kept, with upper-case hex ("%3b" is "%3B");
//   - sub-delimiters, ':' and '@' are kept as written (";" and "%3B" differ,
//     as RFC 3986 says they may);
//   - any other byte (space, '"', '<', '{', non-ASCII UTF-8, ...) is
//     percent-encoded, so a raw and an encoded spelling are the same path.
//
// It refuses (false): a path not starting with '/'; an empty segment ("//",
// and a trailing slash); a "." or ".." segment, also when encoded; an encoded
// '/' or '\' ("%2F", "%5C"); a raw '\' or '#'; a control character (C0, DEL,
// C1), raw or encoded, NUL included; an invalid percent escape; and invalid
// UTF-8 (overlong forms and surrogates included) after decoding.
//
// Canonicalize is idempotent, and it does not allocate when rawPath is
// already canonical (with or without a query string).
func Canonicalize(rawPath string) (string, bool) {
	if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		rawPath = rawPath[:i]
	}
	if rawPath == "" || rawPath[0] != '/' {
		return "", false
	}
	if rawPath == "/" || fastCanonical(rawPath) {
		return rawPath, true
	}
	var b strings.Builder // used once the output differs from the input
	changed := false
	for start := 1; ; { // start of the current segment in rawPath
		end := strings.IndexByte(rawPath[start:], '/')
		if end < 0 {
			end = len(rawPath)
		} else {
			end += start
		}
		seg := rawPath[start:end]
		switch {
		case dotOrEmpty(seg): // also "//" and a trailing slash
			return "", false
		case segmentIsCanonical(seg):
			if changed {
				b.WriteString(seg)
			}
		default:
			if !changed {
				changed = true
				b.Grow(len(rawPath) + 16)
				b.WriteString(rawPath[:start])
			}
			if !appendSegment(&b, seg) {
				return "", false
			}
		}
		if end == len(rawPath) {
			break
		}
		if changed {
			b.WriteByte('/')
		}
		start = end + 1
	}
	if changed {
		return b.String(), true
	}
	return rawPath, true
}

// fastCanonical reports whether p (starting with '/', without a query) is
// canonical and has no percent escape: the common case, checked in one pass.
func fastCanonical(p string) bool {
	seg := 1
	for i := 1; i < len(p); i++ {
		c := p[i]
		if c == '/' {
			if dotOrEmpty(p[seg:i]) {
				return false
			}
			seg = i + 1
			continue
		}
		if !rawOK(c) {
			return false
		}
	}
	return !dotOrEmpty(p[seg:])
}

func dotOrEmpty(s string) bool { return s == "" || s == "." || s == ".." }

// Bit sets of the bytes below 128 that a canonical segment holds as they are:
// unreserved characters, sub-delims, ':' and '@' (RFC 3986 pchar).
const (
	rawLo = 1<<'!' | 1<<'$' | 1<<'&' | 1<<'\'' | 1<<'(' | 1<<')' | 1<<'*' | 1<<'+' | 1<<',' | 1<<'-' | 1<<'.' |
		0x3FF<<'0' | 1<<':' | 1<<';' | 1<<'='
	rawHi = 1<<('@'-64) | 0x3FFFFFF<<('A'-64) | 1<<('_'-64) | 0x3FFFFFF<<('a'-64) | 1<<('~'-64)
)

// rawOK reports whether c appears unescaped in a canonical segment.
func rawOK(c byte) bool {
	if c < 64 {
		return rawLo>>c&1 != 0
	}
	return c < 128 && rawHi>>(c-64)&1 != 0
}

// CanonicalSegment returns the canonical form of one path segment (the rules
// of Canonicalize), and false when the segment is empty, "." or "..", or would
// make a path be refused.
func CanonicalSegment(seg string) (string, bool) {
	if segmentIsCanonical(seg) {
		return seg, true
	}
	var b strings.Builder
	b.Grow(len(seg) + 8)
	if !appendSegment(&b, seg) {
		return "", false
	}
	return b.String(), true
}

// ValidSegment reports whether seg is a single, valid, canonical segment: the
// only values a placeholder may be replaced with.
func ValidSegment(seg string) bool { return segmentIsCanonical(seg) }

// segmentIsCanonical reports whether seg is non-empty, not a dot segment, and
// made only of bytes kept as they are (unreserved, sub-delims, ':', '@') and
// percent escapes that stay (upper-case hex, not unreserved, not '/', '\' or a
// control character), decoding to valid UTF-8.
func segmentIsCanonical(seg string) bool {
	if seg == "" || seg == "." || seg == ".." {
		return false
	}
	var u utf8State
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c != '%' {
			if rawOK(c) && u.next(c) { // an ASCII byte inside a sequence is invalid
				continue
			}
			return false
		}
		if i+2 >= len(seg) || !isUpperHex(seg[i+1]) || !isUpperHex(seg[i+2]) {
			return false
		}
		d := unhex(seg[i+1])<<4 | unhex(seg[i+2])
		if isUnreserved(d) || d == '/' || d == '\\' || isControl(d) {
			return false
		}
		if !u.next(d) {
			return false
		}
		i += 2
	}
	return u.done()
}

// appendSegment writes the canonical form of seg to b, or reports false.
func appendSegment(b *strings.Builder, seg string) bool {
	if seg == "" {
		return false
	}
	var u utf8State
	n := b.Len()
	for i := 0; i < len(seg); {
		c := seg[i]
		if c != '%' && rawOK(c) {
			// a run of bytes kept as they are
			j := i + 1
			for j < len(seg) && rawOK(seg[j]) {
				j++
			}
			if !u.done() { // ASCII inside a multi-byte sequence
				return false
			}
			b.WriteString(seg[i:j])
			i = j
			continue
		}
		escaped := c == '%'
		if escaped {
			if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
				return false
			}
			c = unhex(seg[i+1])<<4 | unhex(seg[i+2])
			i += 3
			if c == '/' || c == '\\' {
				return false
			}
		} else {
			i++
			if c == '\\' || c == '#' {
				return false
			}
		}
		if isControl(c) || !u.next(c) {
			return false
		}
		switch {
		case isUnreserved(c) || (rawOK(c) && !escaped):
			// unreserved characters are always written raw; sub-delims,
			// ':' and '@' keep the spelling they came with.
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	if !u.done() {
		return false
	}
	out := b.String()[n:]
	return out != "." && out != ".."
}

const hexDigits = "0123456789ABCDEF"

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isControl(c byte) bool { return c < 0x20 || c == 0x7f }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// utf8State validates UTF-8 one byte at a time (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF) and refuses C1 control characters
// (U+0080 to U+009F).
type utf8State struct {
	need   int  // continuation bytes still expected
	lo, hi byte // bounds of the next continuation byte
}

func (u *utf8State) next(c byte) bool {
	if u.need > 0 {
		if c < u.lo || c > u.hi {
			return false
		}
		u.need--
		u.lo, u.hi = 0x80, 0xBF
		return true
	}
	u.lo, u.hi = 0x80, 0xBF
	switch {
	case c < 0x80:
		return true
	case c == 0xC2:
		u.need, u.lo = 1, 0xA0 // U+0080-U+009F are C1 controls
	case c > 0xC2 && c <= 0xDF:
		u.need = 1
	case c == 0xE0:
		u.need, u.lo = 2, 0xA0
	case c == 0xED:
		u.need, u.hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		u.need = 2
	case c == 0xF0:
		u.need, u.lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		u.need = 3
	case c == 0xF4:
		u.need, u.hi = 3, 0x8F
	default:
		return false
	}
	return true
}

func (u *utf8State) done() bool { return u.need == 0 }
