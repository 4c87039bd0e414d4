package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// RemoteConfig says how to reach a Latch server.
type RemoteConfig struct {
	// Endpoint is the server's base URL, e.g. https://auth.example.com.
	Endpoint string
	// ClientID and ClientSecret are a client with the latch/decide scope.
	// Tokens of other orgs than the client's are refused.
	ClientID, ClientSecret string
	// Audience, when set, is this API's audience: tokens whose aud does not
	// include it are refused (RFC 9068 §4).
	Audience string
	// HTTPClient defaults to one with a 5 s timeout.
	HTTPClient *http.Client
}

// Remote asks the decision API of a Latch server. Before the network call,
// a JWT access token's signature is checked against the server's JWKS
// (fetched once, refetched at most every 30 s for an unknown key id), so that
// forged tokens cost no round trip; the decision API then checks everything
// else (expiry, revocation, the ACL).
func Remote(cfg RemoteConfig) Decider {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	return &remote{cfg: cfg, base: strings.TrimSuffix(cfg.Endpoint, "/")}
}

type remote struct {
	cfg  RemoteConfig
	base string

	mu        sync.Mutex
	keys      jose.JSONWebKeySet
	fetchedAt time.Time
}

var algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

func (m *remote) Decide(ctx context.Context, bearer, method, path string) (Decision, error) {
	if strings.Count(bearer, ".") == 2 {
		ok, err := m.signatureValid(ctx, bearer)
		if err != nil {
			return Decision{}, err
		}
		if !ok {
			return Decision{Unauthorized: true, Reason: "invalid_token"}, nil
		}
	}
	body, _ := json.Marshal(map[string]string{"token": bearer, "method": method, "path": path, "audience": m.cfg.Audience})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.base+"/v1/decisions", bytes.NewReader(body))
	if err != nil {
		return Decision{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(m.cfg.ClientID), url.QueryEscape(m.cfg.ClientSecret))
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return Decision{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Decision{}, fmt.Errorf("latch decision API: %s", resp.Status)
	}
	var out struct {
		Allow    *bool  `json:"allow"`
		Reason   string `json:"reason"`
		Sub      string `json:"sub"`
		Org      string `json:"org_id"`
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || out.Allow == nil {
		return Decision{}, fmt.Errorf("latch decision API: malformed answer")
	}
	return Decision{
		Allow: *out.Allow, Reason: out.Reason, Sub: out.Sub, Org: out.Org, ClientID: out.ClientID,
		Scopes: strings.Fields(out.Scope), Unauthorized: out.Reason == "invalid_token",
	}, nil
}

// signatureValid checks a JWS against the JWKS. A key id it does not know
// refetches the JWKS (keys rotate), at most every 30 s.
func (m *remote) signatureValid(ctx context.Context, raw string) (bool, error) {
	jws, err := jose.ParseSignedCompact(raw, algorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return false, nil
	}
	kid := jws.Signatures[0].Header.KeyID
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := m.keys.Key(kid)
	if len(keys) == 0 && time.Since(m.fetchedAt) > 30*time.Second {
		if err := m.fetchKeys(ctx); err != nil {
			return false, err
		}
		keys = m.keys.Key(kid)
	}
	for _, k := range keys {
		if k.Algorithm != jws.Signatures[0].Header.Algorithm {
			continue // a key is bound to one algorithm
		}
		if _, err := jws.Verify(k.Key); err == nil {
			return true, nil
		}
	}
	return false, nil
}

func (m *remote) fetchKeys(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/.well-known/jwks.json", nil)
	if err != nil {
		return err
	}
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("latch JWKS: %s", resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("latch JWKS: %w", err)
	}
	m.keys, m.fetchedAt = set, time.Now()
	return nil
}
