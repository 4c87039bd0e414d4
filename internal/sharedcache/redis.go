package sharedcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"latch.dev/latch"
	"latch.dev/latch/internal/store/feed"
)

const (
	defaultRedisTimeout = 50 * time.Millisecond

	keyPrefix      = "latch:"
	genKey         = "latch:gen"     // the generation, an integer INCR'd by Reset
	changesChannel = "latch:changes" // messages: the JSON of []latch.Change

	// healthEvery: a subscription silent for this long is pinged, and one
	// that stays silent as long again is dropped and dialled anew (go-redis
	// sees a dead peer but not a hung one).
	healthEvery = time.Second
	// A lost subscription is dialled again after minBackoff, doubling up to
	// maxBackoff: a Redis that comes back is found within a second.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// resetMessage is what Reset publishes: every subscriber reloads the
// generation and passes the reset on.
const resetMessage = `[{"kind":"reset"}]`

// Every script gets KEYS[1] = genKey, KEYS[2] = the entry's key in the
// generation this process believes current, ARGV[1] = that generation; it
// answers {0, generation} instead when the generation has moved on (a
// Reset whose message this process has not seen yet, a Redis restarted
// empty), and the call is made again in the right one. So no process
// reads or fills a dead generation, whether or not it subscribes.
//
// An entry is a hash {v: version, d: value} and a tombstone {v: version,
// t: "1"}. Versions are below 2^53, so Lua's numbers hold them exactly.
const checkGeneration = `
local gen = redis.call('GET', KEYS[1]) or '0'
if gen ~= ARGV[1] then return {0, gen} end
`

// getScript answers {1} for a miss, {2, version, value} for an entry.
var getScript = redis.NewScript(checkGeneration + `
local cur = redis.call('HMGET', KEYS[2], 'v', 'd', 't')
if not cur[1] or cur[3] == '1' then return {1} end
return {2, cur[1], cur[2]}
`)

// fillScript (ARGV[2] version, ARGV[3] value, ARGV[4] entry TTL in ms)
// answers {1, 1} when it stored, {1, 0} when the rules refused. An entry
// that replaces a tombstone keeps the tombstone's expiry if that is later,
// so that it goes on refusing the fills the tombstone refused.
var fillScript = redis.NewScript(checkGeneration + `
local cur = redis.call('HMGET', KEYS[2], 'v', 't')
local v = tonumber(ARGV[2])
local ttl = tonumber(ARGV[4])
if cur[1] then
  local have = tonumber(cur[1])
  if cur[2] == '1' then
    if have > v then return {1, 0} end
    local left = redis.call('PTTL', KEYS[2])
    if left > ttl then ttl = left end
  elseif have >= v then
    return {1, 0}
  end
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ttl)
return {1, 1}
`)

// invalidateScript (ARGV[2] version, ARGV[3] tombstone TTL in ms) answers
// {1}.
var invalidateScript = redis.NewScript(checkGeneration + `
local have = redis.call('HGET', KEYS[2], 'v')
if have and tonumber(have) >= tonumber(ARGV[2]) then return {1} end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'v', ARGV[2], 't', '1')
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1}
`)

// resetScript (KEYS[1] genKey, ARGV[1] channel, ARGV[2] message) starts a
// generation and says so in the same step, and answers the generation.
var resetScript = redis.NewScript(`
local gen = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return gen
`)

// Redis is the shared cache of a fleet: every replica (server or Lambda
// function) holds one on the same Redis. Get, Fill, Invalidate, Reset and
// Publish are one round trip each (one more after Redis lost its scripts,
// or for a Reset this process had not heard of), bounded together by
// Options.Timeout: a Redis that is down, slow or hung makes them fail
// within it, never answer from anything but Redis.
type Redis struct {
	client   *redis.Client
	timeout  time.Duration
	entryTTL string // milliseconds, as the scripts take them
	tombTTL  string
	gen      atomic.Pointer[string] // the generation this process believes current

	done   context.Context // cancelled by Close: ends the subscribers
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	subs   sync.WaitGroup
}

var _ Cache = (*Redis)(nil)

// NewRedis returns a cache on the Redis at rawURL,
// redis://[user:password@]host[:port][/db] or rediss://… for TLS (no query:
// the timeouts come from opts; Redis ignores opts.Clock and MaxEntries, as
// Redis expires and bounds keys itself). It reads the current generation; a
// Redis that does not answer yet is no error (a shared cache that is down
// must not keep a server from starting: calls fail until it answers), but
// one that refuses the credentials or the database is. No error shows the
// password.
func NewRedis(ctx context.Context, rawURL string, opts Options) (*Redis, error) {
	ro, redacted, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults(defaultRedisTimeout)
	ro.DialTimeout = opts.Timeout
	ro.ReadTimeout = opts.Timeout
	ro.WriteTimeout = opts.Timeout
	ro.PoolTimeout = opts.Timeout
	ro.ContextTimeoutEnabled = true // the deadline of each call's context bounds its socket I/O
	// One retry, at once: it replaces a pooled connection that died (a
	// Redis restart) and fits in the call's timeout; more would only delay
	// the failure the caller falls back from.
	ro.MaxRetries = 1
	ro.MinRetryBackoff = -1
	ro.MaxRetryBackoff = -1
	ro.DialerRetries = 1
	// RESP2: no push notifications on the subscriber's connection, and no
	// maintenance-notification handshake on every new connection; nor
	// CLIENT SETINFO: a new connection costs HELLO (with the credentials)
	// and, for a database other than 0, SELECT.
	ro.Protocol = 2
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	ro.DisableIdentity = true
	// PoolSize is go-redis's default, 10 per GOMAXPROCS: calls are short,
	// and a Lambda function with one CPU gets 10.

	done, cancel := context.WithCancel(context.Background())
	r := &Redis{
		client:   redis.NewClient(ro),
		timeout:  opts.Timeout,
		entryTTL: millis(opts.EntryTTL),
		tombTTL:  millis(opts.TombstoneTTL),
		done:     done,
		cancel:   cancel,
	}
	r.setGeneration("") // unknown: the first call learns it
	if err := r.loadGeneration(ctx); refused(err) {
		_ = r.Close()
		return nil, &latch.Error{Code: latch.EINVALID, Op: "sharedcache: Redis at " + redacted, Err: err}
	}
	return r, nil
}

// refused reports whether err is Redis refusing this client (credentials,
// database, a foreign value in latch:gen) rather than being down or busy,
// which a retry may get past.
func refused(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	for _, busy := range []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "ERR max number of clients"} {
		if strings.HasPrefix(reply.Error(), busy) {
			return false
		}
	}
	return true
}

// parseURL checks rawURL and returns go-redis's options for it and the URL
// with its password hidden, for messages.
func parseURL(rawURL string) (*redis.Options, string, error) {
	const want = "want redis://[user:password@]host[:port][/db] or rediss://…"
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return nil, "", latch.Errorf(latch.EINVALID, "sharedcache: the Redis URL is not a URL (%s)", want)
	}
	// Neither the password nor the query (go-redis would take a password
	// there) is ever shown.
	shown := *u
	shown.RawQuery, shown.Fragment = "", ""
	redacted := shown.Redacted()
	bad := func(why string) (*redis.Options, string, error) {
		return nil, "", latch.Errorf(latch.EINVALID, "sharedcache: Redis URL %s: %s", redacted, why)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return bad("the scheme must be redis or rediss (" + want + ")")
	}
	if u.Hostname() == "" {
		return bad("no host (" + want + ")")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return bad("no query or fragment is allowed: the timeouts come from the configuration")
	}
	if db := u.Path; db != "" && db != "/" {
		if n, err := strconv.Atoi(db[1:]); err != nil || n < 0 {
			return bad("the path must be a database number")
		}
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		// Not reached after the checks above; go-redis's messages quote
		// only the path, but keep to ours.
		return bad("go-redis refuses it")
	}
	return ro, redacted, nil
}

func millis(d time.Duration) string {
	return strconv.FormatInt(max(d.Milliseconds(), 1), 10)
}

func (r *Redis) generation() string { return *r.gen.Load() }

func (r *Redis) setGeneration(g string) { r.gen.Store(&g) }

// loadGeneration reads the current generation into r.
func (r *Redis) loadGeneration(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	g, err := r.client.Get(ctx, genKey).Result()
	if errors.Is(err, redis.Nil) {
		g, err = "0", nil
	}
	if err != nil {
		return err
	}
	r.setGeneration(g)
	return nil
}

func unavailable(op string, err error) error {
	return latch.Wrap(latch.EUNAVAILABLE, "sharedcache: "+op, err)
}

var errBadReply = errors.New("unexpected reply from a script")

// run runs an entry script on key in the current generation: one round
// trip, or one more after a Reset this process had not heard of.
func (r *Redis) run(ctx context.Context, op string, s *redis.Script, key string, args ...any) ([]any, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	for range 3 {
		gen := r.generation()
		res, err := s.Run(ctx, r.client, []string{genKey, keyPrefix + gen + ":" + key}, append([]any{gen}, args...)...).Slice()
		if err != nil {
			return nil, unavailable(op, err)
		}
		if len(res) == 0 {
			return nil, latch.Wrap(latch.EINTERNAL, "sharedcache: "+op, errBadReply)
		}
		status, ok := res[0].(int64)
		if !ok {
			return nil, latch.Wrap(latch.EINTERNAL, "sharedcache: "+op, errBadReply)
		}
		if status != 0 {
			return res, nil
		}
		if len(res) != 2 {
			return nil, latch.Wrap(latch.EINTERNAL, "sharedcache: "+op, errBadReply)
		}
		g, ok := res[1].(string)
		if !ok {
			return nil, latch.Wrap(latch.EINTERNAL, "sharedcache: "+op, errBadReply)
		}
		r.setGeneration(g)
	}
	return nil, unavailable(op, errors.New("the generation keeps changing"))
}

// Get returns the live entry under key.
func (r *Redis) Get(ctx context.Context, key string) (Entry, bool, error) {
	res, err := r.run(ctx, "get", getScript, key)
	if err != nil {
		return Entry{}, false, err
	}
	if res[0].(int64) == 1 {
		return Entry{}, false, nil
	}
	if len(res) != 3 {
		return Entry{}, false, latch.Wrap(latch.EINTERNAL, "sharedcache: get", errBadReply)
	}
	vs, _ := res[1].(string)
	value, _ := res[2].(string)
	version, err := strconv.ParseUint(vs, 10, 64)
	if err != nil {
		return Entry{}, false, latch.Wrap(latch.EINTERNAL, "sharedcache: get", err)
	}
	return Entry{Value: []byte(value), Version: version}, true, nil
}

// Fill stores value at version under key as the package rules allow.
func (r *Redis) Fill(ctx context.Context, key string, version uint64, value []byte) (bool, error) {
	return r.FillFor(ctx, key, version, value, 0)
}

// FillFor is Fill with the entry's own lifetime (EntryTTL when ttl <= 0).
func (r *Redis) FillFor(ctx context.Context, key string, version uint64, value []byte, ttl time.Duration) (bool, error) {
	if err := checkFill(version); err != nil {
		return false, err
	}
	life := r.entryTTL
	if ttl > 0 {
		life = strconv.FormatInt(max(ttl.Milliseconds(), 1), 10)
	}
	res, err := r.run(ctx, "fill", fillScript, key, strconv.FormatUint(version, 10), value, life)
	if err != nil {
		return false, err
	}
	if len(res) != 2 {
		return false, latch.Wrap(latch.EINTERNAL, "sharedcache: fill", errBadReply)
	}
	return res[1] == int64(1), nil
}

// Invalidate leaves a tombstone at version unless key holds something at
// version or newer.
func (r *Redis) Invalidate(ctx context.Context, key string, version uint64) error {
	if err := checkInvalidate(version); err != nil {
		return err
	}
	_, err := r.run(ctx, "invalidate", invalidateScript, key, strconv.FormatUint(version, 10), r.tombTTL)
	return err
}

// Reset starts a new generation and tells every subscriber. The old
// generation's keys are left to expire.
func (r *Redis) Reset(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	gen, err := resetScript.Run(ctx, r.client, []string{genKey}, changesChannel, resetMessage).Int64()
	if err != nil {
		return unavailable("reset", err)
	}
	r.setGeneration(strconv.FormatInt(gen, 10))
	return nil
}

// Publish sends changes to every subscriber, in order.
func (r *Redis) Publish(ctx context.Context, changes []latch.Change) error {
	if len(changes) == 0 {
		return nil
	}
	msg, err := json.Marshal(changes)
	if err != nil {
		return latch.Wrap(latch.EINTERNAL, "sharedcache: publish", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.client.Publish(ctx, changesChannel, msg).Err(); err != nil {
		return unavailable("publish", err)
	}
	return nil
}

// Ping reports whether Redis answers within the timeout.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Client returns the cache's Redis client, for other state this process
// shares with the fleet on the same Redis (the brute-force limiter's
// counts): the same connections, credentials and socket bounds. The cache
// owns it (Close closes it); a caller bounds each call with Timeout, as the
// cache does, and uses keys outside the cache's (latch:gen, latch:<n>:…).
func (r *Redis) Client() *redis.Client { return r.client }

// Timeout is the bound of every call (Options.Timeout).
func (r *Redis) Timeout() time.Duration { return r.timeout }

// Close ends every subscription (closing its channel) and the client.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.subs.Wait()
	return r.client.Close()
}

// Subscribe returns the changes published from now on: when Redis answers,
// the subscription is in place before Subscribe returns; when it does not,
// the channel starts with a ChangeReset. Each subscription has its own
// connection and goroutine, which sends a ChangeReset when the connection
// is lost (once per outage), when it is back (what was published meanwhile
// is lost), when the subscriber falls behind, for a message it cannot read,
// and for every Reset.
func (r *Redis) Subscribe(ctx context.Context) <-chan latch.Change {
	f := feed.New(subscriberBuffer)
	ch := f.Subscribe(ctx)
	r.mu.Lock()
	if r.closed || ctx.Err() != nil {
		r.mu.Unlock()
		f.Close()
		return ch
	}
	r.subs.Add(1)
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(r.done, cancel)
	s := &subscription{r: r, feed: f}
	// A receive blocks in a socket read, which only closing the connection
	// interrupts.
	stopCloser := context.AfterFunc(ctx, s.close)
	ps, ok := s.start(ctx)
	go func() {
		defer r.subs.Done()
		defer f.Close()
		defer cancel()
		defer stopOnClose()
		defer stopCloser()
		if ps != nil {
			s.run(ctx, ps, ok)
		}
		s.close()
	}()
	return ch
}

type subscription struct {
	r    *Redis
	feed *feed.Feed

	mu   sync.Mutex
	ps   *redis.PubSub
	done bool
}

var resetChange = []latch.Change{{Kind: latch.ChangeReset}}

// open replaces the subscription's connection with a new one, which it
// dials and sends SUBSCRIBE on; a failure shows at the next receive, when
// go-redis dials again. It returns nil once the subscription is over.
func (s *subscription) open(ctx context.Context) *redis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	if s.ps != nil {
		_ = s.ps.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, s.r.timeout)
	defer cancel()
	s.ps = s.r.client.Subscribe(ctx, changesChannel)
	return s.ps
}

func (s *subscription) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.ps != nil {
		_ = s.ps.Close()
		s.ps = nil
	}
}

// start subscribes and waits for Redis to confirm, within the timeout. It
// reports whether Redis did; if not, the subscriber has been sent a reset.
func (s *subscription) start(ctx context.Context) (*redis.PubSub, bool) {
	ps := s.open(ctx)
	if ps == nil {
		return nil, false
	}
	msg, err := ps.ReceiveTimeout(ctx, s.r.timeout)
	if sub, ok := msg.(*redis.Subscription); err == nil && ok && sub.Kind == "subscribe" {
		_ = s.r.loadGeneration(ctx)
		return ps, true
	}
	s.feed.Publish(resetChange)
	return ps, false
}

// run receives until ctx is done. Reconnections show as a new
// confirmation of the subscription: go-redis resubscribes on the
// connection it dials after an error, and so does open.
func (s *subscription) run(ctx context.Context, ps *redis.PubSub, up bool) {
	down := !up     // a reset was sent for the current outage
	awaiting := !up // a reply is due: the confirmation, or a pong
	var backoff time.Duration
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthEvery)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			timeout := isTimeout(err)
			if timeout && !awaiting {
				awaiting = true
				if ps.Ping(ctx) == nil {
					continue
				}
			}
			if !down {
				down = true
				s.feed.Publish(resetChange)
			}
			if timeout {
				// Silent past a ping or a SUBSCRIBE: hung, or a peer gone
				// without a word. go-redis keeps a connection that timed
				// out, so replace it.
				if ps = s.open(ctx); ps == nil {
					return
				}
			}
			awaiting = true
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			if !sleep(ctx, backoff) {
				return
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			// Subscribed again, after the first time: what was published
			// in between is lost.
			awaiting, down, backoff = false, false, 0
			_ = s.r.loadGeneration(ctx)
			s.feed.Publish(resetChange)
		case *redis.Pong:
			awaiting = false
		case *redis.Message:
			awaiting = false
			s.deliver(ctx, m.Payload)
		}
	}
}

// deliver passes a message's changes on, after reloading the generation
// when one is a reset.
func (s *subscription) deliver(ctx context.Context, payload string) {
	var changes []latch.Change
	if err := json.Unmarshal([]byte(payload), &changes); err != nil {
		s.feed.Publish(resetChange) // a message lost all the same
		return
	}
	if slices.ContainsFunc(changes, func(c latch.Change) bool { return c.Kind == latch.ChangeReset }) {
		_ = s.r.loadGeneration(ctx)
	}
	s.feed.Publish(changes)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sleep waits d, or less when ctx is done; it reports whether ctx is not.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// RouteClientLogs sends the Redis client library's own log lines (one
// "failed to dial" per pooled connection during an outage, say) to log at
// debug level: the cache reports outages itself, counted and rate-limited
// (package cache). The library's logger is global, so this is for main.
func RouteClientLogs(log *slog.Logger) {
	redis.SetLogger(clientLogs{log})
}

type clientLogs struct{ log *slog.Logger }

func (l clientLogs) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}
