package main

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"latch.dev/latch/internal/e2etest"
)

// The end-to-end harness (internal/e2etest) builds and runs the real
// binaries on random loopback ports and talks to them with raw HTTP/1.1
// requests, so that the test says byte for byte what goes on the wire
// ("%37", "5/../7" and "//" must reach the servers as written).
func TestMain(m *testing.M) { e2etest.Main(m) }

// TestPayrollEndToEnd runs the seed scenario against the real binaries:
// latch serve (examples/latch.yaml plus latch-service.yaml), this service
// behind Debian's nginx (auth_request to /forward-auth), behind Debian's
// Caddy (forward_auth to /forward-auth), and this service on its own with
// the Go middleware (decision API).
func TestPayrollEndToEnd(t *testing.T) {
	env := e2etest.ExampleEnv("PAYROLL_SERVICE_SECRET")
	latchURL := e2etest.StartExampleLatch(t, env).URL
	app := e2etest.BuildBinary(t, ".")

	toks := tokens{
		five:    passwordToken(t, latchURL, env, "alice", env["PAYROLL_PASSWORD_5"]),
		manager: passwordToken(t, latchURL, env, "carol", env["PAYROLL_PASSWORD_C"]),
		machine: e2etest.ClientToken(t, latchURL, "premium-reader", env["PREMIUM_READER_SECRET"], ""),
	}

	// Behind a gateway the service trusts X-Latch-Sub, so besides the
	// scenario it must refuse a request that did not come through it.
	behind := func(t *testing.T, startGateway func(appPort, latchPort int) string) {
		_, appURL := e2etest.Start(t, e2etest.Command{Name: "payroll (gateway)", Path: app, Ready: "payroll listening on ",
			Args: []string{"--mode", "gateway", "--addr", "127.0.0.1:0"}})
		appURL, _, _ = strings.Cut(appURL, " ")
		gw := startGateway(port(t, appURL), port(t, latchURL))
		checkPayroll(t, gw, toks)

		if r := e2etest.RawRequest(t, appURL, "GET", "/api/employee/5", e2etest.Bearer(toks.five), ""); r.Status != 401 || !e2etest.IsMessage(r.Body, "Unauthorized") {
			t.Errorf("direct request without X-Latch-Sub: %d %s", r.Status, r.Body)
		}
	}

	t.Run("nginx", func(t *testing.T) {
		nginx := findGateway(t, "nginx", "/usr/sbin/nginx")
		behind(t, func(appPort, latchPort int) string { return startNginx(t, nginx, appPort, latchPort) })
	})

	t.Run("caddy", func(t *testing.T) {
		caddy := findGateway(t, "caddy", "/usr/bin/caddy")
		behind(t, func(appPort, latchPort int) string { return startCaddy(t, caddy, appPort, latchPort) })
	})

	t.Run("middleware", func(t *testing.T) {
		_, appURL := e2etest.Start(t, e2etest.Command{Name: "payroll (middleware)", Path: app, Env: env.Environ(), Ready: "payroll listening on ",
			Args: []string{"--mode", "middleware", "--addr", "127.0.0.1:0", "--latch", latchURL, "--client-id", "payroll-service"}})
		appURL, _, _ = strings.Cut(appURL, " ")
		checkPayroll(t, appURL, toks)
	})
}

// passwordToken signs a payroll user in through the payroll-app client.
func passwordToken(t *testing.T, latchURL string, env e2etest.Env, username, password string) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	return e2etest.Token(t, latchURL, form, "payroll-app", env["PAYROLL_APP_SECRET"])
}

type tokens struct {
	five, manager, machine string
}

// checkPayroll is the scenario, the same whoever enforces it.
func checkPayroll(t *testing.T, base string, toks tokens) {
	get := func(target, tok string, extra ...string) e2etest.Response {
		t.Helper()
		h := e2etest.Bearer(tok)
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return e2etest.RawRequest(t, base, "GET", target, h, "")
	}
	expect := func(r e2etest.Response, who, target string, status int, contains ...string) {
		t.Helper()
		if r.Status != status {
			t.Errorf("%s GET %s: %d, want %d\n%s", who, target, r.Status, status, r.Body)
			return
		}
		for _, c := range contains {
			if !strings.Contains(r.Body, c) {
				t.Errorf("%s GET %s: body lacks %q\n%s", who, target, c, r.Body)
			}
		}
		if status == 403 && !e2etest.IsMessage(r.Body, "Forbidden") {
			t.Errorf("%s GET %s: 403 body %q, want {\"message\":\"Forbidden\"}", who, target, r.Body)
		}
	}

	// No token, or a token that is not one: 401 {"message":"Unauthorized"}.
	for _, h := range []map[string]string{
		nil,
		{"Authorization": "Bearer not-a-token"},
		{"Authorization": "Bearer " + toks.five + "x"},
		{"Authorization": "Basic YWxpY2U6c2VjcmV0"},
	} {
		r := e2etest.RawRequest(t, base, "GET", "/api/employee/5", h, "")
		if r.Status != 401 || !e2etest.IsMessage(r.Body, "Unauthorized") {
			t.Errorf("GET /api/employee/5 with %v: %d %q, want 401 {\"message\":\"Unauthorized\"}", h, r.Status, r.Body)
		}
		if r.Status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without a Bearer challenge: %v", r.Header)
		}
	}
	// A token in the query string is not a bearer token.
	if r := get("/api/employee/5?access_token="+toks.five, ""); r.Status != 401 {
		t.Errorf("token in the query: %d", r.Status)
	}

	// Employee 5 reads their own record and paystubs.
	expect(get("/api/employee/5", toks.five), "5", "/api/employee/5", 200, `"name":"Alice"`)
	expect(get("/api/employee/5/paystubs", toks.five), "5", "/api/employee/5/paystubs", 200, `"employee":"5"`, `"period":"2025-02"`)
	expect(get("/api/employee/5/paystubs/10", toks.five), "5", "/api/employee/5/paystubs/10", 200, `"period":"2025-10"`)
	expect(get("/api/employee/5?id=7", toks.five), "5", "/api/employee/5?id=7", 200, `"name":"Alice"`)
	// ... as themselves, whatever X-Latch-Sub the client sends.
	if r := get("/api/employee/5", toks.five, "X-Latch-Sub", "7"); r.Header.Get("X-Payroll-Viewer") != "5" {
		t.Errorf("viewer = %q, want 5 (a spoofed X-Latch-Sub must not reach the service)", r.Header.Get("X-Payroll-Viewer"))
	}
	// ... and the URI Latch decides on is the one the gateway saw, whatever
	// the client claims in the headers forward auth reads.
	for _, h := range [][]string{
		{"X-Forwarded-Uri", "/api/employee/5", "X-Forwarded-Method", "GET"},
		{"X-Original-URI", "/api/employee/5", "X-Original-Method", "GET"},
	} {
		expect(get("/api/employee/6", toks.five, h...), "5", "/api/employee/6 with "+h[0]+": /api/employee/5", 403)
	}
	// ... and not 6's, whatever Host the request names (a gateway must not
	// serve some other site, or nothing, for it).
	expect(get("/api/employee/6", toks.five, "Host", "payroll.example"), "5", "/api/employee/6 with Host: payroll.example", 403)
	expect(get("/api/employee/6/paystubs", toks.five), "5", "/api/employee/6/paystubs", 403)
	expect(get("/api/employee/6", toks.five), "5", "/api/employee/6", 403)
	expect(get("/api/employee/c", toks.five), "5", "/api/employee/c", 403)
	// The service itself refuses ids that are not canonical.
	for _, target := range []string{"/api/employee/5/paystubs/01", "/api/employee/5/paystubs/1.0", "/api/employee/5/paystubs/+1",
		"/api/employee/5/paystubs/1;x=2", "/api/employee/5/paystubs/%31", "/api/employee/5/paystubs/3", "/api/employee/5/salary"} {
		r := get(target, toks.five)
		if r.Status != 404 && r.Status != 403 {
			t.Errorf("5 GET %s: %d, want 404 (or 403)\n%s", target, r.Status, r.Body)
		}
	}
	for _, target := range []string{
		"/api/employee/5/../6/paystubs", "/api/employee/5%2F..%2F6/paystubs", "/api/employee/5%2f..%2f6/paystubs",
		"/api/employee/%36/paystubs", "/api/employee/06/paystubs", "/api/employee/6%2F", "/api/employee/5/paystubs/../../6",
		"/api/employee/%2e%2e/6/paystubs", "/api/employee/5/%2e%2e/6", "/api/employee/6/", "//api/employee/6",
		"/api/employee/5/paystubs/..%2F..%2F6", "/api/employee/+6", "/api/employee/6.json", "/api/employee/%EF%BC%96",
	} {
		neverLeaks(t, get(target, toks.five), "5", target, "Bob")
	}

	// Manager c reads 5 and 6 ...
	expect(get("/api/employee/5", toks.manager), "c", "/api/employee/5", 200, `"name":"Alice"`)
	expect(get("/api/employee/6/paystubs", toks.manager), "c", "/api/employee/6/paystubs", 200, `"employee":"6"`)
	expect(get("/api/employee/6/paystubs/1", toks.manager), "c", "/api/employee/6/paystubs/1", 200, `"period":"2025-01"`)
	expect(get("/api/employee/c", toks.manager), "c", "/api/employee/c", 200, `"name":"Carol"`)
	// ... but not 7, however 7 is spelt.
	expect(get("/api/employee/7", toks.manager), "c", "/api/employee/7", 403)
	expect(get("/api/employee/7/paystubs", toks.manager), "c", "/api/employee/7/paystubs", 403)
	expect(get("/api/employee/7/paystubs/1", toks.manager), "c", "/api/employee/7/paystubs/1", 403)
	expect(get("/api/employee/7?x=1", toks.manager), "c", "/api/employee/7?x=1", 403)
	expect(get("/api/employee/%37", toks.manager), "c", "/api/employee/%37", 403)
	expect(get("/api/employee/07", toks.manager), "c", "/api/employee/07", 404)
	expect(get("/api/employee/7", toks.manager, "X-Forwarded-Uri", "/api/employee/6"), "c", "/api/employee/7 with X-Forwarded-Uri: /api/employee/6", 403)
	expect(get("/api/employee/7", toks.manager, "X-Original-URI", "/api/employee/6"), "c", "/api/employee/7 with X-Original-URI: /api/employee/6", 403)
	for _, target := range []string{
		"/api/employee/%37", "/api/employee/%37/paystubs", "/api/employee/5/../7", "/api/employee/5/../7/paystubs",
		"/api/employee/5%2F..%2F7", "/api/employee/5%2f..%2f7", "/api/employee/6%2F..%2F7/paystubs", "/api/employee/07",
		"/api/employee/007/paystubs", "/api/employee/7/", "/api/employee/7/paystubs/", "//api/employee/7",
		"/api//employee/7", "/api/employee//7", "/API/employee/7", "/api/EMPLOYEE/7", "/Api/Employee/7",
		"/api/employee/7%00", "/api/employee/7%00/paystubs", "/api/employee/7%20", "/api/employee/7;x=1",
		"/api/employee/7;/paystubs", "/api/employee/%2e%2e/7", "/api/employee/5/%2e%2e/7", "/api/employee/5/%2E%2E/7",
		"/api/employee/./7", "/api/./employee/7", "/api/employee/5/.%2e/7", "/api/employee/%5C..%5C7",
		"/api/employee/5\\..\\7", "/api/employee/７", "/api/employee/%EF%BC%97", "/api/employee/7.json",
		"/api/employee/+7", "/api/employee/7e0", "/api/employee/0x7", "/api/employee/7%23", "/api/employee/7#x",
		"/api/employee/%2537", "/api/employee/7%3Bx=1", "/api/employee/5/paystubs/../../7/paystubs",
	} {
		neverLeaks(t, get(target, toks.manager), "c", target, "Dave")
	}

	// A machine token of another org reaches no employee: forward auth
	// answers 403 (its scopes do not cover the path); the decision API judges
	// a token of another org than its caller's like an invalid one (401).
	if r := get("/api/employee/5", toks.machine); (r.Status != 403 || !e2etest.IsMessage(r.Body, "Forbidden")) &&
		(r.Status != 401 || !e2etest.IsMessage(r.Body, "Unauthorized")) {
		t.Errorf("premium-reader GET /api/employee/5: %d %s, want 403 or 401", r.Status, r.Body)
	}
}

// neverLeaks checks a bypass attempt: Latch refuses it (403) or the service
// does not recognise the id (404, or 400 from the gateway); never a 2xx or a
// redirect, and never the protected employee's data.
func neverLeaks(t *testing.T, r e2etest.Response, who, target, secret string) {
	t.Helper()
	switch r.Status {
	case 400, 403, 404:
	default:
		t.Errorf("%s GET %q: %d, want 400, 403 or 404\n%s", who, target, r.Status, r.Body)
	}
	if strings.Contains(r.Body, secret) {
		t.Errorf("%s GET %q leaked %s's data: %s", who, target, secret, r.Body)
	}
	t.Logf("%-4s GET %-45q -> %d", who, target, r.Status)
}

// findGateway returns Debian's nginx or caddy (name on PATH, else at
// fallback). When it is missing the test is skipped on a developer's machine
// and fails in CI (scripts/test installs both), so it can never pass silently
// where it should run.
func findGateway(t *testing.T, name, fallback string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed: scripts/test installs it (apt-get install -y %[1]s)", name)
	}
	t.Skipf("%s is not installed (apt-get install -y %[1]s, or run scripts/test)", name)
	return ""
}

// startNginx writes nginx.conf.template with real ports and absolute paths
// into a fresh directory and runs nginx in the foreground on a random
// loopback port; it is stopped by its PID (SIGTERM to the master) at the end.
func startNginx(t *testing.T, nginx string, appPort, latchPort int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "payroll-nginx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Started as root, the workers run as nobody and must reach the temp dirs.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	// -e: the error log before the configuration is read (not /var/log).
	return runGateway(t, e2etest.Command{Name: "nginx", Path: nginx, Args: []string{"-p", dir, "-c", conf, "-e", "stderr"}},
		"nginx.conf.template", dir, conf, "Address already in use", appPort, latchPort)
}

// startCaddy writes Caddyfile.template with real ports and a temporary
// storage directory and runs `caddy run` in the foreground on a random
// loopback port; it is stopped by its PID (SIGTERM) at the end. HOME and the
// XDG directories point into the temporary directory too, so that Caddy
// writes nothing (its autosaved config, say) anywhere else.
func startCaddy(t *testing.T, caddy string, appPort, latchPort int) string {
	t.Helper()
	dir := t.TempDir()
	env := append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	conf := filepath.Join(dir, "Caddyfile")
	return runGateway(t, e2etest.Command{Name: "caddy", Path: caddy, Env: env, Args: []string{"run", "--config", conf, "--adapter", "caddyfile"}},
		"Caddyfile.template", dir, conf, "address already in use", appPort, latchPort)
}

// runGateway writes template into conf with real ports (a free one for the
// gateway) and dir, runs c, and returns the gateway's URL once it listens. If
// the port was taken in the meantime (stderr says busy), it tries again with
// another, three times at most.
func runGateway(t *testing.T, c e2etest.Command, template, dir, conf, busy string, appPort, latchPort int) string {
	t.Helper()
	tmpl, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		gwPort := e2etest.FreePort(t)
		text := strings.NewReplacer("@WORKDIR@", dir, "@GATEWAY_PORT@", strconv.Itoa(gwPort),
			"@APP_PORT@", strconv.Itoa(appPort), "@LATCH_PORT@", strconv.Itoa(latchPort)).Replace(string(tmpl))
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		p, _ := e2etest.Start(t, c)
		addr := "127.0.0.1:" + strconv.Itoa(gwPort)
		if p.WaitListening(t, addr) {
			return "http://" + addr
		}
		if attempt == 3 || !strings.Contains(p.Stderr(), busy) {
			t.Fatalf("%s exited: %v\n%s", c.Name, p.Err(), p.Stderr())
		}
	}
}

func port(t *testing.T, u string) int {
	t.Helper()
	i := strings.LastIndexByte(u, ':')
	n, err := strconv.Atoi(strings.TrimRight(u[i+1:], "/"))
	if err != nil {
		t.Fatalf("no port in %q", u)
	}
	return n
}
