package policy

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"latch.dev/latch"
)

func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		"/", "/api/employee/5", "/api/employee/%37", "/a/5%2F..%2F6", "/a/%2e%2e", "/a/６", "/a/7%00",
		"/a/7;x=1", "//7", "/a/", "/a?b=/../", "/a/%c0%ae", "/a b", "/%E2%82%AC", "/a\\b", "/a%5c", "/%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, ok := Canonicalize(raw)
		if !ok {
			if c != "" {
				t.Fatalf("rejected with output %q", c)
			}
			return
		}
		if again, ok := Canonicalize(c); !ok || again != c {
			t.Fatalf("Canonicalize(%q) = %q; again %q, %v: not idempotent", raw, c, again, ok)
		}
		if c == "/" {
			return
		}
		if c[0] != '/' || strings.HasSuffix(c, "/") || strings.Contains(c, "//") || strings.ContainsAny(c, "?#\\") {
			t.Fatalf("Canonicalize(%q) = %q: bad shape", raw, c)
		}
		for i := 0; i < len(c); i++ {
			if c[i] < 0x21 || c[i] >= 0x7f {
				t.Fatalf("Canonicalize(%q) = %q: byte %#x", raw, c, c[i])
			}
		}
		for _, seg := range strings.Split(c[1:], "/") {
			if !ValidSegment(seg) {
				t.Fatalf("Canonicalize(%q) = %q: segment %q is not valid", raw, c, seg)
			}
			dec, err := url.PathUnescape(seg)
			if err != nil || dec == "." || dec == ".." || strings.ContainsAny(dec, "/\\") || !utf8.ValidString(dec) {
				t.Fatalf("Canonicalize(%q) = %q: segment %q decodes to %q, %v", raw, c, seg, dec, err)
			}
			for _, r := range dec {
				if r < 0x20 || r >= 0x7f && r < 0xa0 {
					t.Fatalf("Canonicalize(%q) = %q: control character %U", raw, c, r)
				}
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"GET /api/employee/5", "GET,HEAD /api/employee/{sub}/**", "/7", "*", "* *", "/", "/5*", "get /a",
		"GET /a/{attr.reports}/x", "GET /a/%37", "GET /a/**/b", "POST,GET,POST /x", "GET /a/x{sub}", "GET, POST /a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := Parse(s)
		if err != nil {
			if !latch.IsCode(err, latch.EINVALID) || !strings.Contains(latch.ErrorMessage(err), "statement ") {
				t.Fatalf("Parse(%q): %v", s, err)
			}
			return
		}
		again, err := Parse(st.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, st.String(), err)
		}
		if again.String() != st.String() || again.Path != st.Path || !slices.Equal(again.Methods, st.Methods) {
			t.Fatalf("Parse(%q) = %q, then %q", s, st.String(), again.String())
		}
		if st.Methods != nil && len(st.Methods) == 0 {
			t.Fatalf("Parse(%q): empty, non-nil methods", s)
		}
		// A statement without placeholders compiles, and a path that is the
		// statement's own text (wildcards as literal segments) is canonical.
		p, err := Compile(Input{Kind: latch.SubjectUser, Sub: "5", Allow: []string{s}})
		if err != nil {
			t.Fatalf("Compile(%q): %v", s, err)
		}
		if !st.HasPlaceholders() {
			if _, ok := Canonicalize(st.Path); !ok {
				t.Fatalf("Parse(%q): path %q is not canonical", s, st.Path)
			}
			m := "GET"
			if st.Methods != nil {
				m = st.Methods[0]
			}
			if d := p.Decide(m, st.Path); !d.Allowed {
				t.Fatalf("Parse(%q): %s", s, d.Explain())
			}
		}
	})
}
