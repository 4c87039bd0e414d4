package main

// Helpers of the tests of a fleet sharing a cache on Redis
// (redis_fleet_test.go, redis_faults_test.go): two `latch serve` processes on
// one DynamoDB table and one redis-server, the requests they are asked, and
// the watchers that catch a stale answer whenever it comes.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"latch.dev/latch/internal/e2etest"
	"latch.dev/latch/internal/redistest"
)

// dynamoDBEndpoint is the DynamoDB Local that run-local.sh started, or it
// skips the test.
func dynamoDBEndpoint(t *testing.T) string {
	t.Helper()
	endpoint := os.Getenv("LATCH_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("LATCH_REQUIRE_DYNAMODB") != "" {
			t.Fatal("LATCH_REQUIRE_DYNAMODB is set but LATCH_TEST_DYNAMODB_ENDPOINT is not")
		}
		t.Skip("needs DynamoDB Local: internal/store/dynamodb/testdata/run-local.sh runs this test")
	}
	return endpoint
}

// redisFleet is two servers on one table and one Redis: s1 applied
// testdata/e2e.yaml and makes the changes, s2 is asked.
type redisFleet struct {
	s1, s2 *e2etest.Latch
	redis  *redistest.Server
	env    []string
	table  string
	// adminToken is a bearer token for s1's admin API (the bootstrap admin
	// client's).
	adminToken string
}

// startRedisFleet creates a table on the DynamoDB at endpoint, starts a
// redis-server and two `latch serve` on them with --cache-ttl ttl.
func startRedisFleet(t *testing.T, endpoint, ttl, logLevel string) *redisFleet {
	t.Helper()
	return startFleet(t, endpoint, ttl, logLevel, nil)
}

// startFleet is startRedisFleet where s1 reaches Redis at the address
// s1Via returns for Redis's (nil: Redis's own).
func startFleet(t *testing.T, endpoint, ttl, logLevel string, s1Via func(redisAddr string) string) *redisFleet {
	t.Helper()
	f := &redisFleet{table: "latch-redis-" + randomHex(6)}
	f.env = e2eEnv("AWS_ENDPOINT_URL_DYNAMODB="+endpoint, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=dummy", "AWS_SECRET_ACCESS_KEY=dummy")
	if out, errOut, code := e2etest.RunLatch(t, f.env, "", "dynamodb", "create-table", f.table); code != 0 {
		t.Fatalf("create-table: %d %s %s", code, out, errOut)
	}
	// Started first, so stopped after the servers.
	f.redis = redistest.Start(t)
	args := []string{"--store", "dynamodb://" + f.table, "--issuer", "https://auth.latch.test",
		"--cache-ttl", ttl, "--log-level", logLevel}
	s1Redis := f.redis.URL()
	if s1Via != nil {
		s1Redis = "redis://" + s1Via(f.redis.Addr()) + "/0"
	}
	f.s1 = e2etest.StartLatch(t, e2etest.Options{Config: "testdata/e2e.yaml", Env: f.env, Args: slices.Concat(args, []string{"--cache", s1Redis}), CleanExit: true})
	f.s2 = e2etest.StartLatch(t, e2etest.Options{Env: f.env, Args: slices.Concat(args, []string{"--cache", f.redis.URL()}), CleanExit: true})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("s1's log (tail):\n%s", tail(f.s1.Stderr(), 40))
			t.Logf("s2's log (tail):\n%s", tail(f.s2.Stderr(), 40))
		}
	})
	raw, err := os.ReadFile(filepath.Join(f.s1.Data, adminCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	var creds adminCredentials
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatal(err)
	}
	f.adminToken = e2etest.ClientToken(t, f.s1.URL, creds.ClientID, creds.ClientSecret, "latch/admin")
	return f
}

// tail is the last n lines of a log but the "request denied" ones, of which
// the tests cause thousands.
func tail(s string, n int) string {
	var lines []string
	for line := range strings.Lines(s) {
		if !strings.Contains(line, `"msg":"request denied"`) {
			lines = append(lines, strings.TrimRight(line, "\n"))
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// httpClient is shared by every goroutine of the tests: keep-alive
// connections, a generous timeout (a 2-core machine runs DynamoDB Local,
// Redis, two servers and the test).
var httpClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, MaxIdleConns: 128, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute},
	Timeout:   30 * time.Second,
}

// decide asks base's forward auth whether the bearer of tok may GET uri, and
// returns the status (200 allow, 401 invalid token, 403 forbidden, anything
// else an error, which a proxy turns into a refusal).
func decide(base, tok, uri string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/forward-auth", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Original-Method", http.MethodGet)
	req.Header.Set("X-Original-URI", uri)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// postForm posts form to u with HTTP Basic authentication (form-encoded
// parts, RFC 6749 section 2.3.1).
func postForm(u string, form url.Values, id, secret string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// issue is a client_credentials access token of client id from base.
func issue(base, id, secret string) (string, error) {
	st, b, err := postForm(base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, id, secret)
	if err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token for %s: %d %s", id, st, b)
	}
	return tok.AccessToken, nil
}

func mustIssue(t *testing.T, base, id, secret string) string {
	t.Helper()
	tok, err := issue(base, id, secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// revoke revokes tok (RFC 7009) on base as client id; 200 means the
// revocation is durable.
func revoke(base, tok, id, secret string) (int, error) {
	st, _, err := postForm(base+"/oauth2/revoke", url.Values{"token": {tok}}, id, secret)
	return st, err
}

// adminDo calls base's admin API with bearer and a JSON body ("" for none).
func adminDo(base, bearer, method, path, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// createClient creates a client_credentials client of org payroll with the
// premium/read scope on s1 and returns its generated secret.
func (f *redisFleet) createClient(t *testing.T, id string) string {
	t.Helper()
	st, b, err := adminDo(f.s1.URL, f.adminToken, http.MethodPost, "/admin/v1/orgs/payroll/clients",
		fmt.Sprintf(`{"id":%q,"grants":["client_credentials"],"scopes":["premium/read"]}`, id))
	if err != nil || st != http.StatusCreated {
		t.Fatalf("create client %s: %d %v %s", id, st, err, b)
	}
	var out struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.ClientSecret == "" {
		t.Fatalf("create client %s: no secret in %s", id, b)
	}
	return out.ClientSecret
}

// setDeny replaces client id's statements on s1: deny GET aclPath/** when
// deny is true, no statement otherwise (its grants and scopes stay).
func (f *redisFleet) setDeny(id string, deny bool) (int, error) {
	stmts := ""
	if deny {
		stmts = `,"deny":["GET ` + aclPrefix + `/**"]`
	}
	st, b, err := adminDo(f.s1.URL, f.adminToken, http.MethodPut, "/admin/v1/orgs/payroll/clients/"+id,
		`{"grants":["client_credentials"],"scopes":["premium/read"]`+stmts+`}`)
	if err == nil && st != http.StatusOK {
		err = fmt.Errorf("PUT client %s: %d %s", id, st, b)
	}
	return st, err
}

const (
	// loadURI is what the load asks about: premium/read allows it.
	loadURI = "/premium/item/1"
	// aclPrefix is what the ACL changes deny and allow again.
	aclPrefix = "/premium/acl"
	aclURI    = aclPrefix + "/1"
)

// jtiOf reads (without verifying) a JWT's jti.
func jtiOf(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.JTI == "" {
		t.Fatalf("no jti in %s", raw)
	}
	return c.JTI
}

// pollUntil asks base about tok and uri until the answer is want, and returns
// when that answer was received (the first one: later answers are the
// watchers' business) and how many other answers, by status, came before.
// It gives up at deadline.
func pollUntil(base, tok, uri string, want int, deadline time.Time) (time.Time, map[int]int, error) {
	before := map[int]int{}
	for {
		st, err := decide(base, tok, uri)
		now := time.Now()
		if err != nil {
			return now, before, err
		}
		if st == want {
			return now, before, nil
		}
		before[st]++
		if now.After(deadline) {
			return now, before, fmt.Errorf("still %v at the deadline", before)
		}
	}
}

// latencyStats are the max, p50 and p99 (nearest rank) of ds.
func latencyStats(ds []time.Duration) (maxD, p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.5) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return s[len(s)-1], rank(0.50), rank(0.99)
}

// load is a few goroutines asking servers about one token that stays
// allowed, back to back, counting the answers by phase and status.
type load struct {
	mu     sync.Mutex
	phase  string
	counts map[string]map[string]int // phase -> "200", "503", "error" -> n
	slow   map[string]time.Duration  // phase -> the slowest answer
	first  map[string]string         // phase -> the first unexpected answer
	order  []string
	wg     sync.WaitGroup
	stop   chan struct{}
}

// startLoad runs n goroutines per server in bases asking about tok and
// uri; pause is the time between a goroutine's requests.
func startLoad(bases []string, n int, tok, uri string, pause time.Duration) *load {
	l := &load{counts: map[string]map[string]int{}, slow: map[string]time.Duration{}, first: map[string]string{}, stop: make(chan struct{})}
	l.setPhase("start")
	for _, base := range bases {
		for range n {
			l.wg.Go(func() {
				for {
					select {
					case <-l.stop:
						return
					default:
					}
					t0 := time.Now()
					st, err := decide(base, tok, uri)
					d := time.Since(t0)
					key := strconv.Itoa(st)
					if err != nil {
						key = "error"
					}
					l.mu.Lock()
					p := l.phase
					l.counts[p][key]++
					l.slow[p] = max(l.slow[p], d)
					if st != http.StatusOK && l.first[p] == "" {
						l.first[p] = fmt.Sprintf("%s at %s: %d %v", base, t0.Format("15:04:05.000"), st, err)
					}
					l.mu.Unlock()
					if pause > 0 {
						time.Sleep(pause)
					}
				}
			})
		}
	}
	return l
}

// snapshot is a copy of the counts so far.
func (l *load) snapshot() map[string]map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]map[string]int{}
	for p, c := range l.counts {
		out[p] = maps.Clone(c)
	}
	return out
}

func (l *load) setPhase(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = p
	if l.counts[p] == nil {
		l.counts[p] = map[string]int{}
		l.order = append(l.order, p)
	}
}

// finish stops the goroutines and returns the answers other than 200 by
// phase, and a report of every phase.
func (l *load) finish() (bad map[string]int, report string) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	bad = map[string]int{}
	var b strings.Builder
	for _, p := range l.order {
		if len(l.counts[p]) == 0 {
			continue
		}
		total := 0
		keys := make([]string, 0, len(l.counts[p]))
		for k, n := range l.counts[p] {
			total += n
			keys = append(keys, k)
			if k != "200" {
				bad[p] += n
			}
		}
		slices.Sort(keys)
		fmt.Fprintf(&b, "  %-16s %6d answers:", p, total)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%d", k, l.counts[p][k])
		}
		fmt.Fprintf(&b, ", slowest %v", l.slow[p].Round(time.Millisecond))
		if l.first[p] != "" {
			fmt.Fprintf(&b, "; first unexpected: %s", l.first[p])
		}
		b.WriteString("\n")
	}
	return bad, b.String()
}

// watchPause is the time between two rounds of a watcher: it leaves the
// machine's two cores to the rest.
const watchPause = 2 * time.Millisecond

// revokedWatch asks the servers, over and over, about every token revoked
// so far and records a stale allow: a 200 for a request sent after the
// revocation's deadline (its response plus the bound the product promises),
// or after a server first refused the token (a refusal must stick).
type revokedWatch struct {
	bases []string
	uri   string

	mu     sync.Mutex
	toks   []*watchedToken
	checks int
	stale  []string
	other  map[int]int // answers other than 200 and 401
	wg     sync.WaitGroup
	stop   chan struct{}
}

type watchedToken struct {
	name     string
	tok      string
	deadline time.Time
	refused  map[string]time.Time // base -> when it first answered 401
}

func startRevokedWatch(bases []string, uri string) *revokedWatch {
	w := &revokedWatch{bases: bases, uri: uri, other: map[int]int{}, stop: make(chan struct{})}
	w.wg.Go(w.run)
	return w
}

// add watches tok from now on: every request sent after deadline must be
// refused.
func (w *revokedWatch) add(name, tok string, deadline time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.toks = append(w.toks, &watchedToken{name: name, tok: tok, deadline: deadline, refused: map[string]time.Time{}})
}

// refusedAt records that base refused tok when the test's own polling saw
// it (received at), which the watch holds it to as well.
func (w *revokedWatch) refusedAt(tok, base string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range w.toks {
		if x.tok == tok {
			if r, ok := x.refused[base]; !ok || at.Before(r) {
				x.refused[base] = at
			}
		}
	}
}

func (w *revokedWatch) run() {
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		w.mu.Lock()
		var x *watchedToken
		if len(w.toks) > 0 {
			x = w.toks[i%len(w.toks)]
		}
		w.mu.Unlock()
		time.Sleep(watchPause)
		if x == nil {
			continue
		}
		for _, base := range w.bases {
			sent := time.Now()
			st, err := decide(base, x.tok, w.uri)
			got := time.Now()
			w.mu.Lock()
			w.checks++
			switch {
			case err != nil:
				w.other[0]++
			case st == http.StatusOK:
				refused, ok := x.refused[base]
				if sent.After(x.deadline) || ok && sent.After(refused) {
					w.stale = append(w.stale, fmt.Sprintf("%s allowed on %s, sent %s (deadline %s, first refused %s)",
						x.name, base, sent.Format("15:04:05.000"), x.deadline.Format("15:04:05.000"), fmtTime(refused)))
				}
			case st == http.StatusUnauthorized:
				if r, ok := x.refused[base]; !ok || got.Before(r) {
					x.refused[base] = got
				}
			default:
				w.other[st]++
			}
			w.mu.Unlock()
		}
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format("15:04:05.000")
}

// finish stops the watch and returns the stale allows it saw.
func (w *revokedWatch) finish() (checks int, stale []string, other map[int]int) {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checks, w.stale, w.other
}

// aclWatch asks the servers, over and over, about one token and one path
// whose ACL the test flips, and records an old answer: a request sent once
// the test has seen the new answer (settled) and answered before the next
// change began must get the new answer.
type aclWatch struct {
	bases []string
	tok   string

	mu      sync.Mutex
	gen     int  // counts changes begun
	want    int  // the answer once settled
	settled bool // the test saw want after the change gen
	checks  int
	stale   []string
	other   map[int]int
	wg      sync.WaitGroup
	stop    chan struct{}
}

func startACLWatch(bases []string, tok string, want int) *aclWatch {
	w := &aclWatch{bases: bases, tok: tok, want: want, settled: true, other: map[int]int{}, stop: make(chan struct{})}
	w.wg.Go(w.run)
	return w
}

// changing says a change is about to be made: answers are not checked
// until settle.
func (w *aclWatch) changing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen++
	w.settled = false
}

// settle says the test saw want after the change: from now on it is the
// only right answer.
func (w *aclWatch) settle(want int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.want, w.settled = want, true
}

func (w *aclWatch) run() {
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		time.Sleep(watchPause)
		for _, base := range w.bases {
			w.mu.Lock()
			gen, want, settled := w.gen, w.want, w.settled
			w.mu.Unlock()
			sent := time.Now()
			st, err := decide(base, w.tok, aclURI)
			w.mu.Lock()
			w.checks++
			switch {
			case err != nil:
				w.other[0]++
			case st != http.StatusOK && st != http.StatusForbidden:
				w.other[st]++
			case settled && w.gen == gen && st != want:
				w.stale = append(w.stale, fmt.Sprintf("change %d: %s answered %d, sent %s after the new answer %d was seen", gen, base, st, sent.Format("15:04:05.000"), want))
			}
			w.mu.Unlock()
		}
	}
}

func (w *aclWatch) finish() (checks int, stale []string, other map[int]int) {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checks, w.stale, w.other
}

// metric sums the samples of a Prometheus counter in base's /metrics whose
// line starts with name (labels included, if given).
func metric(base, name string) (float64, error) {
	resp, err := httpClient.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, err
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, nil // a counter vector with no sample yet
	}
	return sum, nil
}

// changeProbe makes and measures changes on s1 that s2 must honour: the
// revocation of a fresh token s2 has cached, and a deny statement on the
// probe client added or removed.
type changeProbe struct {
	f       *redisFleet
	revoked *revokedWatch
	acl     *aclWatch
	aclID   string
	aclTok  string
	denied  bool // the probe client's deny is in place
	n       int
}

func newChangeProbe(t *testing.T, f *redisFleet, revoked *revokedWatch, aclID string) *changeProbe {
	t.Helper()
	secret := f.createClient(t, aclID)
	p := &changeProbe{f: f, revoked: revoked, aclID: aclID, aclTok: mustIssue(t, f.s1.URL, aclID, secret)}
	for _, base := range []string{f.s1.URL, f.s2.URL} {
		if st, err := decide(base, p.aclTok, aclURI); err != nil || st != http.StatusOK {
			t.Fatalf("the ACL probe's token on %s: %d %v", base, st, err)
		}
	}
	return p
}

// watchACL starts the watch of the probe's path on bases.
func (p *changeProbe) watchACL(bases []string) {
	p.acl = startACLWatch(bases, p.aclTok, http.StatusOK)
}

// revocation issues a token on s1, has s2 use (and cache) it, revokes it on
// s1, and returns how long s2 took to refuse it, from the revocation's
// response, polling until bound (then it fails). s1 must refuse it at once.
func (p *changeProbe) revocation(t *testing.T, bound time.Duration) (time.Duration, error) {
	t.Helper()
	p.n++
	name := fmt.Sprintf("token %d", p.n)
	f := p.f
	tok, err := issue(f.s1.URL, "premium-reader", e2eClientSecret)
	if err != nil {
		return 0, err
	}
	for range 2 {
		if st, err := decide(f.s2.URL, tok, loadURI); err != nil || st != http.StatusOK {
			return 0, fmt.Errorf("%s before its revocation: %d %v", name, st, err)
		}
	}
	if st, err := revoke(f.s1.URL, tok, "premium-reader", e2eClientSecret); err != nil || st != http.StatusOK {
		return 0, fmt.Errorf("revoke %s: %d %v", name, st, err)
	}
	t0 := time.Now()
	p.revoked.add(name, tok, t0.Add(bound))
	// The writer reads its own write.
	if st, err := decide(f.s1.URL, tok, loadURI); err != nil || st != http.StatusUnauthorized {
		return 0, fmt.Errorf("%s on s1 right after s1 revoked it: %d %v", name, st, err)
	}
	at, before, err := pollUntil(f.s2.URL, tok, loadURI, http.StatusUnauthorized, t0.Add(bound+5*time.Second))
	lat := at.Sub(t0)
	if err == nil {
		p.revoked.refusedAt(tok, f.s2.URL, at)
	}
	if err != nil || lat > bound {
		return lat, fmt.Errorf("%s: s2 refused it %v after the revocation (bound %v; answers before: %v; err %v)", name, lat, bound, before, err)
	}
	return lat, nil
}

// aclChange adds the probe's deny (or removes it) on s1 and returns how
// long s2 took to give the new answer, from the change's response.
func (p *changeProbe) aclChange(t *testing.T, bound time.Duration) (time.Duration, error) {
	t.Helper()
	deny := !p.denied
	want := http.StatusForbidden
	if !deny {
		want = http.StatusOK
	}
	p.acl.changing()
	if _, err := p.f.setDeny(p.aclID, deny); err != nil {
		return 0, err
	}
	t0 := time.Now()
	p.denied = deny
	if st, err := decide(p.f.s1.URL, p.aclTok, aclURI); err != nil || st != want {
		return 0, fmt.Errorf("s1 right after its own ACL change (deny %v): %d %v, want %d", deny, st, err, want)
	}
	at, before, err := pollUntil(p.f.s2.URL, p.aclTok, aclURI, want, t0.Add(bound+5*time.Second))
	lat := at.Sub(t0)
	if err != nil || lat > bound {
		return lat, fmt.Errorf("ACL change (deny %v): s2 answered %d %v after it (bound %v; answers before: %v; err %v)", deny, want, lat, bound, before, err)
	}
	// The answer must stick: the watch checks from here on, and so do a
	// few more polls at once.
	p.acl.settle(want)
	for range 3 {
		if st, err := decide(p.f.s2.URL, p.aclTok, aclURI); err != nil || st != want {
			return lat, fmt.Errorf("ACL change (deny %v): s2 went back to %d %v after answering %d", deny, st, err, want)
		}
	}
	return lat, nil
}

// watchErrors is what the watchers found, joined (the first ten).
func watchErrors(revStale, aclStale []string) error {
	var errs []error
	for _, s := range revStale {
		errs = append(errs, errors.New("stale allow: "+s))
	}
	for _, s := range aclStale {
		errs = append(errs, errors.New("stale ACL answer: "+s))
	}
	if len(errs) > 10 {
		errs = append(errs[:10], fmt.Errorf("... and %d more", len(errs)-10))
	}
	return errors.Join(errs...)
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// relay is a TCP relay to a Redis that the test can cut, as a network
// partition between one server and Redis would: the connections it carries
// are closed and new ones refused until it is mended.
type relay struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		r.setCut(true)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.carry(c)
		}
	}()
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) carry(c net.Conn) {
	r.mu.Lock()
	cut := r.cut
	r.mu.Unlock()
	if cut {
		c.Close()
		return
	}
	u, err := net.DialTimeout("tcp", r.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	if r.cut {
		r.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	r.conns = append(r.conns, c, u)
	r.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	go func() { _, _ = io.Copy(c, u); c.Close() }()
}

// setCut cuts the relay (closing what it carries) or mends it.
func (r *relay) setCut(cut bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = cut
	if cut {
		for _, c := range r.conns {
			c.Close()
		}
		r.conns = nil
	}
}
