package password_test

import (
	"strings"
	"testing"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
)

// The pairs from the security checklist (§7): Go's own functions disagree on
// every one of them, so the one rule is pinned here.
func TestCanonicalUsernamePairs(t *testing.T) {
	tests := []struct {
		name  string
		a, b  string
		equal bool
	}{
		{"dotted capital I is not i", "İnfo", "info", false},
		{"Kelvin sign is k", "\u212Aevin", "kevin", true},
		{"full-width is ASCII", "ａlice", "alice", true},
		{"all full-width", "ＡＬＩＣＥ", "alice", true},
		{"NFC and NFD", "jos\u00e9", "jose\u0301", true},
		{"upper case", "Alice", "alice", true},
		{"capital sigma", "ΣΟΦΙΑ", "σοφια", true},
		{"final sigma is kept", "ς", "σ", false},
		{"sharp s is not ss", "straße", "strasse", false},
		{"half-width katakana", "ｱﾘｽ", "アリス", true},
		{"Cyrillic a is not Latin a", "\u0430lice", "alice", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := password.CanonicalUsername(tc.a)
			if err != nil {
				t.Fatalf("CanonicalUsername(%q): %v", tc.a, err)
			}
			b, err := password.CanonicalUsername(tc.b)
			if err != nil {
				t.Fatalf("CanonicalUsername(%q): %v", tc.b, err)
			}
			if (a == b) != tc.equal {
				t.Fatalf("%q -> %q, %q -> %q; equal = %v, want %v", tc.a, a, tc.b, b, a == b, tc.equal)
			}
		})
	}
}

func TestCanonicalUsername(t *testing.T) {
	tests := []struct {
		in, want string // want "" means EINVALID
	}{
		{"alice", "alice"},
		{"Alice", "alice"},
		{"ａlice", "alice"},
		{"İnfo", "i\u0307nfo"},
		{"\u212Aevin", "kevin"},
		{"jose\u0301", "jos\u00e9"},
		{"alice.smith", "alice.smith"},
		{"alice_smith-2", "alice_smith-2"},
		{"5", "5"},
		{"日本", "日本"},
		{strings.Repeat("a", 128), strings.Repeat("a", 128)},
		{strings.Repeat("é", 128), strings.Repeat("é", 128)},
		// Refused.
		{"ſam", ""},         // long s: disallowed, not mapped
		{"ﬀ", ""},           // compatibility ligature
		{"Ⅻ", ""},           // Roman numeral
		{"", ""},            // empty
		{" ", ""},           // whitespace
		{"\t", ""},          // whitespace
		{" alice", ""},      // leading space
		{"alice ", ""},      // trailing space
		{"alice smith", ""}, // inner space
		{"alice\u00a0", ""}, // no-break space
		{"alice\x00", ""},   // NUL
		{"alice\n", ""},     // newline
		{"a\u200db", ""},    // zero-width joiner out of context
		{"alice\xff", ""},   // invalid UTF-8
		{"alice@corp", ""},  // '@' reserved for email addresses
		{"alice＠corp", ""},  // full-width '@' maps to '@'
		{strings.Repeat("a", 129), ""},
		{strings.Repeat("é", 129), ""},
		{strings.Repeat("a", 5000), ""},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			got, err := password.CanonicalUsername(tc.in)
			if tc.want == "" {
				if latch.ErrorCode(err) != latch.EINVALID || got != "" {
					t.Fatalf("CanonicalUsername(%q) = %q, %v; want EINVALID", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CanonicalUsername(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if again, err := password.CanonicalUsername(got); err != nil || again != got {
				t.Fatalf("not idempotent: %q -> %q -> %q, %v", tc.in, got, again, err)
			}
		})
	}
}

func TestCanonicalEmail(t *testing.T) {
	tests := []struct {
		in, want string // want "" means EINVALID
	}{
		{"alice@example.com", "alice@example.com"},
		{"Alice@Example.com", "alice@example.com"},
		{"ALICE@EXAMPLE.COM", "alice@example.com"},
		{"ａlice@ｅxample．com", "alice@example.com"},
		{"\u212Aevin@example.com", "kevin@example.com"},
		{"jose\u0301@example.com", "jos\u00e9@example.com"},
		{"alice.smith+tag@mail.example.co.uk", "alice.smith+tag@mail.example.co.uk"},
		{"a.b.c@example.com", "a.b.c@example.com"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"x@xn--bcher-kva.example", "x@xn--bcher-kva.example"},
		{"x@a-b.c0m", "x@a-b.c0m"},
		{"x@123.example", "x@123.example"},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
		// Refused.
		{"", ""},
		{" ", ""},
		{"alice", ""},
		{"@example.com", ""},
		{"alice@", ""},
		{"alice@@example.com", ""},
		{"alice@bob@example.com", ""},
		{"alice＠evil@example.com", ""}, // full-width '@' in the local part
		{"alice＠example.com", ""},      // no '@' at all
		{" alice@example.com", ""},
		{"alice@example.com ", ""},
		{"alice smith@example.com", ""},
		{"\"alice smith\"@example.com", ""},
		{"\"alice\"@example.com", ""},
		{".alice@example.com", ""},
		{"alice.@example.com", ""},
		{"al..ice@example.com", ""},
		{"alice(comment)@example.com", ""},
		{"alice,bob@example.com", ""},
		{"alice\x00@example.com", ""},
		{"ſam@example.com", ""},
		{"alice@localhost", ""},
		{"alice@example", ""},
		{"alice@example.com.", ""},
		{"alice@.example.com", ""},
		{"alice@example..com", ""},
		{"alice@-example.com", ""},
		{"alice@example-.com", ""},
		{"alice@exa_mple.com", ""},
		{"alice@exa mple.com", ""},
		{"alice@bücher.example", ""}, // internationalised domains in xn-- form only
		{"alice@example。com", ""},    // ideographic full stop
		{"alice@1.2.3.4", ""},        // IP address
		{"alice@[1.2.3.4]", ""},      // address literal
		{"alice@example.com/x", ""},
		{"alice@exam\u0430ple.com", ""}, // Cyrillic a in the domain
		{strings.Repeat("a", 65) + "@example.com", ""},
		{"a@" + strings.Repeat("b", 64) + ".com", ""},
		{"a@" + strings.Repeat(strings.Repeat("b", 62)+".", 4) + "com", ""}, // 255-byte domain
		{strings.Repeat("a", 2000) + "@example.com", ""},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 30 {
			name = name[:30]
		}
		t.Run(name, func(t *testing.T) {
			got, err := password.CanonicalEmail(tc.in)
			if tc.want == "" {
				if latch.ErrorCode(err) != latch.EINVALID || got != "" {
					t.Fatalf("CanonicalEmail(%q) = %q, %v; want EINVALID", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CanonicalEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if again, err := password.CanonicalEmail(got); err != nil || again != got {
				t.Fatalf("not idempotent: %q -> %q -> %q, %v", tc.in, got, again, err)
			}
		})
	}
}

func TestCanonicalEmailLength(t *testing.T) {
	local := strings.Repeat("a", 64)
	domain := strings.Repeat(strings.Repeat("b", 61)+".", 3) + "comm" // 190 bytes
	ok := local + "@" + domain[:len(domain)-1]                        // 254 bytes
	if len(ok) != 254 {
		t.Fatalf("test address is %d bytes", len(ok))
	}
	if _, err := password.CanonicalEmail(ok); err != nil {
		t.Fatalf("254-byte address: %v", err)
	}
	if _, err := password.CanonicalEmail(local + "@" + domain); latch.ErrorCode(err) != latch.EINVALID {
		t.Fatalf("255-byte address: %v, want EINVALID", err)
	}
}
