package latch_test

import (
	"testing"

	"latch.dev/latch"
)

func TestParseBearer(t *testing.T) {
	for _, c := range []struct {
		in, tok string
		ok      bool
	}{
		{"Bearer abc.def-ghi_~+/", "abc.def-ghi_~+/", true},
		{"bearer abc", "abc", true},
		{"BEARER abc==", "abc==", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer  abc", "", false},
		{"Bearer abc def", "", false},
		{"Bearer\tabc", "", false},
		{"Bearerabc", "", false},
		{"Basic abc", "", false},
		{"Bearer =abc", "", false},
		{"Bearer ab=c", "", false},
		{"Bearer abc\x00", "", false},
		{"Bearer ä", "", false},
	} {
		tok, ok := latch.ParseBearer(c.in)
		if tok != c.tok || ok != c.ok {
			t.Errorf("ParseBearer(%q) = %q, %v; want %q, %v", c.in, tok, ok, c.tok, c.ok)
		}
	}
}

func TestParseBearerTable(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER a-b.c_d~e+f/g==", "a-b.c_d~e+f/g==", true},
		{"Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiI1In0.sig", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiI1In0.sig", true},
		{"Bearer  abc", "", false},
		{"Bearer abc ", "", false},
		{" Bearer abc", "", false},
		{"Bearer\tabc", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer =abc", "", false},
		{"Bearer a=b", "", false},
		{"Bearer a,b", "", false},
		{"Bearer a\"b", "", false},
		{"Bearer é", "", false},
		{"Bearerabc", "", false},
		{"Token abc", "", false},
		{"", "", false},
	} {
		got, ok := latch.ParseBearer(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseBearer(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
