package oauth

import (
	"hash/maphash"
	"sync"
	"time"

	"latch.dev/latch/internal/token"
)

// verifiedJWTs remembers access tokens whose signature and claims were
// verified, keyed by the token's SHA-256 digest, until they expire. A hit
// saves the signature check only: revocation (jti, family, subject) is still
// checked on every use. Bounded: a full shard forgets an arbitrary entry.
type verifiedJWTs struct {
	seed   maphash.Seed
	shards [16]verifiedShard
}

type verifiedShard struct {
	mu      sync.RWMutex
	entries map[string]token.AccessClaims
}

const maxVerifiedPerShard = 4096

func newVerifiedJWTs() *verifiedJWTs {
	v := &verifiedJWTs{seed: maphash.MakeSeed()}
	for i := range v.shards {
		v.shards[i].entries = map[string]token.AccessClaims{}
	}
	return v
}

func (v *verifiedJWTs) shard(digest string) *verifiedShard {
	return &v.shards[maphash.String(v.seed, digest)%uint64(len(v.shards))]
}

func (v *verifiedJWTs) get(digest string, now time.Time) (token.AccessClaims, bool) {
	sh := v.shard(digest)
	sh.mu.RLock()
	c, ok := sh.entries[digest]
	sh.mu.RUnlock()
	if !ok || !now.Before(c.ExpiresAt) {
		return token.AccessClaims{}, false
	}
	return c, true
}

func (v *verifiedJWTs) put(digest string, c token.AccessClaims) {
	sh := v.shard(digest)
	sh.mu.Lock()
	if len(sh.entries) >= maxVerifiedPerShard {
		for k := range sh.entries {
			delete(sh.entries, k)
			break
		}
	}
	sh.entries[digest] = c
	sh.mu.Unlock()
}
