// Command loadgen drives a running Latch server over loopback and prints one
// result line: requests per second, p50 and p99 latency, errors, and (with
// -pid) the server's CPU time and requests per server CPU-second, a figure
// that stays meaningful when the load generator and the server share a small
// machine.
//
// It measures three operations:
//
//	client_credentials  POST /oauth2/token, grant_type=client_credentials
//	introspect          POST /oauth2/introspect, token=<one token, fetched first unless -token>
//	forward-auth        GET /forward-auth with the token (fetched first unless -token) and X-Original-Method/-URI
//
// Each worker owns one keep-alive connection and sends requests back to back
// (a closed loop): -c is the number of requests in flight. Requests during
// -warmup are sent but not counted; the run then lasts -d and stops by itself.
//
// It never sends traffic off the machine: a -url whose host is not
// 127.0.0.1, ::1 or localhost is refused, every connection is checked to go
// to a loopback address, proxies from the environment are ignored and
// redirects are not followed.
//
//	loadgen -url http://127.0.0.1:8080 -mode client_credentials -c 16 -d 10s \
//	        -client-id bench-jwt -scope bench/read -pid 12345
//
// The client secret comes from -client-secret or LATCH_BENCH_CLIENT_SECRET
// (preferred: command lines are visible to other users of the machine).
//
// With -ddb-counts URL (the counts URL of `loadgen ddb-proxy`, see
// ddbproxy.go, placed between the server and DynamoDB Local) it also reports
// the DynamoDB requests the server made during the measured window, by
// operation, and per successful request. With -redis-pid and -redis it
// reports the CPU time of the server's Redis (the shared cache) over the
// window, and the Redis calls (round trips) per successful request.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if len(os.Args) > 1 && os.Args[1] == "ddb-proxy" {
		err = runDDBProxy(ctx, os.Args[2:], os.Stdout, os.Stderr)
	} else {
		err = run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// options are the parsed flags.
type options struct {
	baseURL      *url.URL
	mode         string
	uri          string
	concurrency  int
	duration     time.Duration
	warmup       time.Duration
	clientID     string
	clientSecret string
	scope        string
	token        string
	pid          int
	redisPID     int
	redisAddr    string
	jsonOut      bool
	timeout      time.Duration
	label        string
	ddbCounts    string
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "", "base URL of the server, e.g. http://127.0.0.1:8080 (loopback only)")
	fs.StringVar(&o.mode, "mode", "client_credentials", "client_credentials, introspect or forward-auth")
	fs.StringVar(&o.uri, "uri", "/bench/item/1", "forward-auth: the original URI to ask about (GET)")
	fs.IntVar(&o.concurrency, "c", 16, "concurrency: requests in flight (one connection each)")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before measuring (sent, not counted)")
	fs.StringVar(&o.clientID, "client-id", "", "client id (HTTP Basic)")
	fs.StringVar(&o.clientSecret, "client-secret", "", "client secret (default: $LATCH_BENCH_CLIENT_SECRET)")
	fs.StringVar(&o.scope, "scope", "bench/read", "scope to request (client_credentials, and the token fetched for introspect)")
	fs.StringVar(&o.token, "token", "", "introspect: the token to introspect (default: fetch one with the client's credentials)")
	fs.IntVar(&o.pid, "pid", 0, "the server's PID, to report its CPU time (Linux /proc)")
	fs.IntVar(&o.redisPID, "redis-pid", 0, "the PID of the redis-server behind the server's shared cache, to report its CPU time too")
	fs.StringVar(&o.redisAddr, "redis", "", "host:port (loopback) of the Redis behind the server's shared cache, to report the Redis calls (round trips) per request")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.StringVar(&o.label, "label", "", "a name for this run, echoed in the output")
	fs.StringVar(&o.ddbCounts, "ddb-counts", "", "counts URL of a `loadgen ddb-proxy` in front of the server's DynamoDB (http://127.0.0.1:PORT"+countsPath+"), to report DynamoDB requests per request")
	if err := fs.Parse(args); err != nil {
		return o, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return o, usagef("unexpected arguments: %q", fs.Args())
	}
	if *rawURL == "" {
		return o, usagef("-url is required")
	}
	u, err := url.Parse(*rawURL)
	if err != nil {
		return o, usagef("-url: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return o, usagef("-url: scheme must be http or https, not %q", u.Scheme)
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1", "localhost":
	default:
		return o, usagef("-url: host %q is not loopback (127.0.0.1, ::1 or localhost); loadgen only loads this machine", u.Hostname())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	o.baseURL = u
	switch o.mode {
	case "client_credentials", "introspect", "forward-auth":
	default:
		return o, usagef("-mode: %q is not client_credentials, introspect or forward-auth", o.mode)
	}
	if o.concurrency < 1 || o.concurrency > 10000 {
		return o, usagef("-c: %d is out of range 1..10000", o.concurrency)
	}
	if o.duration <= 0 {
		return o, usagef("-d must be positive")
	}
	if o.warmup < 0 {
		return o, usagef("-warmup must not be negative")
	}
	if o.clientSecret == "" {
		o.clientSecret = getenv("LATCH_BENCH_CLIENT_SECRET")
	}
	if o.clientID == "" || o.clientSecret == "" {
		return o, usagef("-client-id and a secret (-client-secret or LATCH_BENCH_CLIENT_SECRET) are required")
	}
	if o.pid < 0 || o.redisPID < 0 {
		return o, usagef("-pid and -redis-pid must be positive")
	}
	if o.ddbCounts != "" {
		if _, err := loopbackURL("-ddb-counts", o.ddbCounts); err != nil {
			return o, err
		}
	}
	if o.redisAddr != "" {
		if err := checkRedisAddr(o.redisAddr); err != nil {
			return o, err
		}
	}
	return o, nil
}

// result is what one run prints.
type result struct {
	Label       string         `json:"label,omitempty"`
	Mode        string         `json:"mode"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"requests"` // successful, in the measured window
	Errors      int            `json:"errors"`
	ErrorKinds  map[string]int `json:"error_kinds,omitempty"`
	RPS         float64        `json:"requests_per_second"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	// Server CPU time (user+system) over the measured window, and successful
	// requests per server CPU-second; absent without -pid.
	ServerCPUSeconds *float64 `json:"server_cpu_seconds,omitempty"`
	PerServerCPUSec  *float64 `json:"requests_per_server_cpu_second,omitempty"`
	// The load generator's own CPU time over the window: it competes with the
	// server for the same cores.
	LoadgenCPUSeconds *float64 `json:"loadgen_cpu_seconds,omitempty"`
	// The CPU time of the server's Redis (shared cache) over the window;
	// absent without -redis-pid.
	RedisCPUSeconds *float64 `json:"redis_cpu_seconds,omitempty"`
	// The calls (round trips: scripts and PUBLISH) the server made to its
	// Redis over the window, in all and per successful request; absent
	// without -redis.
	RedisCalls      *int64   `json:"redis_calls,omitempty"`
	RedisPerRequest *float64 `json:"redis_calls_per_request,omitempty"`
	// DynamoDB requests the server made over the window (with -ddb-counts):
	// in all, per successful request, and by operation and kind of item, in
	// all ("GetItem[JTI]=3000 GetItem[CLIENT]=2") and per successful request.
	DDBRequests      *int     `json:"ddb_requests,omitempty"`
	DDBPerRequest    *float64 `json:"ddb_requests_per_request,omitempty"`
	DDBOps           string   `json:"ddb_ops,omitempty"`
	DDBOpsPerRequest string   `json:"ddb_ops_per_request,omitempty"`
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	client := newClient(o.concurrency, o.timeout)
	defer client.CloseIdleConnections()

	var endpoint, forwardBearer string
	var body []byte
	switch o.mode {
	case "client_credentials":
		endpoint = o.baseURL.String() + "/oauth2/token"
		body = []byte(url.Values{"grant_type": {"client_credentials"}, "scope": {o.scope}}.Encode())
	case "introspect":
		endpoint = o.baseURL.String() + "/oauth2/introspect"
		tok := o.token
		if tok == "" {
			if tok, err = fetchToken(ctx, client, o); err != nil {
				return err
			}
		}
		body = []byte(url.Values{"token": {tok}}.Encode())
	case "forward-auth":
		endpoint = o.baseURL.String() + "/forward-auth"
		tok := o.token
		if tok == "" {
			if tok, err = fetchToken(ctx, client, o); err != nil {
				return err
			}
		}
		body = []byte(o.uri) // the original URI, sent in X-Original-URI
		forwardBearer = "Bearer " + tok
	}
	auth := basicAuth(o.clientID, o.clientSecret)
	if o.mode == "forward-auth" {
		auth = forwardBearer
	}

	// One request before starting, so that a wrong setup fails loudly
	// instead of producing a table of errors.
	if _, err := do(ctx, client, endpoint, auth, body, o.mode); err != nil {
		return fmt.Errorf("first request failed: %w", err)
	}

	res, err := measure(ctx, client, o, endpoint, auth, body, stderr)
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		return enc.Encode(res)
	}
	fmt.Fprintln(stdout, res.line())
	return nil
}

// newClient returns a client that keeps one connection per worker alive,
// ignores proxy settings, follows no redirect and only connects to loopback
// addresses (whatever "localhost" resolves to).
func newClient(concurrency int, timeout time.Duration) *http.Client {
	dialer := loopbackDialer()
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		MaxIdleConns:        concurrency + 8,
		MaxIdleConnsPerHost: concurrency + 8,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// basicAuth encodes the credentials as RFC 6749 §2.3.1 asks: each part
// form-encoded, then joined and base64-encoded.
func basicAuth(id, secret string) string {
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return req.Header.Get("Authorization")
}

// fetchToken gets the token that introspect mode asks about.
func fetchToken(ctx context.Context, client *http.Client, o options) (string, error) {
	body := []byte(url.Values{"grant_type": {"client_credentials"}, "scope": {o.scope}}.Encode())
	raw, err := do(ctx, client, o.baseURL.String()+"/oauth2/token", basicAuth(o.clientID, o.clientSecret), body, "client_credentials")
	if err != nil {
		return "", fmt.Errorf("fetching a token to introspect: %w", err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("fetching a token to introspect: no access_token in the answer")
	}
	return tr.AccessToken, nil
}

// errKind is a short, countable description of a failed request.
type errKind string

// do sends one request and returns the body of a successful answer. An
// answer other than 200 is an error; so is, for introspection, an inactive
// token (the benchmark would otherwise measure the cheap "unknown" path),
// and, for the token endpoint, an answer without an access token.
func do(ctx context.Context, client *http.Client, endpoint, auth string, body []byte, mode string) ([]byte, error) {
	var req *http.Request
	var err error
	if mode == "forward-auth" {
		// As nginx's auth_request sends it: GET, no body, the original
		// request in headers, the client's bearer token passed through.
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-Original-Method", http.MethodGet)
		req.Header.Set("X-Original-URI", string(body))
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", auth)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError{resp.StatusCode, strings.TrimSpace(string(raw))}
	}
	switch mode {
	case "forward-auth":
		// 200 is the allow; anything else was counted as an error above.
	case "introspect":
		if !bytes.Contains(raw, []byte(`"active":true`)) {
			return nil, errors.New("inactive: " + string(raw))
		}
	case "client_credentials":
		if !bytes.Contains(raw, []byte(`"access_token"`)) {
			return nil, errors.New("no access_token: " + string(raw))
		}
	}
	return raw, nil
}

type statusError struct {
	code int
	body string
}

func (e statusError) Error() string {
	b := e.body
	if len(b) > 200 {
		b = b[:200] + "..."
	}
	return fmt.Sprintf("HTTP %d: %s", e.code, b)
}

func kindOf(err error) errKind {
	var se statusError
	switch {
	case errors.As(err, &se):
		return errKind("http_" + strconv.Itoa(se.code))
	case strings.HasPrefix(err.Error(), "inactive"):
		return "inactive"
	case strings.HasPrefix(err.Error(), "no access_token"):
		return "no_access_token"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "transport"
	}
}

// workerStats is what one worker collects; workers share nothing while
// running.
type workerStats struct {
	latencies []time.Duration
	errors    map[errKind]int
	firstErr  error
}

func measure(ctx context.Context, client *http.Client, o options, endpoint, auth string, body []byte, stderr io.Writer) (result, error) {
	start := time.Now()
	measureFrom := start.Add(o.warmup)
	end := measureFrom.Add(o.duration)
	runCtx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	stats := make([]workerStats, o.concurrency)
	var wg sync.WaitGroup
	for i := range stats {
		st := &stats[i]
		st.errors = map[errKind]int{}
		st.latencies = make([]time.Duration, 0, 4096)
		wg.Go(func() {
			for runCtx.Err() == nil {
				t0 := time.Now()
				_, err := do(runCtx, client, endpoint, auth, body, o.mode)
				t1 := time.Now()
				if runCtx.Err() != nil && t1.After(end) {
					// Cut off by the end of the run: not an answer.
					return
				}
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					st.errors[kindOf(err)]++
					if st.firstErr == nil {
						st.firstErr = err
					}
					continue
				}
				st.latencies = append(st.latencies, t1.Sub(t0))
			}
		})
	}

	// Read CPU times at the edges of the measured window.
	var srvCPU0, genCPU0 float64
	var cpuErr error
	select {
	case <-time.After(time.Until(measureFrom)):
	case <-ctx.Done():
	}
	if o.pid > 0 {
		srvCPU0, cpuErr = cpuSeconds(strconv.Itoa(o.pid))
	}
	genCPU0, genErr := cpuSeconds("self")
	var redisCPU0 float64
	var redisErr error
	if o.redisPID > 0 {
		redisCPU0, redisErr = cpuSeconds(strconv.Itoa(o.redisPID))
	}
	var redisCmds0 int64
	var redisCmdErr error
	if o.redisAddr != "" {
		redisCmds0, redisCmdErr = redisCalls(ctx, o.redisAddr)
	}
	var ddb0 map[string]int
	var ddbErr error
	if o.ddbCounts != "" {
		ddb0, ddbErr = fetchDDBCounts(client, o.ddbCounts)
	}
	wg.Wait()
	// Only answers received before the deadline were counted, so the window
	// is the nominal one.
	elapsed := o.duration
	var srvCPU1, genCPU1 float64
	if o.pid > 0 && cpuErr == nil {
		srvCPU1, cpuErr = cpuSeconds(strconv.Itoa(o.pid))
	}
	if genErr == nil {
		genCPU1, genErr = cpuSeconds("self")
	}
	var redisCPU1 float64
	if o.redisPID > 0 && redisErr == nil {
		redisCPU1, redisErr = cpuSeconds(strconv.Itoa(o.redisPID))
	}
	var redisCmds1 int64
	if o.redisAddr != "" && redisCmdErr == nil {
		redisCmds1, redisCmdErr = redisCalls(ctx, o.redisAddr)
	}
	var ddb1 map[string]int
	if o.ddbCounts != "" && ddbErr == nil {
		ddb1, ddbErr = fetchDDBCounts(client, o.ddbCounts)
	}
	if ctx.Err() != nil {
		return result{}, ctx.Err()
	}

	var all []time.Duration
	res := result{Label: o.label, Mode: o.mode, Concurrency: o.concurrency, Seconds: elapsed.Seconds(), ErrorKinds: map[string]int{}}
	var firstErr error
	for _, st := range stats {
		all = append(all, st.latencies...)
		for k, n := range st.errors {
			res.ErrorKinds[string(k)] += n
			res.Errors += n
		}
		if firstErr == nil {
			firstErr = st.firstErr
		}
	}
	if len(res.ErrorKinds) == 0 {
		res.ErrorKinds = nil
	}
	if firstErr != nil {
		fmt.Fprintf(stderr, "loadgen: %d errors; the first: %v\n", res.Errors, firstErr)
	}
	slices.Sort(all)
	res.Requests = len(all)
	res.RPS = float64(len(all)) / elapsed.Seconds()
	res.P50ms = ms(percentile(all, 0.50))
	res.P90ms = ms(percentile(all, 0.90))
	res.P99ms = ms(percentile(all, 0.99))
	if len(all) > 0 {
		res.MaxMs = ms(all[len(all)-1])
	}
	if o.pid > 0 {
		if cpuErr != nil {
			fmt.Fprintf(stderr, "loadgen: server CPU time unavailable: %v\n", cpuErr)
		} else {
			cpu := srvCPU1 - srvCPU0
			res.ServerCPUSeconds = &cpu
			if cpu > 0 {
				per := float64(len(all)) / cpu
				res.PerServerCPUSec = &per
			}
		}
	}
	if genErr == nil {
		g := genCPU1 - genCPU0
		res.LoadgenCPUSeconds = &g
	}
	if o.redisPID > 0 {
		if redisErr != nil {
			fmt.Fprintf(stderr, "loadgen: Redis CPU time unavailable: %v\n", redisErr)
		} else {
			c := redisCPU1 - redisCPU0
			res.RedisCPUSeconds = &c
		}
	}
	if o.redisAddr != "" {
		if redisCmdErr != nil {
			fmt.Fprintf(stderr, "loadgen: Redis call counts unavailable: %v\n", redisCmdErr)
		} else {
			n := redisCmds1 - redisCmds0
			res.RedisCalls = &n
			if len(all) > 0 {
				per := float64(n) / float64(len(all))
				res.RedisPerRequest = &per
			}
		}
	}
	if o.ddbCounts != "" {
		if ddbErr != nil {
			fmt.Fprintf(stderr, "loadgen: DynamoDB request counts unavailable: %v\n", ddbErr)
		} else {
			d := opsDiff(ddb0, ddb1)
			n := 0
			for _, v := range d {
				n += v
			}
			res.DDBRequests, res.DDBOps = &n, formatOps(d)
			if len(all) > 0 {
				per := float64(n) / float64(len(all))
				res.DDBPerRequest, res.DDBOpsPerRequest = &per, formatOpsPer(d, len(all))
			}
		}
	}
	if res.Requests == 0 {
		return res, fmt.Errorf("no successful request in the measured window (%d errors)", res.Errors)
	}
	return res, nil
}

// percentile returns the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// userHZ is the unit of the CPU times in /proc/PID/stat. Linux exports them
// in USER_HZ, which is 100 on every architecture Go supports.
const userHZ = 100

// cpuSeconds returns the user+system CPU time of a process (pid, or "self")
// from /proc/PID/stat.
func cpuSeconds(pid string) (float64, error) {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses; the fields after the last ')' start at field 3 (state).
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	// utime is field 14 and stime field 15: indexes 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: bad CPU times", pid)
	}
	return float64(ut+st) / userHZ, nil
}

func (r result) line() string {
	var b strings.Builder
	if r.Label != "" {
		fmt.Fprintf(&b, "label=%s ", r.Label)
	}
	fmt.Fprintf(&b, "mode=%s c=%d seconds=%.1f requests=%d rps=%.0f p50=%.2fms p99=%.2fms errors=%d",
		r.Mode, r.Concurrency, r.Seconds, r.Requests, r.RPS, r.P50ms, r.P99ms, r.Errors)
	if r.ServerCPUSeconds != nil {
		fmt.Fprintf(&b, " server_cpu_s=%.2f", *r.ServerCPUSeconds)
	} else {
		b.WriteString(" server_cpu_s=-")
	}
	if r.PerServerCPUSec != nil {
		fmt.Fprintf(&b, " req_per_server_cpu_s=%.0f", *r.PerServerCPUSec)
	} else {
		b.WriteString(" req_per_server_cpu_s=-")
	}
	if r.LoadgenCPUSeconds != nil {
		fmt.Fprintf(&b, " loadgen_cpu_s=%.2f", *r.LoadgenCPUSeconds)
	}
	if r.RedisCPUSeconds != nil {
		fmt.Fprintf(&b, " redis_cpu_s=%.2f", *r.RedisCPUSeconds)
	}
	if r.RedisCalls != nil {
		fmt.Fprintf(&b, " redis_calls=%d", *r.RedisCalls)
		if r.RedisPerRequest != nil {
			fmt.Fprintf(&b, " redis_per_request=%.4f", *r.RedisPerRequest)
		}
	}
	if r.DDBRequests != nil {
		fmt.Fprintf(&b, " ddb_requests=%d", *r.DDBRequests)
		if r.DDBPerRequest != nil {
			fmt.Fprintf(&b, " ddb_per_request=%.4f", *r.DDBPerRequest)
		}
		fmt.Fprintf(&b, " ddb_ops=%q", r.DDBOps)
	}
	return b.String()
}
