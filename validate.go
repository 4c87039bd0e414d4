package latch

// MaxIDLength bounds every identifier (org, user, client, role, audience).
const MaxIDLength = 128

// ValidID reports whether s may be used as an identifier: 1 to MaxIDLength
// characters of ASCII letters, digits, '.', '_' and '-', not starting with '.'
// or '-'. The rule keeps ids safe inside store keys, URLs, cache keys and ACL
// paths without escaping; it deliberately excludes '/', ':', '#', '*', '{' and
// whitespace.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// CheckID returns an EINVALID error naming what if s is not a valid id.
func CheckID(what, s string) error {
	if !ValidID(s) {
		return Errorf(EINVALID, "%s: invalid id %q (1-%d characters of letters, digits, '.', '_' or '-')", what, truncate(s, 40), MaxIDLength)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
