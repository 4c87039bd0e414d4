package ratelimit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"latch.dev/latch"
	"latch.dev/latch/internal/metrics"
)

// Client is what Redis needs of a go-redis client (*redis.Client has it).
type Client interface {
	redis.Scripter
	Del(ctx context.Context, keys ...string) *redis.IntCmd
}

// RedisOptions configure a Redis counter.
type RedisOptions struct {
	// Timeout bounds every call (default 50 ms, the shared cache's).
	Timeout time.Duration
	// Clock is the time every count is kept in (default the system clock).
	Clock latch.Clock
	// Log receives a warning, at most every 10 s, while Redis fails.
	Log *slog.Logger
	// Prefix is put before every key in Redis (default "latch:limit:").
	Prefix string
}

const (
	defaultTimeout  = 50 * time.Millisecond
	defaultPrefix   = "latch:limit:"
	failureLogEvery = 10 * time.Second
)

// Redis is a Counter on a Redis that the fleet shares: a failure on any
// server or Lambda sandbox counts for all. Each call is one round trip (one
// more after Redis lost its scripts, or when go-redis retries a connection
// that died), bounded by RedisOptions.Timeout.
//
// # Keys
//
// A key is stored as Prefix + base64url(SHA-256(key)), a hash {n:
// failures, l: last failure, u: locked until, i: the id of the last Fail
// call} (times in Unix milliseconds) with a TTL of ForgetAfter from its
// last failure: Redis forgets a key when Memory would, and holds no
// username or client address in clear. (An unkeyed hash of a guessable
// name can be found by trying candidates: it keeps the names out of KEYS,
// dumps and MONITOR, not from someone set on finding one.)
//
// # Clock
//
// Times are the caller's clock (RedisOptions.Clock), not Redis's TIME:
// the semantics are then exactly Memory's, on the same clock (tests move a
// fake one through a lock's 15 minutes), and the fallback counts on the
// clock the shared counts are on. The price is that the fleet's clocks
// must agree, which Latch already needs: a token one server issues expires
// by another's clock. A skew of s moves where a lock ends, seen from
// another server, by s; the key's TTL is Redis's own, and only bounds how
// long it is kept.
//
// # When Redis fails
//
// Every call that Redis does not answer within the timeout (down, hung,
// refusing) is answered by a Memory in this process: Fail counts there
// instead, Succeed forgets there too, and Wait answers the longer of the
// two locks, so that failures counted in the process while Redis was down
// lock their keys after it is back (even if it came back empty). What Redis
// answers is never overruled by a shorter answer: a key Redis says is
// locked is locked. Failures are logged at most every 10 s and counted in
// latch_ratelimit_redis_errors_total.
type Redis struct {
	client  Client
	timeout time.Duration
	clock   latch.Clock
	log     *slog.Logger
	prefix  string
	local   *Memory
	errors  metrics.CounterVec

	idPrefix string        // random, for callID
	calls    atomic.Uint64 // Fail calls so far, for callID

	mu      sync.Mutex
	lastLog time.Time
}

var _ Counter = (*Redis)(nil)

// NewRedis returns a Counter on client, which it does not close (the
// shared cache's: sharedcache.Redis.Client). It does not contact Redis.
func NewRedis(client Client, opts RedisOptions) *Redis {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.Clock == nil {
		opts.Clock = latch.SystemClock{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Prefix == "" {
		opts.Prefix = defaultPrefix
	}
	return &Redis{
		client: client, timeout: opts.Timeout, clock: opts.Clock, log: opts.Log, prefix: opts.Prefix,
		local: NewMemory(opts.Clock), idPrefix: rand.Text()[:16] + ".",
		errors: metrics.NewCounterVec("latch_ratelimit_redis_errors_total",
			"Brute-force limiter calls Redis did not answer (answered from this process's counts).", "op"),
	}
}

// RegisterMetrics adds the counter's metrics to the server's registry.
func (r *Redis) RegisterMetrics(reg *metrics.Registry) { reg.Register(r.errors) }

// waitScript (KEYS: the keys; ARGV[1]: now) answers the longest lock among
// the keys, in milliseconds.
var waitScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local longest = 0
for _, k in ipairs(KEYS) do
  local u = tonumber(redis.call('HGET', k, 'u'))
  if u and u - now > longest then longest = u - now end
end
return longest
`)

// failScript (KEYS: the keys; ARGV: now, free, ForgetAfter and MaxLock,
// in milliseconds, and the call's id) counts a failure of each key as
// Memory.Fail does, and sets the key's TTL to ForgetAfter. The id makes a
// call that go-redis sends again (its reply was lost, or late past the
// socket's deadline, after Redis ran it) count once: a key whose last
// failure came from this call is left alone.
var failScript = redis.NewScript(`
local now, free, forget, cap, id = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
for _, k in ipairs(KEYS) do
  local cur = redis.call('HMGET', k, 'n', 'l', 'i')
  if cur[3] ~= id then
    local n, last = tonumber(cur[1]), tonumber(cur[2])
    if not n or not last or now - last > forget then
      n = 0
      redis.call('HDEL', k, 'u')
    end
    n = n + 1
    redis.call('HSET', k, 'n', n, 'l', ARGV[1], 'i', id)
    if n > free then
      local lock = math.min(1000 * 2 ^ math.min(n - free - 1, 20), cap)
      redis.call('HSET', k, 'u', string.format('%d', now + lock))
    end
    redis.call('PEXPIRE', k, forget)
  end
end
return #KEYS
`)

// Wait returns the longest lock among keys.
func (r *Redis) Wait(ctx context.Context, keys ...string) time.Duration {
	local := r.local.Wait(ctx, keys...)
	if len(keys) == 0 {
		return local
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	ms, err := waitScript.Run(ctx, r.client, r.redisKeys(keys), r.millis()).Int64()
	if err != nil {
		r.failed("wait", err)
		return local
	}
	return max(time.Duration(ms)*time.Millisecond, local)
}

// Fail records a failure for each key.
func (r *Redis) Fail(ctx context.Context, free int, keys ...string) {
	if len(keys) == 0 {
		return
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	err := failScript.Run(ctx, r.client, r.redisKeys(keys), r.millis(), free,
		ForgetAfter.Milliseconds(), MaxLock.Milliseconds(), r.callID()).Err()
	if err != nil {
		r.failed("fail", err)
		r.local.Fail(ctx, free, keys...)
	}
}

// Succeed forgets the failures of key.
func (r *Redis) Succeed(ctx context.Context, key string) {
	r.local.Succeed(ctx, key)
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if err := r.client.Del(ctx, r.redisKey(key)).Err(); err != nil {
		r.failed("succeed", err)
	}
}

// bound is ctx without its cancellation (see Counter) and with the
// timeout.
func (r *Redis) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
}

// callID is unique to a Fail call, in the fleet: this process's random
// prefix and a sequence number.
func (r *Redis) callID() string {
	return r.idPrefix + strconv.FormatUint(r.calls.Add(1), 36)
}

func (r *Redis) millis() string { return strconv.FormatInt(r.clock.Now().UnixMilli(), 10) }

// redisKey is where key is kept in Redis.
func (r *Redis) redisKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return r.prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

func (r *Redis) redisKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = r.redisKey(k)
	}
	return out
}

func (r *Redis) failed(op string, err error) {
	r.errors.WithLabelValues(op).Inc()
	now := r.clock.Now()
	r.mu.Lock()
	logNow := r.lastLog.IsZero() || now.Sub(r.lastLog) >= failureLogEvery || now.Before(r.lastLog)
	if logNow {
		r.lastLog = now
	}
	r.mu.Unlock()
	if logNow {
		r.log.Warn("brute-force limiter: Redis unavailable; counting failures in this process", "op", op, "err", err.Error())
	}
}
