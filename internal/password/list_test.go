package password

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCommonPasswordsFile(t *testing.T) {
	seen := map[string]bool{}
	for line := range strings.Lines(commonPasswordsText) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "#") {
			continue
		}
		switch {
		case line != strings.TrimSpace(line) || line == "":
			t.Errorf("entry %q: blank or surrounded by spaces", line)
		case line != strings.ToLower(line):
			t.Errorf("entry %q: not lower case", line)
		case utf8.RuneCountInString(line) < MinPasswordChars:
			t.Errorf("entry %q: shorter than %d characters, CheckNew refuses it anyway", line, MinPasswordChars)
		case seen[line]:
			t.Errorf("entry %q: duplicate", line)
		}
		seen[line] = true
	}
	if n := len(commonPasswords()); n < 150 || n != len(seen) {
		t.Errorf("%d common passwords in the set, %d in the file; want about 200", n, len(seen))
	}
}

func TestDummyClientHash(t *testing.T) {
	key, mac, ok := parseClientSecretHash(dummyClientHash)
	if !ok || string(key) != "latch-dummy-key!" || string(mac) != "latch-dummy-mac-latch-dummy-mac!" {
		t.Fatalf("dummy client hash parses to %q, %q, %v", key, mac, ok)
	}
}
