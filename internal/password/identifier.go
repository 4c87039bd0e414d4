package password

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"latch.dev/latch"
)

// Limits on identifiers.
const (
	MaxUsernameChars = 128 // characters, after canonicalisation
	MaxEmailBytes    = 254 // RFC 5321 path limit less the angle brackets
	maxLocalBytes    = 64  // RFC 5321 §4.5.3.1.1
	maxLabelBytes    = 63  // RFC 1035
	// maxIdentifierInput bounds the raw input before any Unicode work.
	maxIdentifierInput = 1024
)

// CanonicalUsername returns the canonical form of a username, the only form
// that is stored, compared or used as an ACL subject: the PRECIS
// UsernameCaseMapped profile (width-mapped, lower-cased, NFC; disallowed
// characters refused), 1 to 128 characters, no '@'. See the package
// documentation for the whole rule. Errors are EINVALID.
func CanonicalUsername(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", latch.Errorf(latch.EINVALID, "username must not be empty")
	}
	if len(s) > maxIdentifierInput {
		return "", latch.Errorf(latch.EINVALID, "username must be at most %d characters", MaxUsernameChars)
	}
	c, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", latch.Errorf(latch.EINVALID, "username contains a character that is not allowed (letters, digits and printable symbols only; no spaces)")
	}
	if n := utf8.RuneCountInString(c); n < 1 || n > MaxUsernameChars {
		return "", latch.Errorf(latch.EINVALID, "username must be 1 to %d characters", MaxUsernameChars)
	}
	if strings.ContainsRune(c, '@') {
		return "", latch.Errorf(latch.EINVALID, "username must not contain '@'")
	}
	return c, nil
}

// CanonicalEmail returns the canonical form of an email address, the only form
// that is stored, compared or used as an ACL subject: exactly one '@', the
// local part and the domain each through the PRECIS UsernameCaseMapped
// profile, a dot-atom local part of at most 64 bytes, an ASCII host name with
// at least one dot, at most 254 bytes in all. See the package documentation
// for the whole rule. Errors are EINVALID.
func CanonicalEmail(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", latch.Errorf(latch.EINVALID, "email must not be empty")
	}
	if len(s) > maxIdentifierInput {
		return "", latch.Errorf(latch.EINVALID, "email must be at most %d bytes", MaxEmailBytes)
	}
	if strings.Count(s, "@") != 1 {
		return "", latch.Errorf(latch.EINVALID, "email must contain exactly one '@'")
	}
	i := strings.LastIndexByte(s, '@')
	local, domain := s[:i], s[i+1:]
	if local == "" || domain == "" {
		return "", latch.Errorf(latch.EINVALID, "email must have a name before and a domain after the '@'")
	}
	local, err := precis.UsernameCaseMapped.String(local)
	if err != nil || !validLocalPart(local) {
		return "", latch.Errorf(latch.EINVALID, "email: the part before '@' is not a valid mailbox name")
	}
	domain, err = precis.UsernameCaseMapped.String(domain)
	if err != nil || !validDomain(domain) {
		return "", latch.Errorf(latch.EINVALID, "email: the domain must be a host name such as example.com, in ASCII (internationalised domains in their xn-- form)")
	}
	c := local + "@" + domain
	if len(c) > MaxEmailBytes {
		return "", latch.Errorf(latch.EINVALID, "email must be at most %d bytes", MaxEmailBytes)
	}
	return c, nil
}

// validLocalPart reports whether a canonical local part is a dot-atom
// (RFC 5322 §3.2.3) of at most 64 bytes, with non-ASCII characters allowed
// (RFC 6531); PRECIS has already refused spaces and control characters.
func validLocalPart(s string) bool {
	if s == "" || len(s) > maxLocalBytes || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r < utf8.RuneSelf && r != '.' && !isAtext(byte(r)) {
			return false
		}
	}
	return true
}

func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// validDomain reports whether a canonical (lower-case) domain is an ASCII host
// name: at least two labels of 1 to 63 letters, digits and hyphens, none
// starting or ending with a hyphen, the last not all digits (no IP
// addresses).
func validDomain(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 || len(s) > MaxEmailBytes {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelBytes || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}
