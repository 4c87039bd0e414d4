package password

import (
	_ "embed"
	"strings"
	"sync"
	"unicode/utf8"

	"latch.dev/latch"
)

//go:embed common-passwords.txt
var commonPasswordsText string

// commonPasswords is the embedded list as a set, built on first use.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 256)
	for line := range strings.Lines(commonPasswordsText) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[strings.ToLower(line)] = struct{}{}
	}
	return set
})

// CheckNew reports whether password may be chosen as a new password: valid
// UTF-8, at least MinPasswordChars characters, at most MaxPasswordBytes bytes,
// and not one of the most common passwords (compared case-insensitively).
// There are no composition rules. Errors are EINVALID with a message for the
// person choosing the password.
func CheckNew(password string) error {
	if len(password) > MaxPasswordBytes {
		return latch.Errorf(latch.EINVALID, "password must be at most %d bytes", MaxPasswordBytes)
	}
	if !utf8.ValidString(password) {
		return latch.Errorf(latch.EINVALID, "password must be valid UTF-8 text")
	}
	if utf8.RuneCountInString(password) < MinPasswordChars {
		return latch.Errorf(latch.EINVALID, "password must be at least %d characters", MinPasswordChars)
	}
	if IsCommon(password) {
		return latch.Errorf(latch.EINVALID, "password is one of the most commonly used passwords; choose another")
	}
	return nil
}

// IsCommon reports whether password, ignoring case, is on the embedded list of
// the most common passwords.
func IsCommon(password string) bool {
	_, ok := commonPasswords()[strings.ToLower(password)]
	return ok
}
