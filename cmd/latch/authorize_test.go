package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"latch.dev/latch"
)

// runLatch runs the CLI in process.
func runLatch(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"latch"}, args...), nil, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), exitCode(err)
}

func TestAuthorizeOffline(t *testing.T) {
	cfg := "../../examples/latch.yaml"
	fakeJWT := func(claims map[string]any) string {
		b, _ := json.Marshal(claims)
		return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--as", "alice", "GET", "/api/employee/5/paystubs"}, 0, `ALLOW GET /api/employee/5/paystubs: allow "GET /api/employee/{sub}/**" of role "employee"`},
		{[]string{"--as", "5", "GET", "/api/employee/6/paystubs"}, exitDenied, "DENY"},
		{[]string{"--as", "c", "GET", "/api/employee/6/paystubs"}, 0, "ALLOW"},
		{[]string{"--as", "carol", "GET", "/api/employee/7/paystubs"}, exitDenied, `deny "* /api/employee/7/**" of user "c"`},
		{[]string{"--as", "c", "GET", "/api/employee/%37"}, exitDenied, "DENY"},
		{[]string{"--client", "premium-reader", "--scope", "premium/read", "GET", "/premium/a"}, 0, "ALLOW"},
		{[]string{"--client", "premium-reader", "--scope", "premium/read", "POST", "/premium/a"}, exitDenied, "DENY"},
		{[]string{"--token", fakeJWT(map[string]any{"sub": "premium-writer", "client_id": "premium-writer", "org_id": "premium-content", "scope": "premium/write", "sub_type": "client"}), "POST", "/premium/a"}, 0, "ALLOW"},
		{[]string{"--as", "nobody", "GET", "/"}, exitNotFound, ""},
		{[]string{"--as", "alice", "GET"}, exitUsage, ""},
	}
	for _, c := range cases {
		out, errOut, code := runLatch(t, append([]string{"authorize", "--config", cfg}, c.args...)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, out %q, err %q; want exit %d and %q", c.args, code, out, errOut, c.code, c.want)
		}
	}
}

func TestErrorTextNamesTheFailedCall(t *testing.T) {
	fault := latch.Wrap(latch.EINTERNAL, "dynamodb.CreateSigningKey", errors.New("UnknownOperationException: TransactWriteItems"))
	if got := errorText(fault); !strings.Contains(got, "dynamodb.CreateSigningKey") || !strings.Contains(got, "UnknownOperationException") {
		t.Errorf("errorText(fault) = %q: it must name the operation and the server's error", got)
	}
	// A refusal keeps its chosen message, without the chain.
	refused := &latch.Error{Code: latch.EINVALID, Message: "bad input", Err: errors.New("detail")}
	if got := errorText(refused); got != "bad input" {
		t.Errorf("errorText(refused) = %q", got)
	}
}
