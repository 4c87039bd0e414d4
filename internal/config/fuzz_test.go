package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzLoad: Load never panics, returns a file or a *ValidationError, never
// shows a value from the environment in an error, and a loaded file
// survives the JSON round trip `latch apply --endpoint` makes. Validate never
// panics either.
func FuzzLoad(f *testing.F) {
	if data, err := os.ReadFile(filepath.FromSlash(examplePath)); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"",
		baseYAML,
		header,
		"orgs: [{id: a}]\nusers: [{id: 1, org: a, username: x, password: \"${PW}\"}]",
		`{"clients": [{"id": "c", "org": "o", "login_orgs": "*", "grants": ["password"]}]}`,
		"users:\n  - attributes: {a: [b, c], d: e}\n    disabled: true\n",
		"orgs:\n  - &a {id: x}\n  - *a\n",
		"a: b\n---\nc: d\n",
		"users:\n  - password: \"$${X}$$${PW}$\"\n",
		"audiences:\n  - id: x\n    scopes:\n      \"a.b\": [\"GET /\"]\n      5: []\n",
		"clients:\n  - name: |\n      ${PW}\n      line\n",
	} {
		f.Add([]byte(s))
	}
	const secret = "fuzz-secret-value-0123456789"
	getenv := func(name string) string {
		if name == "PW" || name == "X" || strings.HasPrefix(name, "S") {
			return secret
		}
		return ""
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A value written in the file itself may be quoted.
		leaks := func(err error) bool {
			return strings.Contains(err.Error(), secret) && !strings.Contains(string(data), secret)
		}
		file, err := Load(data, getenv)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || file != nil {
				t.Fatalf("Load returned %v, %T %v", file, err, err)
			}
			if leaks(err) {
				t.Fatalf("the error shows a value from the environment: %v", err)
			}
			return
		}
		if err := file.Validate(); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("Validate returned %T %v", err, err)
			}
			if leaks(err) {
				t.Fatalf("the error shows a value from the environment: %v", err)
			}
		}
		if !utf8.Valid(data) {
			return // JSON would replace invalid UTF-8
		}
		js, err := json.Marshal(file)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Load(js, nil)
		if err != nil {
			t.Fatalf("Load(%s): %v", js, err)
		}
		if a, b := normalize(exported(file)), normalize(exported(again)); !reflect.DeepEqual(a, b) {
			t.Fatalf("JSON round trip:\n%#v\n%#v", a, b)
		}
	})
}
