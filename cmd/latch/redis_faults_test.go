package main

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"latch.dev/latch/internal/e2etest"
	"latch.dev/latch/internal/store/dynamodb"
)

// The fault tests run a fleet (two `latch serve` on one DynamoDB table and
// one Redis, --cache-ttl 2s) under load and break one of its parts: Redis
// killed and restarted empty, Redis frozen, DynamoDB killed and restarted.
// What they hold the fleet to is the README's "A shared cache on Redis":
// serving goes on while Redis is down or slow (reads go to the store), a
// change is honoured by every server within the in-process TTL while Redis
// is down and within 1 s once it is back, with no restart; with the store
// down, what needs the store is refused, never allowed; no acknowledged
// write is lost.

const (
	faultTTL = 2 * time.Second
	// faultMargin is added to the in-process TTL for what Redis cannot
	// carry: the poll's own round trip on a busy 2-core machine.
	faultMargin = time.Second
	// reconnectAllowance is the time servers get to find Redis again.
	reconnectAllowance = 3 * time.Second
	// unseenPerServer is the number of tokens never seen that probe each
	// server while the store is down.
	unseenPerServer = 16
)

// faultRig is a fleet with its load, its watchers and its probe.
type faultRig struct {
	f     *redisFleet
	probe *changeProbe
	load  *load
	lats  map[string][]time.Duration // phase -> latencies of changes
	order []string
}

// startFaultRig starts the fleet, the watchers and the load (pause between
// each goroutine's requests).
func startFaultRig(t *testing.T, endpoint string, pause time.Duration) *faultRig {
	t.Helper()
	f := startRedisFleet(t, endpoint, faultTTL.String(), "info")
	r := &faultRig{f: f, probe: newChangeProbe(t, f, nil, "acl-probe"), lats: map[string][]time.Duration{}}
	loadTok := mustIssue(t, f.s1.URL, "premium-reader", e2eClientSecret)
	bases := []string{f.s1.URL, f.s2.URL}
	for _, b := range bases {
		if st, err := decide(b, loadTok, loadURI); err != nil || st != http.StatusOK {
			t.Fatalf("the load's token on %s: %d %v", b, st, err)
		}
	}
	r.probe.revoked = startRevokedWatch(bases, loadURI)
	r.probe.watchACL(bases)
	// Two goroutines on s2 (the reader), one on s1 (the writer).
	r.load = startLoad([]string{f.s2.URL, f.s2.URL, f.s1.URL}, 1, loadTok, loadURI, pause)
	return r
}

// phase starts a phase of the load's counts and of the changes' latencies.
func (r *faultRig) phase(p string) {
	r.load.setPhase(p)
	r.order = append(r.order, p)
}

// changes makes n changes on s1 (revocations and ACL changes, alternating),
// each of which s2 must honour within bound.
func (r *faultRig) changes(t *testing.T, n int, bound time.Duration) {
	t.Helper()
	p := r.order[len(r.order)-1]
	for i := range n {
		var lat time.Duration
		var err error
		if i%2 == 0 {
			lat, err = r.probe.revocation(t, bound)
		} else {
			lat, err = r.probe.aclChange(t, bound)
		}
		r.lats[p] = append(r.lats[p], lat)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// finish stops the load and the watchers and reports; any stale answer,
// or any answer but 200 to the load's token, fails the test, but in the
// phases listed in failClosed, where the load's token may also get an
// error status (5xx: the proxy refuses), never 401 or 403.
func (r *faultRig) finish(t *testing.T, failClosed ...string) {
	t.Helper()
	revChecks, revStale, revOther := r.probe.revoked.finish()
	aclChecks, aclStale, aclOther := r.probe.acl.finish()
	counts := r.load.snapshot()
	bad, report := r.load.finish()
	for _, p := range r.order {
		if ls := r.lats[p]; len(ls) > 0 {
			mx, p50, _ := latencyStats(ls)
			t.Logf("changes on s1 honoured by s2, %s (%d): max %v, p50 %v", p, len(ls), mx.Round(time.Microsecond), p50.Round(time.Microsecond))
		}
	}
	t.Logf("watchers: %d checks of revoked tokens (answers other than 200 and 401: %v), %d of the ACL path (other than 200 and 403: %v)", revChecks, revOther, aclChecks, aclOther)
	t.Logf("load (the token that stays allowed; 2 goroutines on s2, 1 on s1):\n%s", report)
	if err := watchErrors(revStale, aclStale); err != nil {
		t.Error(err)
	}
	for p, n := range bad {
		if !slices.Contains(failClosed, p) {
			t.Errorf("the load's token got %d answers other than 200 in phase %q", n, p)
			continue
		}
		for k, n := range counts[p] {
			if k != "200" && !strings.HasPrefix(k, "5") {
				t.Errorf("the load's token got %d answers %s in phase %q: an error must be 5xx", n, k, p)
			}
		}
	}
}

// sharedErrors is base's latch_cache_shared_errors_total, all ops.
func sharedErrors(t *testing.T, base string) float64 {
	t.Helper()
	v, err := metric(base, "latch_cache_shared_errors_total")
	if err != nil {
		t.Fatalf("metrics of %s: %v", base, err)
	}
	return v
}

func sharedHits(t *testing.T, base string) float64 {
	t.Helper()
	v, err := metric(base, "latch_cache_shared_hits_total")
	if err != nil {
		t.Fatalf("metrics of %s: %v", base, err)
	}
	return v
}

// awaitReset waits (up to reconnectAllowance after since) until s1 logs
// that it reset the shared cache after its lost invalidations, and then
// until the allowance is over (s2's subscription, whose backoff is at most
// 1 s, is back by then), and returns when s1 reset, from since.
func (r *faultRig) awaitReset(t *testing.T, since time.Time, before int) time.Duration {
	t.Helper()
	const msg = "shared cache reset after a lost invalidation"
	var resetAfter time.Duration
	if !waitFor(reconnectAllowance, func() bool {
		if strings.Count(r.f.s1.Stderr(), msg) > before {
			resetAfter = time.Since(since)
			return true
		}
		return false
	}) {
		t.Fatalf("s1 did not reset the shared cache within %v of Redis answering again", reconnectAllowance)
	}
	time.Sleep(time.Until(since.Add(reconnectAllowance)))
	return resetAfter
}

// TestDynamoDBRedisFaultsRedisKilled kills Redis under load: the servers
// read through to DynamoDB, the allowed token stays allowed (no error at
// all), changes made on s1 meanwhile (a revocation, an ACL change) reach s2
// within the in-process TTL; then Redis comes back empty on the same port
// and, once the servers have found it (3 s at most), a change is honoured
// within 1 s again. A revoked token is never allowed past its bound, over
// the whole test.
func TestDynamoDBRedisFaultsRedisKilled(t *testing.T) {
	endpoint := dynamoDBEndpoint(t)
	r := startFaultRig(t, endpoint, 0)
	f := r.f
	r.phase("redis up")
	r.changes(t, 4, time.Second)

	r.phase("redis down")
	resets := strings.Count(f.s1.Stderr(), "shared cache reset after a lost invalidation")
	errs0 := sharedErrors(t, f.s2.URL)
	f.redis.Stop()
	downAt := time.Now()
	r.changes(t, 4, faultTTL+faultMargin)
	time.Sleep(time.Until(downAt.Add(4 * time.Second))) // past the TTL: s2 reads the store
	if errs := sharedErrors(t, f.s2.URL); errs <= errs0 {
		t.Errorf("s2 counted no shared cache error while Redis was down (%v, then %v): did it use Redis?", errs0, errs)
	}

	r.phase("redis restarted")
	f.redis.Restart()
	back := time.Now()
	resetAfter := r.awaitReset(t, back, resets)
	t.Logf("Redis down for %v; s1 reset the shared cache %v after Redis came back", back.Sub(downAt).Round(time.Millisecond), resetAfter.Round(time.Millisecond))

	r.phase("reconnected")
	errs1, hits1 := sharedErrors(t, f.s2.URL), sharedHits(t, f.s2.URL)
	r.changes(t, 10, time.Second)
	time.Sleep(faultTTL) // the load reads through the cache again
	errs2, hits2 := sharedErrors(t, f.s2.URL), sharedHits(t, f.s2.URL)
	if hits2 <= hits1 {
		t.Errorf("s2 read nothing from Redis after it came back (hits %v, then %v)", hits1, hits2)
	}
	if errs2 != errs1 {
		t.Errorf("s2 counted %v shared cache errors after it reconnected", errs2-errs1)
	}
	r.finish(t)
}

// TestDynamoDBRedisFaultsRedisPaused freezes Redis for 2 s (SIGSTOP: it
// accepts connections and answers nothing): every Redis call times out at
// 50 ms and falls back to the store, the allowed token stays allowed, a
// revocation and an ACL change made meanwhile reach s2 within the TTL, no
// stale answer after, and service is normal afterwards (changes within 1 s).
func TestDynamoDBRedisFaultsRedisPaused(t *testing.T) {
	endpoint := dynamoDBEndpoint(t)
	r := startFaultRig(t, endpoint, 0)
	f := r.f
	r.phase("redis up")
	r.changes(t, 4, time.Second)

	r.phase("redis paused")
	resets := strings.Count(f.s1.Stderr(), "shared cache reset after a lost invalidation")
	const pause = 2 * time.Second
	f.redis.Pause(pause)
	pausedAt := time.Now()
	r.changes(t, 2, faultTTL+faultMargin)
	time.Sleep(time.Until(pausedAt.Add(pause)))

	r.phase("redis resumed")
	resetAfter := r.awaitReset(t, pausedAt.Add(pause), resets)
	t.Logf("s1 reset the shared cache %v after Redis resumed", resetAfter.Round(time.Millisecond))

	r.phase("after")
	r.changes(t, 10, time.Second)
	time.Sleep(faultTTL)
	r.finish(t)
}

// ddbLocal is a DynamoDB Local of the test's own, on a port and a database
// directory of its own, persistent (-dbPath) so that a restart keeps what
// was written.
type ddbLocal struct {
	t    *testing.T
	dir  string // DynamoDBLocal.jar and DynamoDBLocal_lib
	db   string
	port int
	log  *os.File

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// ddbJarDir is where DynamoDBLocal.jar is: $LATCH_TEST_DYNAMODB_JAR_DIR, or
// $DDB, which run-local.sh exports into the namespace it runs the tests in.
func ddbJarDir(t *testing.T) string {
	t.Helper()
	for _, v := range []string{"LATCH_TEST_DYNAMODB_JAR_DIR", "DDB"} {
		dir := os.Getenv(v)
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "DynamoDBLocal.jar")); err != nil {
			t.Fatalf("$%s=%s holds no DynamoDBLocal.jar: %v", v, dir, err)
		}
		return dir
	}
	t.Skip("needs a DynamoDB Local of its own to stop: set LATCH_TEST_DYNAMODB_JAR_DIR to the directory of DynamoDBLocal.jar (run-local.sh exports it as DDB)")
	return ""
}

func startDDBLocal(t *testing.T, dir string) *ddbLocal {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java is needed for DynamoDB Local")
	}
	d := &ddbLocal{t: t, dir: dir, db: t.TempDir(), port: e2etest.FreePort(t)}
	var err error
	if d.log, err = os.Create(filepath.Join(d.db, "ddb.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stop()
		d.log.Close()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(d.db, "ddb.log")); err == nil {
				t.Logf("DynamoDB Local's log (tail):\n%s", tail(string(b), 30))
			}
		}
	})
	d.start()
	return d
}

func (d *ddbLocal) endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(d.port) }

// start runs DynamoDB Local and waits until it listens.
func (d *ddbLocal) start() {
	d.t.Helper()
	cmd := exec.Command("java", "-Djava.library.path="+filepath.Join(d.dir, "DynamoDBLocal_lib"), "-jar", filepath.Join(d.dir, "DynamoDBLocal.jar"),
		"-sharedDb", "-dbPath", d.db, "-disableTelemetry", "-port", strconv.Itoa(d.port))
	cmd.Dir = d.db // its metadata file goes to the working directory
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("start DynamoDB Local: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			d.t.Fatalf("DynamoDB Local exited on port %d (see its log)", d.port)
		default:
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(d.port), time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("DynamoDB Local did not listen on port %d within 60 s", d.port)
}

// stop kills DynamoDB Local (SIGKILL: no chance to flush anything).
func (d *ddbLocal) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	d.cmd = nil
}

// TestDynamoDBRedisFaultsStoreStopped kills DynamoDB Local under load (with
// Redis up): what needs the store fails closed (a token revoked before is
// never allowed, a token no server has seen is never allowed, tokens are
// not issued), every write acknowledged before (clients created through
// the admin API, revocations) is in the table after DynamoDB Local
// restarts on the same port, and service resumes without restarting the
// servers.
func TestDynamoDBRedisFaultsStoreStopped(t *testing.T) {
	dynamoDBEndpoint(t) // runs where the other DynamoDB tests run
	ddb := startDDBLocal(t, ddbJarDir(t))
	r := startFaultRig(t, ddb.endpoint(), time.Millisecond)
	f := r.f
	r.phase("store up")
	r.changes(t, 2, time.Second)

	// Tokens revoked before the stop.
	var revokedBefore []string
	for i := range 3 {
		tok := mustIssue(t, f.s1.URL, "premium-reader", e2eClientSecret)
		if st, err := decide(f.s2.URL, tok, loadURI); err != nil || st != http.StatusOK {
			t.Fatalf("token %d: %d %v", i, st, err)
		}
		if st, err := revoke(f.s1.URL, tok, "premium-reader", e2eClientSecret); err != nil || st != http.StatusOK {
			t.Fatalf("revoke: %d %v", st, err)
		}
		r.probe.revoked.add(fmt.Sprintf("revoked before the stop %d", i), tok, time.Now().Add(time.Second))
		revokedBefore = append(revokedBefore, tok)
	}
	// Tokens no server has seen (their revocation state is in no cache):
	// as many as it takes for the store's failures to come fast (the SDK's
	// retry quota runs out), so that the probes get answers while the store
	// is down rather than wait through it.
	var unseen []string
	for range 2 * unseenPerServer {
		unseen = append(unseen, mustIssue(t, f.s1.URL, "premium-reader", e2eClientSecret))
	}
	// A token whose signature is another's.
	forged := unseen[0][:strings.LastIndexByte(unseen[0], '.')] + unseen[1][strings.LastIndexByte(unseen[1], '.'):]
	// Tokens to revoke while the store goes down.
	var pool []string
	for range 300 {
		pool = append(pool, mustIssue(t, f.s1.URL, "premium-reader", e2eClientSecret))
	}

	// Writers: clients created and tokens revoked on s1, back to back,
	// through the stop; what was acknowledged is recorded.
	var mu sync.Mutex
	var ackedClients, ackedRevocations []string
	failedWrites := map[string]int{}
	stopWriters := make(chan struct{})
	var writers sync.WaitGroup
	writers.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopWriters:
				return
			default:
			}
			id := fmt.Sprintf("w-%d", i)
			st, _, err := adminDo(f.s1.URL, f.adminToken, http.MethodPost, "/admin/v1/orgs/payroll/clients",
				fmt.Sprintf(`{"id":%q,"grants":["client_credentials"],"scopes":["premium/read"]}`, id))
			mu.Lock()
			ok := err == nil && st == http.StatusCreated
			if ok {
				ackedClients = append(ackedClients, id)
			} else {
				failedWrites[fmt.Sprintf("create client: %d %v", st, err)]++
			}
			mu.Unlock()
			if !ok {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	writers.Go(func() {
		for i, tok := range pool {
			select {
			case <-stopWriters:
				return
			default:
			}
			st, err := revoke(f.s1.URL, tok, "premium-reader", e2eClientSecret)
			mu.Lock()
			ok := err == nil && st == http.StatusOK
			if ok {
				ackedRevocations = append(ackedRevocations, tok)
				r.probe.revoked.add(fmt.Sprintf("pool token %d", i), tok, time.Now().Add(time.Second))
			} else {
				failedWrites[fmt.Sprintf("revoke: %d %v", st, err)]++
			}
			mu.Unlock()
			if !ok {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	time.Sleep(3 * time.Second)

	r.phase("store down")
	ddb.stop()
	downAt := time.Now()
	mu.Lock()
	clientsAtStop, revocationsAtStop := len(ackedClients), len(ackedRevocations)
	mu.Unlock()
	// Fail closed: probes ask both servers, each probe in a goroutine of
	// its own, about the tokens revoked before, the tokens no server has
	// seen and a forged one, and s1's token endpoint for a token: no allow
	// and no token while the store is down (for a revoked or forged token:
	// ever). A request that needs the store waits through the SDK's
	// retries before its error, so the store stays down for 5 s (past the
	// TTL: s2's in-process entries are gone) and then until each server has
	// answered some of the requests that need it (or 45 s have passed).
	var restarting atomic.Pointer[time.Time] // when DynamoDB Local was started again
	var outageMu sync.Mutex
	outage := map[string]map[string]int{}
	slowest := map[string]time.Duration{}
	allowed := map[string]int{} // wrong allows
	firstAllowed := map[string]string{}
	var probes sync.WaitGroup
	stopProbes := make(chan struct{})
	probe := func(what string, mustRefuse bool, ask func() (int, error)) {
		probes.Go(func() {
			for {
				select {
				case <-stopProbes:
					return
				default:
				}
				sent := time.Now()
				st, err := ask()
				d := time.Since(sent)
				// An answer after the store came back may be an allow
				// (the SDK retried), but for a revoked token.
				wrong := err == nil && st == http.StatusOK && (mustRefuse || restarting.Load() == nil)
				key := strconv.Itoa(st)
				if err != nil {
					key = "error"
				}
				outageMu.Lock()
				if wrong {
					if allowed[what] == 0 {
						firstAllowed[what] = fmt.Sprintf("sent %s, answered after %v", sent.Format("15:04:05.000"), d)
					}
					allowed[what]++
				}
				if outage[what] == nil {
					outage[what] = map[string]int{}
				}
				outage[what][key]++
				slowest[what] = max(slowest[what], d)
				outageMu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	for i, base := range []string{f.s1.URL, f.s2.URL} {
		name := fmt.Sprintf("s%d", i+1)
		for _, tok := range revokedBefore {
			probe(name+", tokens revoked before", true, func() (int, error) { return decide(base, tok, loadURI) })
		}
		for _, tok := range unseen[i*unseenPerServer : (i+1)*unseenPerServer] {
			probe(name+", tokens never seen", false, func() (int, error) { return decide(base, tok, loadURI) })
		}
		probe(name+", forged token", true, func() (int, error) { return decide(base, forged, loadURI) })
	}
	probe("s1, token endpoint", false, func() (int, error) {
		st, _, err := postForm(f.s1.URL+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "premium-reader", e2eClientSecret)
		return st, err
	})
	time.Sleep(time.Until(downAt.Add(5 * time.Second)))
	answered := func() bool {
		outageMu.Lock()
		defer outageMu.Unlock()
		for _, what := range []string{"s1, tokens never seen", "s2, tokens never seen", "s1, forged token", "s2, forged token"} {
			n := 0
			for _, c := range outage[what] {
				n += c
			}
			if n == 0 {
				return false
			}
		}
		return true
	}
	if !waitFor(40*time.Second, answered) {
		t.Errorf("with the store down for %v, some requests that need it got no answer yet (neither an error nor a refusal): %v",
			time.Since(downAt).Round(time.Second), outage)
	}
	close(stopProbes)

	r.phase("store restarted")
	now := time.Now()
	restarting.Store(&now)
	ddb.start()
	back := time.Now()
	// Service resumes by itself: s2 decides about the token it never saw
	// (it needs the store), s1 issues tokens.
	var resumed time.Duration
	if !waitFor(60*time.Second, func() bool {
		st, err := decide(f.s2.URL, unseen[len(unseen)-1], loadURI)
		if err != nil || st != http.StatusOK {
			return false
		}
		if _, err := issue(f.s1.URL, "premium-reader", e2eClientSecret); err != nil {
			return false
		}
		resumed = time.Since(back)
		return true
	}) {
		t.Fatal("service did not resume within 60 s of DynamoDB Local's restart")
	}
	t.Logf("store down for %v; service resumed %v after its restart", back.Sub(downAt).Round(time.Millisecond), resumed.Round(time.Millisecond))
	close(stopWriters)
	writers.Wait()
	probes.Wait()
	for _, what := range slices.Sorted(maps.Keys(outage)) {
		t.Logf("probes sent while the store was down: %s: %v, the slowest answered in %v", what, outage[what], slowest[what].Round(time.Millisecond))
		if allowed[what] > 0 {
			t.Errorf("%s: %d allows (200) with the store down, the first %s", what, allowed[what], firstAllowed[what])
		}
	}

	r.phase("resumed")
	r.changes(t, 4, time.Second)
	time.Sleep(time.Second)

	// Every acknowledged write is in the table: read it there, past every
	// cache.
	env := map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "dummy", "AWS_SECRET_ACCESS_KEY": "dummy"}
	store, err := dynamodb.OpenEnv("dynamodb://"+f.table+"?endpoint="+ddb.endpoint(), func(k string) string { return env[k] }, dynamodb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := t.Context()
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ackedClients {
		if _, err := store.GetClient(ctx, id); err != nil {
			t.Errorf("client %s, whose creation was acknowledged, is not in the table: %v", id, err)
		}
	}
	for _, tok := range append(ackedRevocations, revokedBefore...) {
		revoked, err := store.JTIRevoked(ctx, jtiOf(t, tok))
		if err != nil || !revoked {
			t.Errorf("a revocation that was acknowledged is not in the table: %v %v", revoked, err)
		}
	}
	if clientsAtStop == 0 || revocationsAtStop == 0 {
		t.Errorf("no write was acknowledged before the stop (%d clients, %d revocations): the test proves nothing", clientsAtStop, revocationsAtStop)
	}
	t.Logf("acknowledged writes: %d clients and %d revocations (%d and %d before the stop), all in the table after the restart; failed writes: %v",
		len(ackedClients), len(ackedRevocations), clientsAtStop, revocationsAtStop, failedWrites)
	// The load's token needs the store only when an entry has expired
	// everywhere; while the store was down it was answered from the caches
	// or refused with an error, which the log shows.
	r.finish(t, "store down", "store restarted")
}

// TestDynamoDBRedisFaultsWriterPartitioned: s1 cannot reach Redis (a cut
// relay) while s2 can. s1 revokes a token that s2 has cached, in process and
// in Redis; s1 cannot invalidate Redis's entry. Revocation states live in
// Redis only as long as in process (the TTL), so s2 refuses the token within
// twice the TTL: its own entry expires, then Redis's, and the store answers.
// (An ACL change made by a cut-off writer is bounded by Redis's entry
// lifetime instead, 60 s: the README says so.)
func TestDynamoDBRedisFaultsWriterPartitioned(t *testing.T) {
	endpoint := dynamoDBEndpoint(t)
	var rl *relay
	f := startFleet(t, endpoint, faultTTL.String(), "info", func(addr string) string {
		rl = startRelay(t, addr)
		return rl.addr()
	})
	tok := mustIssue(t, f.s1.URL, "premium-reader", e2eClientSecret)
	for range 2 {
		if st, err := decide(f.s2.URL, tok, loadURI); err != nil || st != http.StatusOK {
			t.Fatalf("the token on s2 before its revocation: %d %v", st, err)
		}
	}
	rl.setCut(true)
	if st, err := revoke(f.s1.URL, tok, "premium-reader", e2eClientSecret); err != nil || st != http.StatusOK {
		t.Fatalf("revoke on s1: %d %v", st, err)
	}
	t0 := time.Now()
	if st, err := decide(f.s1.URL, tok, loadURI); err != nil || st != http.StatusUnauthorized {
		t.Fatalf("s1 right after its own revocation: %d %v", st, err)
	}
	// Asked for 10 s: past twice the TTL and the margin, every answer must
	// be a refusal.
	bound := 2*faultTTL + faultMargin
	var allows, late int
	var lastAllow time.Duration
	for time.Since(t0) < 10*time.Second {
		sent := time.Since(t0)
		st, err := decide(f.s2.URL, tok, loadURI)
		if err == nil && st == http.StatusOK {
			allows++
			lastAllow = sent
			if sent > bound {
				late++
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("s2 allowed the token %d times after its revocation on s1, the last one sent %v after it", allows, lastAllow.Round(time.Millisecond))
	if late > 0 {
		t.Errorf("s2 allowed the token revoked on s1 %d times past %v (twice the TTL + margin), the last one %v after the revocation", late, bound, lastAllow.Round(time.Millisecond))
	}
	rl.setCut(false)
	if !waitFor(reconnectAllowance+faultTTL, func() bool {
		st, err := decide(f.s2.URL, tok, loadURI)
		return err == nil && st == http.StatusUnauthorized
	}) {
		t.Errorf("s2 still allows the token %v after s1 reached Redis again", reconnectAllowance+faultTTL)
	}
}
