package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// session is one signed-in browser. It stays on the server; the browser
// holds only its random id, so the access token never reaches the browser.
type session struct {
	Sub, Org, Username string
	AccessToken        string
	IDToken            string // the id_token_hint of logout
	CSRF               string // the hidden field of this session's forms
	Expires            time.Time
}

// pendingLogin is one authorization request in flight, kept until its
// callback: it binds the callback to the browser that started the login.
type pendingLogin struct {
	State, Nonce, Verifier string
	Expires                time.Time
}

const (
	sessionTTL = 12 * time.Hour
	loginTTL   = 10 * time.Minute
)

// sessions keeps sessions and pending logins in memory: restarting the app
// signs everyone out of it (not out of Latch, whose own session then signs
// them in again without a password).
type sessions struct {
	mu      sync.Mutex
	active  map[string]*session
	pending map[string]*pendingLogin
}

func newSessions() *sessions {
	return &sessions{active: map[string]*session{}, pending: map[string]*pendingLogin{}}
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(sess session) string {
	id := randomToken()
	sess.CSRF = randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(time.Now())
	s.active[id] = &sess
	return id
}

// get returns a copy of the session id, if it exists and has not expired.
func (s *sessions) get(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.active[id]
	if !ok || time.Now().After(sess.Expires) {
		return session{}, false
	}
	return *sess, true
}

func (s *sessions) end(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.active[id]
	delete(s.active, id)
	if !ok {
		return session{}, false
	}
	return *sess, true
}

// maxPending bounds the pending logins, which anyone can start.
const maxPending = 10000

// startLogin keeps p and returns its id, or "" when too many logins are
// pending.
func (s *sessions) startLogin(p pendingLogin) string {
	id := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) >= maxPending {
		s.prune(time.Now())
		if len(s.pending) >= maxPending {
			return ""
		}
	}
	s.pending[id] = &p
	return id
}

// takeLogin returns and forgets the pending login id: a callback is
// accepted once.
func (s *sessions) takeLogin(id string) (pendingLogin, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[id]
	delete(s.pending, id)
	if !ok || time.Now().After(p.Expires) {
		return pendingLogin{}, false
	}
	return *p, true
}

func (s *sessions) prune(now time.Time) {
	for id, sess := range s.active {
		if now.After(sess.Expires) {
			delete(s.active, id)
		}
	}
	for id, p := range s.pending {
		if now.After(p.Expires) {
			delete(s.pending, id)
		}
	}
}

// equalSecret compares two secrets in constant time; empty never matches.
func equalSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
